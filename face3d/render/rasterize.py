"""``rasterize``: which triangle each pixel sees (OpenGL's depth test), and where on it (in torch).

Pixel convention (the image's, as ``face3d.camera.project``): ``rast[b, i, j]`` is image row ``i`` (top
first), column ``j``; that pixel's centre sits at NDC ``x = (2j + 1) / W - 1``, ``y = (2i + 1) / H - 1``
(NDC y points *down* the image, so GL's bottom-up rows come back top-down with no flip).
"""
from __future__ import annotations

import numpy as np
import torch

from .context import RenderContext


def pixel_ndc(rows: torch.Tensor, cols: torch.Tensor, height: int, width: int, dtype) -> torch.Tensor:
    """NDC centres ``[N,2]`` of pixels at integer ``rows [N]``, ``cols [N]``."""
    return torch.stack([(2 * cols.to(dtype) + 1) / width - 1, (2 * rows.to(dtype) + 1) / height - 1], 1)


def barycentrics(clip: torch.Tensor, ndc: torch.Tensor) -> torch.Tensor:
    """Perspective-correct barycentrics of NDC points on triangles.

    ``clip [N,3,4]`` the clip-space corners of each point's triangle, ``ndc [N,2]`` the points -> ``[N,3]``
    weights summing to one (so that the clip-space point ``sum_k w_k clip_k`` projects onto ``ndc``).
    Differentiable in ``clip``.
    """
    # The clip-space point P = sum w_k c_k projects to p iff sum w_k (c_k.xy - p c_k.w) = 0: the weights
    # are the null vector of three 2-vectors d_k, i.e. their pairwise cross products.
    d = clip[..., :2] - ndc[:, None, :] * clip[..., 3:4]
    d0, d1, d2 = d.unbind(1)
    cross = lambda a, b: a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # noqa: E731
    w = torch.stack([cross(d1, d2), cross(d2, d0), cross(d0, d1)], 1)
    s = w.sum(1, keepdim=True)
    return w / torch.where(s.abs() < 1e-30, torch.full_like(s, 1e-30), s)


def check_triangles(tri: torch.Tensor, n_vertices: int | None = None) -> None:
    assert isinstance(tri, torch.Tensor) and tri.dim() == 2 and tri.shape[1] == 3, "tri must be [F,3]"
    assert tri.dtype in (torch.int32, torch.int64), "tri must be an integer tensor (int32)"


def rasterize(ctx: RenderContext, pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
              cull_backfaces: bool = False) -> torch.Tensor:
    """Rasterise triangle meshes.

    ctx: the ``RenderContext``. pos: float32/float64 ``[B,V,4]`` clip-space vertex positions (the pixel
    convention of this module), ``w > 0`` in front of the camera. tri: int32 (or int64) ``[F,3]`` vertex
    indices into ``pos``'s V axis. resolution: ``(H, W)`` pixels. cull_backfaces: skip triangles that are
    clockwise as seen by the camera (y up; the outside of a counter-clockwise mesh like ICT's faces it) —
    twice as fast on llvmpipe; off, every triangle competes in the depth test (nvdiffrast's behaviour).

    Returns ``rast [B,H,W,4]`` of ``pos``'s dtype: ``(u, v, z/w, triangle id + 1)`` per pixel; ``u, v`` are the
    perspective-correct barycentric weights of the triangle's corners 0 and 1 (corner 2 gets ``1 - u - v``),
    ``z/w`` the NDC depth; background pixels are all zero. The depth test runs in OpenGL; when ``pos``
    requires grad, ``u, v, z/w`` are re-derived in torch from ``pos`` so gradients flow to it (the id has
    none).
    """
    assert isinstance(pos, torch.Tensor) and pos.dim() == 3 and pos.shape[2] == 4, "pos must be [B,V,4]"
    assert pos.dtype in (torch.float32, torch.float64), "pos must be float32 or float64"
    check_triangles(tri)
    h, w = (int(r) for r in resolution)
    assert h > 0 and w > 0, "resolution must be (H, W) > 0"
    b, v = pos.shape[:2]
    if tri.numel():
        assert int(tri.min()) >= 0 and int(tri.max()) < v, "tri indexes past pos's vertices"

    flat_tri = ctx.set_triangles(tri)
    gl_rast = np.empty((b, h, w, 4), np.float32)
    host = pos.detach().to("cpu", torch.float32)
    for k in range(b):  # one draw per mesh: a batch shares the triangles, not the positions
        ctx.set_positions(host[k].index_select(0, flat_tri))
        ctx.draw(w, h, gl_rast[k], cull_backfaces)
    rast = torch.from_numpy(gl_rast).to(pos.device, pos.dtype)
    if not (pos.requires_grad and torch.is_grad_enabled()):
        return rast

    # Differentiable path: the same (u, v, z/w) from pos, on the covered pixels only.
    flat = rast.view(-1, 4)
    covered = torch.nonzero(flat[:, 3] > 0).squeeze(1)
    tid = flat[covered, 3].long() - 1
    batch, rest = covered // (h * w), covered % (h * w)
    rows, cols = rest // w, rest % w
    clip = pos[batch[:, None], tri.long()[tid]]                  # [N,3,4]
    bary = barycentrics(clip, pixel_ndc(rows, cols, h, w, pos.dtype))
    zw = (bary * clip[..., 2]).sum(1) / (bary * clip[..., 3]).sum(1)
    vals = torch.stack([bary[:, 0], bary[:, 1], zw, flat[covered, 3]], 1)
    return flat.index_put((covered,), vals).view(b, h, w, 4)
