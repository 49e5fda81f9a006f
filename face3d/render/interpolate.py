"""``interpolate``: vertex attributes at each pixel, from the barycentrics of ``rasterize``."""
from __future__ import annotations

import torch

from .covered import corner_indices, covered_planes, recall, remember
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
    covered, tid, values = interpolate_covered(attr, rast, tri)
    return scatter(values, covered, (b, h, w), tid)


def interpolate_covered(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``interpolate`` on the covered pixels only: ``(covered [N], tid [N], values [C,N])``, the flat pixel
    indices into ``B*H*W`` (ascending, int64), their 0-based triangle ids (int32) and the interpolated
    attributes as planes (one row per channel: gathers and arithmetic on contiguous rows are what is fast on
    CPU)."""
    b, h, w, _ = rast.shape
    flat = rast.reshape(-1, 4)
    known = recall(rast)
    if known is None:
        # Ids are integers stored as floats: threshold and round, so that a perturbed id (gradcheck) is the same.
        covered = torch.nonzero(flat[:, 3].detach() > 0.5).squeeze(1)
        tid = flat[covered, 3].detach().round().int() - 1
    else:
        covered, tid = known
    corners = corner_indices(tri, tid)                           # [3,N]
    c = attr.shape[-1]
    if attr.dim() == 3 and b > 1:
        corners = corners + covered // (h * w) * attr.shape[1]
    planes = attr.reshape(-1, c).T.contiguous()                   # [C, (B)V]
    values = planes.index_select(1, corners.view(-1)).view(c, 3, -1)  # [C,3,N]
    u, v = covered_planes(rast, covered, 2)
    a0, a1, a2 = values.unbind(1)
    out = torch.addcmul(torch.addcmul(a2, a0 - a2, u), a1 - a2, v)  # a0 u + a1 v + a2 (1 - u - v)
    return covered, tid, out.to(attr.dtype)


def scatter(values: torch.Tensor, covered: torch.Tensor, size: tuple[int, int, int], tid=None) -> torch.Tensor:
    """The image ``[B,H,W,C]``: planes ``values [C,N]`` at the flat pixels ``covered``, zero elsewhere
    (remembered as such, with ``tid`` when given, for the next op; see ``covered``)."""
    b, h, w = size
    out = values.new_zeros(b * h * w, values.shape[0]).index_copy_(0, covered, values.T).view(b, h, w, -1)
    if tid is not None:
        remember(out, covered, tid, values)
    return out
