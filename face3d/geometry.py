"""Small geometry ops: rotations and rigid transforms on batched torch tensors, vertex normals."""
from __future__ import annotations

import numpy as np
import torch


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. ``aa [B,3]`` axis * angle (radians) -> ``[B,3,3]`` rotation matrices.

    Differentiable at zero (the small-angle series is used below 1e-6 rad).
    """
    theta2 = (aa * aa).sum(-1, keepdim=True)  # [B,1]
    theta = theta2.clamp_min(1e-12).sqrt()
    small = theta2 < 1e-12
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)           # sin(t)/t
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-12))  # (1-cos t)/t^2
    k = skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices: ``v [P, 3]`` -> ``[P, 3, 3]`` with ``skew(v) @ u == cross(v, u)``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).view(-1, 3, 3)


def matrix_to_axis_angle(r: torch.Tensor) -> torch.Tensor:
    """``[B,3,3]`` rotation matrices -> ``[B,3]`` axis-angle (via scipy; not differentiable)."""
    from scipy.spatial.transform import Rotation
    return torch.as_tensor(Rotation.from_matrix(r.detach().cpu().numpy()).as_rotvec(), dtype=r.dtype)


def rigid_transform(vertices: torch.Tensor, rotation: torch.Tensor | None = None,
                    translation: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``vertices [B,V,3]`` -> ``scale * R(rotation) v + translation``; each of ``rotation [B,3]`` (axis-angle),
    ``translation [B,3]`` and ``scale [B]`` may be None."""
    if rotation is not None:
        vertices = vertices @ axis_angle_to_matrix(rotation).transpose(1, 2)
    if scale is not None:
        vertices = vertices * scale.reshape(-1, 1, 1)
    if translation is not None:
        vertices = vertices + translation[:, None, :]
    return vertices


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. ``vertices [V,3]``, ``triangles [F,3]`` -> ``[V,3]``."""
    tri = vertices[triangles]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(n, triangles[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
