"""Draw a fitted face over its photo: the shaded face mesh, semi-transparent, and the 68 fitted landmarks.

A small painter's-algorithm renderer (back-faces culled, far triangles first) on PIL: enough to judge a fit
at a glance, with no GPU or GL context.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MESH_RGB = np.array([120.0, 180.0, 255.0])  # light blue: stands out against every skin tone
ALPHA = 0.45


def render_overlay(image: np.ndarray, vertices: np.ndarray, triangles: np.ndarray, pixels: np.ndarray,
                   landmarks: np.ndarray | None = None, colour=MESH_RGB, alpha: float = ALPHA) -> Image.Image:
    """The photo with the mesh drawn over it.

    image: uint8 [H, W, 3]; vertices: [V, 3] camera space (cm, camera looking down -z); triangles: [F, 3]
    (the part of the mesh to draw); pixels: [V, 2] the vertices projected into the image; landmarks:
    [K, 2] pixels, drawn as dots; colour: RGB of a fully lit surface; alpha: opacity of the mesh. Returns
    an RGB PIL image of the photo's size.
    """
    tri = vertices[triangles]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    view = -tri.mean(1)
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    facing = (normal * view).sum(1)  # cosine towards the camera (the light sits at the camera)
    order = np.argsort(tri[:, :, 2].mean(1))  # far (most negative z) first
    order = order[facing[order] > 0]
    shade = (0.25 + 0.75 * facing[order])[:, None] * np.asarray(colour, np.float64)

    h, w = image.shape[:2]
    ss = 2 if max(h, w) < 1000 else 1  # supersample small photos so that edges stay smooth
    layer = Image.new("RGB", (w * ss, h * ss))
    mask = Image.new("L", (w * ss, h * ss))
    draw, draw_mask = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    corners = (pixels[triangles[order]] + 0.5) * ss
    for poly, fill in zip(corners, shade.astype(np.uint8)):
        pts = [tuple(p) for p in poly]
        draw.polygon(pts, fill=tuple(int(c) for c in fill))
        draw_mask.polygon(pts, fill=255)
    layer = np.asarray(layer.resize((w, h), Image.Resampling.BOX), np.float32)
    cover = np.asarray(mask.resize((w, h), Image.Resampling.BOX), np.float32)[..., None] / 255.0 * alpha
    out = Image.fromarray((image * (1 - cover) + layer * cover).round().astype(np.uint8))

    if landmarks is not None:
        d = ImageDraw.Draw(out)
        span = landmarks.max(0) - landmarks.min(0)
        r = max(1.2, 0.008 * float(np.sqrt(span[0] * span[1])))  # dots scale with the face, not the photo
        for x, y in landmarks + 0.5:  # PIL puts pixel centres at +0.5
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 60, 40))
    return out
