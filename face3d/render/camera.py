"""Clip-space matrices from ``face3d.camera.Camera``, in ``rasterize``'s pixel convention.

A camera-space point (cm, camera looking down -z, y up) lands on the pixel that ``camera.project`` gives
it: NDC ``x = (2 px + 1) / W - 1``, ``y = (2 py + 1) / H - 1`` (y down), ``w = -z``.
"""
from __future__ import annotations

import torch

from ..camera import Camera


def near_far(vertices: torch.Tensor, margin: float = 0.25) -> tuple[float, float]:
    """Near and far planes (cm, positive distances) that bracket ``vertices [..., 3]`` camera space with a
    relative ``margin``; the near plane stays in front of the camera."""
    depth = -vertices.detach()[..., 2]
    lo, hi = float(depth.min()), float(depth.max())
    near = max(lo * (1 - margin), 1e-3)
    return near, max(hi * (1 + margin), near * 1.01 + 1e-3)


def clip_matrix(camera: Camera, near: float, far: float, dtype=torch.float32) -> torch.Tensor:
    """``[4,4]``: camera space (homogeneous column vectors) -> clip space (``Camera.clip_matrix``). Depth maps
    ``-near -> -1``, ``-far -> +1`` in NDC, as OpenGL's perspective matrix."""
    return torch.as_tensor(camera.clip_matrix(near, far), dtype=dtype)


def to_clip(vertices: torch.Tensor, camera: Camera, near: float | None = None,
            far: float | None = None) -> torch.Tensor:
    """``vertices [B,V,3]`` camera space (cm) -> ``[B,V,4]`` clip space for ``rasterize``; near/far default
    to ``near_far(vertices)``. Differentiable in ``vertices``."""
    assert vertices.dim() == 3 and vertices.shape[2] == 3, "vertices must be [B,V,3]"
    if near is None or far is None:
        near, far = near_far(vertices)
    m = clip_matrix(camera, near, far, vertices.dtype).to(vertices.device)
    return vertices @ m[:, :3].T + m[:, 3]
