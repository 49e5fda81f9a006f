"""Photos in: any image PIL reads -> uint8 [H, W, 3] RGB, upright, in bounded time and memory.

Size is checked from the header before decoding. Photos over ``MAX_PIXELS`` are decoded reduced (JPEG
through the decoder's own DCT scaling, so a 100-Mpx JPEG never exists in memory at full size; other
formats up to ``MAX_DECODE_PIXELS`` are decoded and then reduced); ``read_photo`` returns the factor, and
the fit maps its results back to the original pixel grid. Larger non-JPEG files are refused in one line.
"""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadInput

MAX_PIXELS = 16_000_000  # working resolution limit (16 Mpx): larger photos are reduced while decoding
MAX_DECODE_PIXELS = 120_000_000  # non-JPEG images beyond this are refused (their decoders need it all)
MAX_ASPECT = 20  # a 40000x8 strip is no photo of a face
MIN_SIDE = 8


def _open(path: Path) -> Image.Image:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise BadInput(f"{path}: is a folder, not an image")
    if not stat.S_ISREG(mode):
        raise BadInput(f"{path}: not a regular file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError:
        raise BadInput(f"{path}: image too large to decode") from None
    except PermissionError:
        raise BadInput(f"{path}: permission denied") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadInput(f"{path}: not a readable image ({type(e).__name__})") from None


def read_photo(path: str | os.PathLike) -> tuple[np.ndarray, tuple[int, int]]:
    """``(rgb uint8 [h, w, 3], (W, H))``: the photo upright (EXIF orientation applied) and its original
    upright size; ``rgb`` is reduced when the photo is over ``MAX_PIXELS`` (else w, h == W, H). Raises
    BadInput naming the file for anything that is not a readable, plausible photo."""
    path = Path(path)
    im = _open(path)
    try:
        w, h = im.size
        if min(w, h) < MIN_SIDE:
            raise BadInput(f"{path}: {w}x{h} px is too small to hold a face")
        if max(w, h) > MAX_ASPECT * min(w, h):
            raise BadInput(f"{path}: {w}x{h} px is not a photo (aspect ratio over {MAX_ASPECT}:1)")
        if w * h > MAX_PIXELS:
            if im.format == "JPEG":
                im.draft("RGB", (int(w * (MAX_PIXELS / (w * h)) ** 0.5), int(h * (MAX_PIXELS / (w * h)) ** 0.5)))
            elif w * h > MAX_DECODE_PIXELS:
                raise BadInput(f"{path}: {w}x{h} px is over the {MAX_DECODE_PIXELS // 1_000_000} Mpx limit "
                               "for non-JPEG images; save it smaller or as JPEG")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's EXIF and palette warnings: the photo still loads
            im.load()
            pil = ImageOps.exif_transpose(im)
        if pil.width * pil.height > MAX_PIXELS:
            factor = int(np.ceil((pil.width * pil.height / MAX_PIXELS) ** 0.5))
            pil = pil.reduce(factor)
        rgb = to_rgb(pil)
        swapped = (rgb.shape[1] > rgb.shape[0]) != (w > h) and w != h  # EXIF rotated it a quarter turn
        return rgb, ((h, w) if swapped else (w, h))
    except BadInput:
        raise
    except MemoryError:
        raise BadInput(f"{path}: image too large for the available memory") from None
    except Image.DecompressionBombError:
        raise BadInput(f"{path}: image too large to decode") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, ZeroDivisionError) as e:
        raise BadInput(f"{path}: not a readable image ({type(e).__name__})") from None
    finally:
        im.close()


def to_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image or array -> uint8 [H, W, 3] RGB. Grayscale, alpha, 16-bit and float ([0, 1]) inputs
    are converted; NaN becomes 0. Raises BadInput for what is not an image."""
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            image = np.asarray(image, np.float32) / (65535.0 if image.mode != "F" else 1.0)
        else:
            image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < MIN_SIDE or arr.shape[1] < MIN_SIDE:
        raise BadInput(f"image array of shape {arr.shape} is not an image (expected [H, W, 1|3|4], sides >= {MIN_SIDE})")
    if arr.dtype.kind not in "uifb":
        raise BadInput(f"image array of dtype {arr.dtype} is not an image")
    arr = arr[..., :3] if arr.shape[2] >= 3 else np.repeat(arr, 3, axis=2)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float32) / 257.0).round()
    elif arr.dtype.kind == "f":
        arr = np.nan_to_num(np.clip(arr, 0.0, 1.0) * 255.0)
    return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8))
