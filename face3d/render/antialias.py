"""``antialias``: analytic silhouette anti-aliasing whose gradients move the outline (as nvdiffrast's).

Where two neighbouring pixels see different triangles and the nearer one's edge between them is a
silhouette (an open mesh border, or an edge whose other triangle faces away), the edge's crossing point
``t`` on the segment between the pixel centres sets how much of each pixel's colour bleeds into the other.
``t`` is computed from the clip-space vertices, so a loss on the blended colours pulls the contour.
"""
from __future__ import annotations

import numpy as np
import torch

from .rasterize import check_triangles


def edge_topology(tri: torch.Tensor) -> torch.Tensor:
    """For each triangle's edge ``k`` (the edge opposite corner ``k``), the other triangle sharing it.

    tri: int ``[F,3]``. Returns int64 ``[F,3]``: neighbour triangle index, or -1 on an open border. Compute it
    once per mesh and pass it to ``antialias``.
    """
    check_triangles(tri)
    t = tri.detach().cpu().numpy().astype(np.int64)
    f = len(t)
    a = np.concatenate([t[:, 1], t[:, 2], t[:, 0]])  # edge k joins corners k+1 and k+2
    b = np.concatenate([t[:, 2], t[:, 0], t[:, 1]])
    key = np.minimum(a, b) * (int(t.max(initial=0)) + 1) + np.maximum(a, b)
    order = np.argsort(key, kind="stable")
    same = key[order[1:]] == key[order[:-1]]  # consecutive equal keys: two triangles share the edge
    nb = np.full(3 * f, -1, np.int64)
    first, second = order[:-1][same], order[1:][same]
    nb[first] = second % f
    nb[second] = first % f
    return torch.from_numpy(nb.reshape(3, f).T.copy()).to(tri.device)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def antialias(color: torch.Tensor, rast: torch.Tensor, pos: torch.Tensor, tri: torch.Tensor,
              topology: torch.Tensor | None = None) -> torch.Tensor:
    """Blend colours across silhouette edges.

    color: float ``[B,H,W,C]`` shaded image (background included); rast: ``[B,H,W,4]`` from ``rasterize``;
    pos: ``[B,V,4]`` the clip-space positions that were rasterised; tri: int ``[F,3]`` the triangles;
    topology: ``[F,3]`` from ``edge_topology(tri)`` (computed here when None: pass it when rendering a
    mesh repeatedly).

    Returns ``[B,H,W,C]``: ``color`` with each silhouette pixel mixed with its neighbour in proportion to
    the edge's position between their centres. Differentiable in ``color`` and ``pos``.
    """
    assert color.dim() == 4 and rast.shape[:3] == color.shape[:3], "color must be [B,H,W,C] like rast"
    assert pos.dim() == 3 and pos.shape[2] == 4 and pos.shape[0] == color.shape[0], "pos must be [B,V,4]"
    check_triangles(tri)
    if topology is None:
        topology = edge_topology(tri)
    assert topology.shape == tri.shape, "topology must be edge_topology(tri)"
    b, h, w, c = color.shape
    tri = tri.long()
    topology = topology.long()
    ids = rast[..., 3].detach().round().long() - 1                       # [B,H,W], -1 = background
    depth = torch.where(ids >= 0, rast[..., 2].detach(), torch.full_like(rast[..., 2], float("inf")))

    # Screen-space (pixel) corners of every triangle, and which way each faces (sign of its area).
    screen = pos[..., :2] / pos[..., 3:4]
    screen = torch.stack([((screen[..., 0] + 1) * w - 1) / 2, ((screen[..., 1] + 1) * h - 1) / 2], -1)
    with torch.no_grad():
        corners = screen[:, tri]                                  # [B,F,3,2]
        facing = torch.sign(_cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]))

    flat_color = color.reshape(-1, c)
    out = flat_color
    pix = torch.arange(b * h * w, device=color.device).view(b, h, w)
    for axis in (2, 1):  # horizontal then vertical neighbours
        n = ids.shape[axis] - 1
        ip, iq = ids.narrow(axis, 0, n), ids.narrow(axis, 1, n)
        dp, dq = depth.narrow(axis, 0, n), depth.narrow(axis, 1, n)
        pp, pq = pix.narrow(axis, 0, n), pix.narrow(axis, 1, n)
        differ = ip != iq
        p_front = (dp < dq)[differ]
        front_pix = torch.where(p_front, pp[differ], pq[differ])  # [N] the pixel of the nearer triangle
        other_pix = torch.where(p_front, pq[differ], pp[differ])
        t_id = torch.where(p_front, ip[differ], iq[differ])
        batch = front_pix // (h * w)
        rest_f, rest_o = front_pix % (h * w), other_pix % (h * w)
        cf = torch.stack([rest_f % w, rest_f // w], 1).to(pos.dtype)   # pixel centres (x, y)
        co = torch.stack([rest_o % w, rest_o // w], 1).to(pos.dtype)
        v = screen[batch[:, None], tri[t_id]]                     # [N,3,2]
        sign = facing[batch, t_id]
        # Edge k runs from corner k+1 to k+2; its edge function is positive inside the triangle.
        a, e = v[:, [1, 2, 0]], v[:, [2, 0, 1]] - v[:, [1, 2, 0]]
        ef = _cross(e, cf[:, None] - a) * sign[:, None]           # [N,3] at the front pixel (>= 0)
        eo = _cross(e, co[:, None] - a) * sign[:, None]           # at the other pixel
        nb = topology[t_id]                                       # [N,3]
        nb_facing = facing[batch[:, None], nb.clamp_min(0)]
        silhouette = (nb < 0) | (nb_facing != sign[:, None])
        # Each edge is handled across its minor axis only (horizontal pairs for steep edges, vertical pairs
        # for flat ones), so that a pixel row or column meets it once and the coverage is not counted twice.
        steep = e[..., 1].abs() >= e[..., 0].abs()
        valid = silhouette & (eo < 0) & (steep if axis == 2 else ~steep)
        t = ef / torch.where(valid, ef - eo, torch.ones_like(ef))  # crossing point, 0 at front, 1 at other
        t = torch.where(valid, t.clamp(0, 1), torch.full_like(t, 2.0))
        t, _ = t.min(1)                                           # the first silhouette edge crossed
        keep = t <= 1
        t, front_pix, other_pix = t[keep], front_pix[keep], other_pix[keep]
        c_f, c_o = flat_color[front_pix], flat_color[other_pix]
        # Edge before the midpoint: the front pixel is partly covered by what the other pixel sees;
        # past it, the front triangle spills into the other pixel.
        out = out.index_add(0, front_pix, (0.5 - t).clamp_min(0)[:, None] * (c_o - c_f))
        out = out.index_add(0, other_pix, (t - 0.5).clamp_min(0)[:, None] * (c_f - c_o))
    return out.view(b, h, w, c)
