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
    f = tri.shape[0]
    ids = rast[..., 3].detach().round().long().view(-1) - 1        # [B*H*W], -1 = background
    z = rast[..., 2].detach().reshape(-1)
    depth = torch.where(ids >= 0, z, torch.full_like(z, float("inf")))

    # Screen-space (pixel) corners of every triangle, and which way each faces (sign of its area).
    screen = pos[..., :2] / pos[..., 3:4]
    screen = torch.stack([((screen[..., 0] + 1) * w - 1) / 2, ((screen[..., 1] + 1) * h - 1) / 2], -1)
    flat_screen = screen.reshape(-1, 2)                           # [(B)V,2]
    offset = torch.arange(b, device=tri.device)[:, None] * pos.shape[1]
    with torch.no_grad():
        sx, sy = flat_screen.T.contiguous().unbind(0)
        corner = (tri.T.reshape(1, 3, f) + offset[:, :, None]).reshape(-1)     # [B,3,F] flat vertex rows
        (x0, x1, x2), (y0, y1, y2) = (p.index_select(0, corner).view(b, 3, f).unbind(1) for p in (sx, sy))
        facing = torch.sign((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0))      # [B,F]
        # A triangle with no silhouette edge (every neighbour faces its way) blends nothing: pixel pairs
        # whose nearer triangle has none are dropped before any per-pair work.
        nb_facing = facing.gather(1, topology.clamp_min(0).view(1, -1).expand(b, -1)).view(b, f, 3)
        silhouette_edge = (topology < 0) | (nb_facing != facing[..., None])     # [B,F,3]
        has_silhouette = silhouette_edge.any(-1).view(-1)                        # [B*F]

    flat_color = color.reshape(-1, c)
    index, blend = [], []
    for step, rows, cols in ((1, b * h, w - 1), (w, b * (h - 1), w)):  # horizontal then vertical neighbours
        with torch.no_grad():
            if step == 1:  # pairs (p, p + 1) within a row
                grid = ids.view(b * h, w)
                rc = torch.nonzero(grid[:, :-1] != grid[:, 1:])
                p = rc[:, 0] * w + rc[:, 1]
            else:          # pairs (p, p + W) within an image
                grid = ids.view(b, h * w)
                rc = torch.nonzero(grid[:, :-w] != grid[:, w:])
                p = rc[:, 0] * (h * w) + rc[:, 1]
            q = p + step
            p_front = depth.index_select(0, p) < depth.index_select(0, q)
            front_pix = torch.where(p_front, p, q)                 # [N] the pixel of the nearer triangle
            other_pix = torch.where(p_front, q, p)
            t_id = ids.index_select(0, front_pix)
            batch = front_pix // (h * w)
            t_flat = t_id + batch * f if b > 1 else t_id
            keep = torch.nonzero(has_silhouette.index_select(0, t_flat)).squeeze(1)
            front_pix, other_pix, t_id, batch, t_flat = (x.index_select(0, keep) for x in
                                                         (front_pix, other_pix, t_id, batch, t_flat))
            rest_f, rest_o = front_pix % (h * w), other_pix % (h * w)
            cf = torch.stack([rest_f % w, rest_f // w], 1).to(pos.dtype)   # pixel centres (x, y)
            co = torch.stack([rest_o % w, rest_o // w], 1).to(pos.dtype)
            sign = facing.view(-1).index_select(0, t_flat)
            corners = tri.index_select(0, t_id)
            if b > 1:
                corners = corners + (batch * pos.shape[1])[:, None]
            silhouette = silhouette_edge.view(-1, 3).index_select(0, t_flat)
        v = flat_screen.index_select(0, corners.view(-1)).view(-1, 3, 2)        # [N,3,2]
        # Edge k runs from corner k+1 to k+2; its edge function is positive inside the triangle.
        v0, v1, v2 = v.unbind(1)
        a = torch.stack([v1, v2, v0], 1)
        e = torch.stack([v2, v0, v1], 1) - a
        ef = _cross(e, cf[:, None] - a) * sign[:, None]           # [N,3] at the front pixel (>= 0)
        eo = _cross(e, co[:, None] - a) * sign[:, None]           # at the other pixel
        # Each edge is handled across its minor axis only (horizontal pairs for steep edges, vertical pairs
        # for flat ones), so that a pixel row or column meets it once and the coverage is not counted twice.
        with torch.no_grad():
            steep = e[..., 1].abs() >= e[..., 0].abs()
            valid = silhouette & (eo < 0) & (steep if step == 1 else ~steep)
        t = ef / torch.where(valid, ef - eo, torch.ones_like(ef))  # crossing point, 0 at front, 1 at other
        t = torch.where(valid, t.clamp(0, 1), torch.full_like(t, 2.0))
        t, _ = t.min(1)                                           # the first silhouette edge crossed
        keep = torch.nonzero(t.detach() <= 1).squeeze(1)
        t, front_pix, other_pix = (x.index_select(0, keep) for x in (t, front_pix, other_pix))
        c_f, c_o = flat_color.index_select(0, front_pix), flat_color.index_select(0, other_pix)
        # Edge before the midpoint: the front pixel is partly covered by what the other pixel sees;
        # past it, the front triangle spills into the other pixel.
        index += [front_pix, other_pix]
        blend += [(0.5 - t).clamp_min(0)[:, None] * (c_o - c_f), (t - 0.5).clamp_min(0)[:, None] * (c_f - c_o)]
    # One index_add for every pair of both passes: each pass reads the unblended colours, so the sum is the
    # same as blending pass by pass.
    return flat_color.index_add(0, torch.cat(index), torch.cat(blend)).view(b, h, w, c)
