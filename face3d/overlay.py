"""Draw a fitted face over its photo: the shaded face mesh, semi-transparent, and the 68 fitted landmarks.

Drawn with the OpenGL renderer (``face3d.render``): a real depth test, per-pixel normals lit from the
camera (SH diffuse plus a small highlight), analytically anti-aliased silhouettes, anti-aliased dots. Only
the box around the projected mesh is rendered, so the cost follows the face, not the photo.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .camera import Camera, project
from .render import (RenderContext, antialias, edge_topology, rasterize, sh_directional, sh_irradiance, specular,
                     to_clip, vertex_normals, view_directions)
from .render.interpolate import interpolate_covered, scatter

MESH_RGB = np.array([120.0, 180.0, 255.0])  # light blue: stands out against every skin tone
ALPHA = 0.45
DOT_RGB = np.array([255.0, 60.0, 40.0])
_LIGHT = (0.0, 0.35, 1.0)  # camera space: from the camera, a little above (a flash's look)


def render_overlay(ctx: RenderContext | None, image: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                   camera: Camera, landmarks: np.ndarray | None = None, colour=MESH_RGB,
                   alpha: float = ALPHA) -> Image.Image:
    """The photo with the mesh drawn over it.

    ctx: a ``RenderContext`` to draw with, or None to make one for this call (and release it: ~0.1-1 s;
    pass one when drawing many). image: uint8 ``[H, W, 3]``; vertices: ``[V, 3]`` camera space (cm,
    camera looking down -z); triangles: int ``[F, 3]`` (the part of the mesh to draw); camera: the
    photo's pinhole camera (``camera.width x camera.height`` = the image size); landmarks: ``[K, 2]``
    pixels (x right, y down, centres at integers), drawn as dots; colour: RGB of a fully lit surface;
    alpha: opacity of the mesh. Returns an RGB PIL image of the photo's size.
    """
    image = np.asarray(image)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8, "image must be uint8 [H,W,3]"
    h, w = image.shape[:2]
    assert (camera.width, camera.height) == (w, h), "camera and image sizes differ"
    out = image.astype(np.float32)
    verts = torch.as_tensor(np.asarray(vertices, np.float32))
    tri = torch.as_tensor(np.asarray(triangles, np.int64))
    seen = torch.zeros(len(verts), dtype=torch.bool)
    seen[tri.reshape(-1)] = True
    used = torch.nonzero(seen).squeeze(1)  # the vertices the triangles use, ascending (as tri.unique())
    front = used[verts[used, 2] < -1e-3]
    if len(front):
        px = project(verts[front], camera)
        x0, y0 = (px.min(0).values.floor().long() - 2).clamp_min(0).tolist()
        x1, y1 = (px.max(0).values.ceil().long() + 3).tolist()
        x1, y1 = min(x1, w), min(y1, h)
        if x1 > x0 and y1 > y0:
            own = ctx is None
            ctx = RenderContext() if own else ctx
            try:
                rgb, cover = _shade(ctx, verts, tri, camera, (x0, y0, x1, y1), np.asarray(colour, np.float32))
            finally:
                if own:
                    ctx.release()
            cover = cover * alpha
            patch = out[y0:y1, x0:x1]
            out[y0:y1, x0:x1] = patch * (1 - cover) + rgb * alpha
    if landmarks is not None and len(landmarks):
        _dots(out, np.asarray(landmarks, np.float64))
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))


def _shade(ctx: RenderContext, verts: torch.Tensor, tri: torch.Tensor, camera: Camera,
           box: tuple[int, int, int, int], colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Render the mesh in the pixel ``box (x0, y0, x1, y1)``: premultiplied RGB ``[h, w, 3]`` (0-255) and
    coverage ``[h, w, 1]`` in [0, 1]."""
    x0, y0, x1, y1 = box
    sub = Camera(camera.focal, camera.cx - x0, camera.cy - y0, x1 - x0, y1 - y0)
    v = verts[None]
    with torch.no_grad():
        pos = to_clip(v, sub)
        tri32 = tri.to(torch.int32)
        rast = rasterize(ctx, pos, tri32, (sub.height, sub.width))
        # Shaded on the covered pixels only (as one row of N pixels), then placed into the box.
        covered, _, normals = interpolate_covered(vertex_normals(v, tri), rast, tri32)
        normals = normals.T.contiguous()[None, None]                            # [1,1,N,3]
        normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # as pixel_normals
        view = view_directions(interpolate_covered(v, rast, tri32)[2].T.contiguous()[None, None])
        facing = (normals * view).sum(-1, keepdim=True)
        # Seen from behind (inside a lip or an eyelid), a surface is lit as its front and drawn darker.
        normals = torch.where(facing < 0, -normals, normals)
        light = torch.tensor(_LIGHT) / torch.tensor(_LIGHT).norm()
        diffuse = sh_irradiance(normals, sh_directional(light, 0.25, 0.8, channels=1))
        shine = specular(normals, view, light, 24.0)
        lit = torch.from_numpy(colour / 255.0) * diffuse + 0.25 * shine
        lit = torch.where(facing < 0, 0.6 * lit, lit)
        premultiplied = torch.cat([lit, torch.ones_like(lit[..., :1])], -1)[0, 0]  # [N,4]: covered = 1
        layer = scatter(premultiplied.T, covered, (1, sub.height, sub.width))
        layer = antialias(layer, rast, pos, tri32, _topology(tri32))
    layer = layer[0].clamp(0, 1).numpy()
    return layer[..., :3] * 255.0, layer[..., 3:]


_TOPOLOGY: list = []  # [(triangles' bytes, edge_topology)] of the last mesh drawn: overlays repeat one mesh


def _topology(tri: torch.Tensor) -> torch.Tensor:
    """``edge_topology(tri)``, kept for the last triangle list (by content: callers pass fresh arrays)."""
    key = tri.numpy().tobytes()
    if not _TOPOLOGY or _TOPOLOGY[0][0] != key:
        _TOPOLOGY[:] = [(key, edge_topology(tri))]
    return _TOPOLOGY[0][1]


def _dots(out: np.ndarray, landmarks: np.ndarray) -> None:
    """Anti-aliased dots at ``landmarks [K, 2]`` pixels, drawn into ``out [H, W, 3]`` float in place."""
    h, w = out.shape[:2]
    span = landmarks.max(0) - landmarks.min(0)
    r = max(1.2, 0.008 * float(np.sqrt(span[0] * span[1])))  # dots scale with the face, not the photo
    k = int(np.ceil(r + 1))
    for x, y in landmarks:
        cx, cy = int(round(x)), int(round(y))
        xs, ys = np.arange(max(cx - k, 0), min(cx + k + 1, w)), np.arange(max(cy - k, 0), min(cy + k + 1, h))
        if not len(xs) or not len(ys):
            continue
        d = np.hypot(xs[None, :] - x, ys[:, None] - y)
        a = np.clip(r + 0.5 - d, 0, 1)[..., None]  # coverage of a disc edge one pixel wide
        region = out[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
        region[:] = region * (1 - a) + DOT_RGB * a
