"""Face detection: MediaPipe Face Landmarker (Tasks API) -> ``Detection`` per face.

Photos go through IMAGE mode with retries that recover faces the detector misses on the first try
(a face filling the frame: pad; a small face in a large image: look at overlapping crops). VIDEO mode
is a plain tracking call per frame. Pixel coordinates put the centre of the top-left pixel at (0, 0).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import AssetMissing, NoFace
from .formats.image import read_photo, to_rgb

MAX_SIDE = 1920  # larger images are detected downscaled: the landmark net sees a 256 px face crop anyway
PAD = 0.3  # border added (fraction of the longer side) when a face fills the frame
REFRAME = 2.5  # window side / face size for the second look at a face found in a crop
CROP_LEVELS = (1.0, 0.5, 0.25)  # crop windows (x the shorter side): BlazeFace misses faces < ~1/4 of a frame
MIN_FACE = 90  # px: the smallest face (box side) ``every_face`` looks for, ~40 px between the eye corners
MIN_WINDOW = 4 * MIN_FACE  # finest crop window: such a face is a quarter of it, which BlazeFace finds


@dataclass
class Detection:
    """One face found by the Face Landmarker.

    landmarks: float32 [478, 3] pixel x, y and relative depth z (pixels, smaller = nearer; MediaPipe's
        scale), points 468..477 are the irises.
    blendshapes: ARKit name -> score in [0, 1] (MediaPipe gives 51 of ``face3d.names.ARKIT_NAMES``: no
        tongueOut).
    transform: float32 [4, 4] MediaPipe's facial transformation matrix (canonical face, cm -> its camera
        space) for the image (or crop) the face was found in.
    image_size: (width, height) of the whole image in pixels.
    """

    landmarks: np.ndarray
    blendshapes: dict[str, float]
    transform: np.ndarray
    image_size: tuple[int, int]

    @property
    def box(self) -> np.ndarray:
        """float32 [4] (x0, y0, x1, y1) bounding box of the 468 mesh landmarks, pixels."""
        xy = self.landmarks[:468, :2]
        return np.concatenate([xy.min(0), xy.max(0)])

    def blendshape_vector(self) -> np.ndarray:
        """float32 [52] scores in ``ARKIT_NAMES`` order (missing names are 0)."""
        from .names import ARKIT_NAMES

        return np.array([self.blendshapes.get(n, 0.0) for n in ARKIT_NAMES], np.float32)


def load_image(image: str | os.PathLike | np.ndarray | Image.Image) -> np.ndarray:
    """Any path, PIL image or array -> uint8 [H, W, 3] RGB, upright (EXIF orientation applied).

    Grayscale, alpha, 16-bit and float ([0, 1]) inputs are converted; photos over
    ``formats.image.MAX_PIXELS`` come back reduced. Raises BadInput naming the file.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_photo(image)[0]
    return to_rgb(image)


@contextlib.contextmanager
def _quiet_native_logs():
    """MediaPipe's C++ core logs set-up chatter straight to file descriptor 2 (no option turns it off):
    point fd 2 at /dev/null while it runs, so that users see only face3d's own messages.

    fd 2 is process-wide: threads share one redirection (counted), restored when the last one leaves."""
    global _QUIET_DEPTH, _SAVED_FD
    with _QUIET_LOCK:
        if _QUIET_DEPTH == 0:
            sys.stderr.flush()
            _SAVED_FD = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _QUIET_DEPTH += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET_DEPTH -= 1
            if _QUIET_DEPTH == 0:
                os.dup2(_SAVED_FD, 2)
                os.close(_SAVED_FD)


_QUIET_LOCK = threading.Lock()
_QUIET_DEPTH = 0
_SAVED_FD = -1


class Detector:
    """MediaPipe Face Landmarker, opened once and closed by ``close()`` or a ``with`` block.

    mode: "image" (photos; retries with padding and crops) or "video" (tracking; call ``detect`` with
    increasing ``timestamp_ms``). ``model_path`` defaults to the installed ``face_landmarker.task``.
    """

    def __init__(self, mode: str = "image", max_faces: int = 4, model_path: str | os.PathLike | None = None):
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', not {mode!r}")
        from mediapipe.tasks.python import BaseOptions, vision

        if model_path is None:
            from .assets import landmarker_path

            model_path = landmarker_path()
        running = vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=running,
            num_faces=max_faces,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self.mode = mode
        self._landmarker = None
        try:
            with _quiet_native_logs():
                self._landmarker = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as e:  # a truncated or foreign .task file
            from .assets import REINSTALL_HINT

            raise AssetMissing(f"{model_path}: the face landmarker cannot be loaded ({type(e).__name__}); "
                               f"{REINSTALL_HINT}") from None

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def detect(self, image, timestamp_ms: int | None = None, every_face: bool = False) -> list[Detection]:
        """All faces in ``image`` (path, PIL image or array), largest first; [] when there is none.
        ``every_face`` (image mode): also look for small faces beside the ones found, in crops of the image
        area the first pass left uncovered, down to faces ``MIN_FACE`` px wide (group photos)."""
        rgb = load_image(image)
        h, w = rgb.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        small = rgb if scale == 1.0 else np.asarray(Image.fromarray(rgb).resize(
            (round(w * scale), round(h * scale)), Image.Resampling.LANCZOS))
        if self.mode == "video":
            faces = self._run(small, timestamp_ms if timestamp_ms is not None else 0)
        else:
            faces = self._run(small) or self._run_padded(small)
        faces = [_rescale(d, 1.0 / scale, (w, h)) for d in faces]
        if self.mode == "image" and every_face:
            faces = self._run_every_scale(rgb, faces)
        elif not faces and self.mode == "image":
            faces = self._run_crops(rgb)
        return sorted(faces, key=lambda d: -_area(d.box))

    def _run(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Detection]:
        import mediapipe as mp

        img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        with _quiet_native_logs():
            if timestamp_ms is None:
                res = self._landmarker.detect(img)
            else:
                res = self._landmarker.detect_for_video(img, int(timestamp_ms))
        h, w = rgb.shape[:2]
        out = []
        for i, lms in enumerate(res.face_landmarks):
            pts = np.array([[p.x * w - 0.5, p.y * h - 0.5, p.z * w] for p in lms], np.float32)
            shapes = {c.category_name: float(c.score) for c in res.face_blendshapes[i]} if res.face_blendshapes else {}
            shapes.pop("_neutral", None)
            m = np.asarray(res.facial_transformation_matrixes[i], np.float32) if res.facial_transformation_matrixes \
                else np.eye(4, dtype=np.float32)
            out.append(Detection(pts, shapes, m, (w, h)))
        return out

    def _run_padded(self, rgb: np.ndarray) -> list[Detection]:
        """A face that fills the frame: detect it with a grey border around the image."""
        h, w = rgb.shape[:2]
        p = int(PAD * max(h, w))
        padded = np.pad(rgb, ((p, p), (p, p), (0, 0)), constant_values=128)  # plain grey: edge copies fail
        return [_shift(d, -p, -p, (w, h)) for d in self._run(padded)]

    def _run_crops(self, rgb: np.ndarray) -> list[Detection]:
        """A small face (or a very wide photo): detect in overlapping square windows of the full-resolution
        image, larger windows first; stop at the first size that finds faces."""
        h, w = rgb.shape[:2]
        found: list[Detection] = []
        for frac in CROP_LEVELS:
            for x0, y0, x1, y1 in _crops(w, h, frac):
                found += [_shift(d, x0, y0, (w, h)) for d in self._run(rgb[y0:y1, x0:x1])]
            if found:
                break
        return [self._reframe(rgb, d) for d in _dedupe(found)]

    def _run_every_scale(self, rgb: np.ndarray, faces: list[Detection]) -> list[Detection]:
        """``faces`` plus the faces in windows of ever smaller size (halving down to ``MIN_WINDOW``) over the
        parts of the image no face found so far covers; each new face is looked at again in its own window."""
        h, w = rgb.shape[:2]
        found = list(faces)
        side = min(w, h) // 2
        while side >= MIN_WINDOW * 0.9:
            covered = _coverage(found, w, h)
            for x0, y0, x1, y1 in _crops(w, h, side / min(w, h)):
                if (~covered[y0 // 8:-(-y1 // 8), x0 // 8:-(-x1 // 8)]).sum() * 64 < MIN_FACE ** 2:
                    continue  # no room for another face here
                new = [_shift(d, x0, y0, (w, h)) for d in self._run(rgb[y0:y1, x0:x1])]
                found += [d for d in new if all(_iou(d.box, f.box) <= 0.3 for f in found)]
            side //= 2
        new = [self._reframe(rgb, d) for d in found[len(faces):]]
        return _dedupe(faces + new)

    def detect_in_box(self, image, box) -> Detection | None:
        """The face in ``box`` (x0, y0, x1, y1 pixels of ``image``): the detection that overlaps it most, or
        else one found in a window around it; None when there is none (image mode)."""
        rgb = load_image(image)
        box = np.asarray(box, np.float32)
        faces = self.detect(rgb)
        face = max(faces, key=lambda d: _iou(d.box, box), default=None)
        if face is None or _iou(face.box, box) < 0.3:
            face = self._reframe(rgb, box)
        return face if face is not None and _iou(face.box, box) >= 0.2 else None

    def _reframe(self, rgb: np.ndarray, face: Detection | np.ndarray) -> Detection | None:
        """Detect again in a square window centred on ``face`` (a detection or a box), REFRAME x its size
        (grey outside the photo): the framing MediaPipe's landmark model works best with, whatever window
        first found the face. A detection comes back unchanged when the second look finds nothing."""
        h, w = rgb.shape[:2]
        box = face.box if isinstance(face, Detection) else face
        x0, y0, x1, y1 = box
        half = REFRAME * max(x1 - x0, y1 - y0) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = int(cx - half), int(cy - half)
        side = max(int(2 * half), 2)
        pad = max(0, -left, -top, left + side - w, top + side - h)
        window = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), constant_values=128)[
            top + pad:top + pad + side, left + pad:left + pad + side]
        again = [_shift(d, left, top, (w, h)) for d in self._run(window)]
        return max(again, key=lambda d: _iou(d.box, box), default=face if isinstance(face, Detection) else None)


def detect(image, max_faces: int = 4) -> list[Detection]:
    """Faces in one photo (path, PIL image or array), largest first. Raises NoFace when there is none.

    Opens a detector for this call only; for many images use ``Detector`` in a ``with`` block.
    """
    with Detector("image", max_faces) as det:
        faces = det.detect(image)
    if not faces:
        name = f"{image}" if isinstance(image, (str, os.PathLike)) else "the image"
        raise NoFace(f"{name}: no face found")
    return faces


def _area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def _rescale(d: Detection, s: float, size: tuple[int, int]) -> Detection:
    lm = d.landmarks.copy()
    lm[:, :2] = (lm[:, :2] + 0.5) * s - 0.5
    lm[:, 2] *= s
    return Detection(lm, d.blendshapes, d.transform, size)


def _shift(d: Detection, dx: float, dy: float, size: tuple[int, int]) -> Detection:
    lm = d.landmarks.copy()
    lm[:, 0] += dx
    lm[:, 1] += dy
    return Detection(lm, d.blendshapes, d.transform, size)


def _crops(w: int, h: int, frac: float) -> list[tuple[int, int, int, int]]:
    """Square windows of side ``frac`` * the shorter image side, overlapping by half, covering the image
    (none when one window would be the whole image: that was tried first)."""
    side = max(int(frac * min(w, h)), 64)
    if side >= max(w, h):
        return []
    cw, ch = min(side, w), min(side, h)
    xs = np.linspace(0, w - cw, int(np.ceil(2 * (w - cw) / cw)) + 1).astype(int)
    ys = np.linspace(0, h - ch, int(np.ceil(2 * (h - ch) / ch)) + 1).astype(int)
    return [(x, y, x + cw, y + ch) for y in ys for x in xs]


def _coverage(faces: list[Detection], w: int, h: int) -> np.ndarray:
    """bool [ceil(h/8), ceil(w/8)]: 8-px cells inside a face's box (grown by a quarter: hair, chin)."""
    cells = np.zeros((-(-h // 8), -(-w // 8)), bool)
    for d in faces:
        x0, y0, x1, y1 = d.box
        gx, gy = (x1 - x0) / 8, (y1 - y0) / 8
        cells[max(int((y0 - gy) // 8), 0):int((y1 + gy) // 8) + 1, max(int((x0 - gx) // 8), 0):int((x1 + gx) // 8) + 1] = True
    return cells


def _dedupe(faces: list[Detection]) -> list[Detection]:
    """Drop detections whose box overlaps an earlier, larger one (IoU > 0.3): crops overlap."""
    keep: list[Detection] = []
    for d in sorted(faces, key=lambda d: -_area(d.box)):
        if all(_iou(d.box, k.box) <= 0.3 for k in keep):
            keep.append(d)
    return keep


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (_area(a) + _area(b) - inter + 1e-9)
