"""``texture``: bilinear texture lookups, differentiable in the texture and the coordinates."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Sample textures bilinearly.

    tex: float ``[B,Ht,Wt,C]`` (or ``[1,Ht,Wt,C]`` shared by the batch); uv: float ``[B,H,W,2]`` texture
    coordinates: ``u`` along the texture's width, ``v`` along its rows, ``(0, 0)`` the outer corner of
    texel ``[0, 0]`` and ``(1, 1)`` of texel ``[Ht-1, Wt-1]`` (texel centres at ``(k + 0.5) / size``);
    outside ``[0, 1]`` the edge texels repeat. (OBJ/ICT UVs put ``v = 0`` at the image bottom: pass
    ``1 - v``.)

    Returns ``[B,H,W,C]``, differentiable in ``tex`` and ``uv``.
    """
    assert tex.dim() == 4 and uv.dim() == 4 and uv.shape[3] == 2, "tex must be [B,Ht,Wt,C], uv [B,H,W,2]"
    assert tex.shape[0] in (1, uv.shape[0]), "tex's batch must be 1 or uv's"
    grid = uv * 2 - 1  # grid_sample's [-1, 1] spans the outer texel corners with align_corners=False
    t = tex.permute(0, 3, 1, 2).expand(uv.shape[0], -1, -1, -1)
    out = F.grid_sample(t, grid.to(tex.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    return out.permute(0, 2, 3, 1)
