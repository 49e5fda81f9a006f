"""The viewer's on-screen panel (time, fps, strongest blendshapes, toggles, key list) and time bar, drawn
with PIL into RGBA images that the window blends over the frame."""
from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=1024)
def _glyphs(text: str, size: int):
    """``(mask, (dx, dy))``: the L-mode coverage of ``text`` and its offset from the pen position, or None
    for blank text. Rasterising text is most of a panel's cost (~0.5 ms a line); most lines recur."""
    from PIL import Image

    mask, offset = _font(size).getmask2(text, mode="L", anchor="la")
    if not mask.size[0] or not mask.size[1]:
        return None
    return Image.frombytes("L", mask.size, bytes(mask)), offset


def _text(img, xy, text: str, fill, size: int = 13) -> None:
    """``ImageDraw.text(xy, text, fill)`` on RGBA ``img``, the same pixels, from cached glyph masks."""
    from PIL import Image

    g = _glyphs(text, size)
    if g is not None:
        mask, (dx, dy) = g
        img.paste(Image.new("RGBA", mask.size, fill), (int(xy[0]) + dx, int(xy[1]) + dy), mask)


def panel_image(scene, clock, t: float, fps: float, weights, state, help_text: str | None) -> np.ndarray:
    """uint8 [H,W,4] RGBA panel: frame/time, fps, the five strongest weights as bars, toggles, keys."""
    from PIL import Image, ImageDraw

    lines = []
    if scene.animated:
        frame = int(round(t * scene.fps))
        n = int(round(scene.duration * scene.fps)) + 1
        state_word = "playing" if clock.playing else "paused"
        lines.append(f"frame {frame}/{n - 1}   {t:5.2f} / {scene.duration:.2f} s")
        lines.append(f"{state_word}  {clock.speed:g}x  loop {'on' if clock.loop else 'off'}")
    lines.append(f"{fps:4.0f} fps   {scene.path.name}")
    toggles = [name for name, on in (("texture", state.textured), ("wire", state.wireframe), ("normals", state.normals),
                                     ("landmarks", state.landmarks), ("photo", state.photo)) if on]
    lines.append("on: " + (", ".join(toggles) or "-") + "    H: keys")
    top = scene.strongest(weights, 5)
    helps = list(help_text or [])
    width = 250 if not helps else 430
    height = 8 + 16 * len(lines) + 15 * len(top) + (16 * len(helps) + 6 if helps else 0) + 6
    img = Image.new("RGBA", (width, height), (12, 14, 18, 190))
    d = ImageDraw.Draw(img)
    y = 5
    for line in lines:
        _text(img, (8, y), line, (235, 235, 235, 255))
        y += 16
    for name, w in top:
        d.rectangle([120, y + 3, 120 + int(120 * min(max(w, 0), 1)), y + 12], fill=(110, 180, 255, 255))
        _text(img, (8, y), f"{name[:15]:15s}", (200, 210, 220, 255))
        _text(img, (245 - 34, y) if not helps else (250, y), f"{w:.2f}", (235, 235, 235, 255))
        y += 15
    if helps:
        y += 6
        for key, what in help_text:
            _text(img, (8, y), key, (220, 220, 170, 255))
            _text(img, (200, y), what, (220, 220, 220, 255))
            y += 16
    return np.asarray(img)


def timeline_image(width: int, fraction: float) -> np.ndarray:
    """uint8 [10,W,4] RGBA time bar, filled up to ``fraction`` of ``width``."""
    bar = np.zeros((10, width, 4), np.uint8)
    bar[...] = (20, 22, 26, 170)
    bar[2:8, : int(round(min(max(fraction, 0.0), 1.0) * width))] = (110, 180, 255, 255)
    return bar
