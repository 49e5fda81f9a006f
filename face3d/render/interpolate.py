"""``interpolate``: vertex attributes at each pixel, from the barycentrics of ``rasterize``."""
from __future__ import annotations

import torch

from .rasterize import check_triangles


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Interpolate per-vertex attributes over the rasterised triangles.

    attr: float ``[B,V,C]`` or ``[V,C]`` (shared by the batch) attributes. rast: ``[B,H,W,4]`` from
    ``rasterize``. tri: int ``[F,3]`` indices into attr's V axis, with the same triangle order as the
    triangles that were rasterised — they may index another vertex list (UV seams: ICT's ``uv_faces``
    index ``uvs``, not the vertices).

    Returns ``[B,H,W,C]`` of attr's dtype; background pixels are zero. Differentiable in ``attr`` and in
    ``rast``'s barycentrics.
    """
    assert rast.dim() == 4 and rast.shape[3] == 4, "rast must be [B,H,W,4]"
    assert attr.dim() in (2, 3), "attr must be [B,V,C] or [V,C]"
    check_triangles(tri)
    b, h, w, _ = rast.shape
    if attr.dim() == 3:
        assert attr.shape[0] == b, "attr's batch must match rast's"
    flat = rast.reshape(-1, 4)
    # Ids are integers stored as floats: threshold and round, so that a perturbed id (gradcheck) is the same.
    covered = torch.nonzero(flat[:, 3].detach() > 0.5).squeeze(1)
    sel = flat[covered]
    tid = sel[:, 3].detach().round().long() - 1
    corners = tri.long()[tid]                                    # [N,3]
    if attr.dim() == 3:
        values = attr[(covered // (h * w))[:, None], corners]    # [N,3,C]
    else:
        values = attr[corners]
    u, v = sel[:, 0:1], sel[:, 1:2]
    out = values[:, 0] * u + values[:, 1] * v + values[:, 2] * (1 - u - v)
    res = attr.new_zeros(b * h * w, attr.shape[-1]).index_put((covered,), out.to(attr.dtype))
    return res.view(b, h, w, -1)
