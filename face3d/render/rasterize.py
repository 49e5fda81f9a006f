"""``rasterize``: which triangle each pixel sees (OpenGL's depth test), and where on it (in torch).

Pixel convention (the image's, as ``face3d.camera.project``): ``rast[b, i, j]`` is image row ``i`` (top
first), column ``j``; that pixel's centre sits at NDC ``x = (2j + 1) / W - 1``, ``y = (2i + 1) / H - 1``
(NDC y points *down* the image, so GL's bottom-up rows come back top-down with no flip).
"""
from __future__ import annotations

import torch

from .context import RenderContext
from .covered import corner_indices, index_range, remember


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
    ``z/w`` the NDC depth; background pixels are all zero. The depth test runs in OpenGL. Where ``pos``
    needs a gradient (or is float64), ``u, v, z/w`` of the covered pixels are re-derived in torch from ``pos``
    so that gradients flow to it (the id has none); otherwise they are GL's own, which agree to ~1e-3 of a
    barycentric on sub-pixel triangles (GL snaps vertices to 1/256 px) and to float rounding elsewhere.
    """
    assert isinstance(pos, torch.Tensor) and pos.dim() == 3 and pos.shape[2] == 4, "pos must be [B,V,4]"
    assert pos.dtype in (torch.float32, torch.float64), "pos must be float32 or float64"
    check_triangles(tri)
    h, w = (int(r) for r in resolution)
    assert h > 0 and w > 0, "resolution must be (H, W) > 0"
    b, v = pos.shape[:2]
    if not tri.numel():
        return pos.new_zeros(b, h, w, 4)
    lo, hi = index_range(tri)
    assert lo >= 0 and hi < v, "tri indexes past pos's vertices"

    corners = tri.detach().cpu().reshape(-1)
    host = pos.detach().to("cpu", torch.float32)
    rast = torch.empty(b, h, w, 4)
    for k in range(b):  # one draw per mesh: a batch shares the triangles, not the positions
        ctx.set_corners(host[k].index_select(0, corners).numpy())
        ctx.draw(w, h, rast[k].numpy(), cull_backfaces)
    ids = rast.view(-1, 4)[:, 3]
    covered = torch.nonzero(ids > 0).squeeze(1)
    tid = ids.index_select(0, covered).int() - 1
    covered, tid, planes = covered.to(pos.device), tid.to(pos.device), None
    if (pos.requires_grad and torch.is_grad_enabled()) or pos.dtype != torch.float32:
        planes = _covered_rast(pos, tri, covered, tid, h, w)
        rast = pos.new_zeros(b * h * w, 4).index_copy_(0, covered, planes.T).view(b, h, w, 4)
    else:
        rast = rast.to(pos.device)
    remember(rast, covered, tid, planes)
    return rast


def _covered_rast(pos: torch.Tensor, tri: torch.Tensor, covered: torch.Tensor, tid: torch.Tensor, h: int,
                  w: int) -> torch.Tensor:
    """``(u, v, z/w, id + 1)`` planes ``[4,N]`` of the ``covered`` pixels (flat indices into ``B*H*W``) on
    triangles ``tid``: ``barycentrics`` and the perspective-correct depth, computed on coordinate planes
    (``[4,3,N]``, one contiguous row per coordinate and corner), which is several times faster on CPU than
    ``[N,3,4]`` rows and reductions over their short axes."""
    b, v = pos.shape[:2]
    rest = (covered % (h * w) if b > 1 else covered).int()       # int32 division: faster than int64
    row = rest // w
    ndc_x = (2 * (rest - row * w).to(pos.dtype) + 1) / w - 1       # as pixel_ndc
    ndc_y = (2 * row.to(pos.dtype) + 1) / h - 1
    corners = corner_indices(tri, tid)                             # [3,N]
    if b > 1:
        corners = corners + covered // (h * w) * v
    c = pos.reshape(-1, 4).T.contiguous().index_select(1, corners.view(-1)).view(4, 3, -1)
    # (unbind, not indexing: its backward is one stack, where each index's would fill a zero [4,3,N].)
    (x0, x1, x2), (y0, y1, y2), (z0, z1, z2), (q0, q1, q2) = (r.unbind(0) for r in c.unbind(0))
    # As barycentrics(): w_k is the cross product of d_{k+1}, d_{k+2}, with d_k = c_k.xy - p c_k.w.
    dx0, dx1, dx2 = x0 - ndc_x * q0, x1 - ndc_x * q1, x2 - ndc_x * q2
    dy0, dy1, dy2 = y0 - ndc_y * q0, y1 - ndc_y * q1, y2 - ndc_y * q2
    w0 = dx1 * dy2 - dy1 * dx2
    w1 = dx2 * dy0 - dy2 * dx0
    w2 = dx0 * dy1 - dy0 * dx1
    s = w0 + w1 + w2
    s = torch.where(s.abs() < 1e-30, torch.full_like(s, 1e-30), s)
    u, vv, t = w0 / s, w1 / s, w2 / s
    zw = (u * z0 + vv * z1 + t * z2) / (u * q0 + vv * q1 + t * q2)
    return torch.stack([u, vv, zw, (tid + 1).to(pos.dtype)])
