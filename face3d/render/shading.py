"""Shading as pure functions: normals, second-order spherical-harmonics lighting, Lambert + specular.

Everything is in camera space (camera at the origin looking down -z, y up). SH coefficients ``sh [B,9,C]``
(9 per colour channel) weight the real SH basis ``sh_basis(n)`` directly: the *irradiance* (already
convolved with the clamped cosine, divided by pi) at a surface with unit normal ``n`` is
``sh_basis(n) @ sh``, so a diffuse surface of albedo ``a`` has colour ``a * (sh_basis(n) @ sh)``.
"""
from __future__ import annotations

import math

import torch

from .interpolate import interpolate

# Real SH normalisation constants, bands 0-2.
_C0 = 0.5 / math.sqrt(math.pi)
_C1 = math.sqrt(3 / (4 * math.pi))
_C2 = 0.5 * math.sqrt(15 / math.pi)
_C20 = 0.25 * math.sqrt(5 / math.pi)
_C22 = 0.25 * math.sqrt(15 / math.pi)
# Clamped-cosine convolution per band (Ramamoorthi & Hanrahan 2001), divided by pi.
_BAND = (1.0, 2.0 / 3.0, 1.0 / 4.0)


def face_normals(vertices: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Unnormalised face normals (twice the area) ``[B,F,3]`` of ``vertices [B,V,3]``, ``tri [F,3]``."""
    t = vertices[:, tri.long()]
    return torch.cross(t[:, :, 1] - t[:, :, 0], t[:, :, 2] - t[:, :, 0], dim=-1)


def vertex_normals(vertices: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``[B,V,3]`` of ``vertices [B,V,3]``, ``tri [F,3]``; differentiable."""
    b, v, _ = vertices.shape
    fn = face_normals(vertices, tri)                              # [B,F,3]
    # One flat index_add over (batch, vertex) rows: much faster on CPU than index_add along dim 1.
    idx = (tri.long().reshape(1, -1) + v * torch.arange(b, device=vertices.device)[:, None]).reshape(-1)
    src = fn[:, :, None, :].expand(b, fn.shape[1], 3, 3).reshape(-1, 3)
    n = vertices.new_zeros(b * v, 3).index_add(0, idx, src).view(b, v, 3)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def pixel_normals(normals: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Unit normals per pixel ``[B,H,W,3]`` (zero on background) from vertex ``normals [B,V,3]``."""
    n = interpolate(normals, rast, tri)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """The 9 real SH functions of bands 0-2 at unit ``normals [...,3]`` -> ``[...,9]``, ordered
    ``(1, y, z, x, xy, yz, 3z^2-1, xz, x^2-y^2)``, each with its clamped-cosine band factor applied."""
    x, y, z = normals.unbind(-1)
    one = torch.ones_like(x)
    return torch.stack([
        _BAND[0] * _C0 * one,
        _BAND[1] * _C1 * y, _BAND[1] * _C1 * z, _BAND[1] * _C1 * x,
        _BAND[2] * _C2 * x * y, _BAND[2] * _C2 * y * z, _BAND[2] * _C20 * (3 * z * z - 1),
        _BAND[2] * _C2 * x * z, _BAND[2] * _C22 * (x * x - y * y),
    ], -1)


def sh_irradiance(normals: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
    """Irradiance ``[B,H,W,C]`` at unit ``normals [B,H,W,3]`` under ``sh [B,9,C]`` (or ``[9,C]``)."""
    # Order-2 SH irradiance is a quadratic form in (x, y, z, 1) (Ramamoorthi & Hanrahan 2001): one 4x4
    # matrix per channel, far fewer passes over the pixels than evaluating the nine basis images.
    m = _quadratic_form(sh if sh.dim() == 3 else sh[None])     # [B,C,4,4]
    nh = torch.cat([normals, torch.ones_like(normals[..., :1])], -1)  # [B,H,W,4]
    b, hh, ww, _ = nh.shape
    flat = nh.reshape(b, -1, 4)
    mn = torch.einsum("bpi,bcij->bpcj", flat, m.expand(b, -1, -1, -1))  # [B,P,C,4]
    return (mn * flat[:, :, None, :]).sum(-1).view(b, hh, ww, -1)


def _quadratic_form(sh: torch.Tensor) -> torch.Tensor:
    """``sh [B,9,C]`` -> ``[B,C,4,4]`` symmetric M with ``(n,1) M (n,1)^T == sh_basis(n) @ sh``."""
    k0, k1 = _BAND[0] * _C0, _BAND[1] * _C1
    k2, k20, k22 = _BAND[2] * _C2, _BAND[2] * _C20, _BAND[2] * _C22
    L = sh.transpose(1, 2)                                        # [B,C,9]
    z = torch.zeros_like(L[..., 0])
    rows = [
        [k22 * L[..., 8], k2 / 2 * L[..., 4], k2 / 2 * L[..., 7], k1 / 2 * L[..., 3]],
        [k2 / 2 * L[..., 4], -k22 * L[..., 8], k2 / 2 * L[..., 5], k1 / 2 * L[..., 1]],
        [k2 / 2 * L[..., 7], k2 / 2 * L[..., 5], 3 * k20 * L[..., 6], k1 / 2 * L[..., 2]],
        [k1 / 2 * L[..., 3], k1 / 2 * L[..., 1], k1 / 2 * L[..., 2], k0 * L[..., 0] - k20 * L[..., 6] + z],
    ]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def sh_directional(direction, ambient: float = 0.3, diffuse: float = 0.7, channels: int = 3,
                   dtype=torch.float32) -> torch.Tensor:
    """``[9,C]`` SH coefficients of a uniform ``ambient`` plus a distant light of strength ``diffuse``
    towards unit vector ``direction [3]`` (pointing from the surface to the light): irradiance
    ``~ ambient + diffuse * max(n . direction, 0)``."""
    d = torch.as_tensor(direction, dtype=dtype)
    d = d / d.norm()
    # A distant light's SH projection is Y_k(d); the band factors in sh_basis do the cosine convolution,
    # and pi undoes its normalisation.
    ylm = torch.stack([torch.tensor(_C0, dtype=dtype), _C1 * d[1], _C1 * d[2], _C1 * d[0], _C2 * d[0] * d[1],
                       _C2 * d[1] * d[2], _C20 * (3 * d[2] ** 2 - 1), _C2 * d[0] * d[2], _C22 * (d[0] ** 2 - d[1] ** 2)])
    coeffs = diffuse * math.pi * ylm
    coeffs[0] = coeffs[0] + ambient / _C0
    return coeffs[:, None].expand(9, channels).contiguous()


def lambert(albedo: torch.Tensor, irradiance: torch.Tensor) -> torch.Tensor:
    """Diffuse colour ``[B,H,W,C]``: ``albedo [B,H,W,C] * irradiance [B,H,W,C]`` (or ``[...,1]``)."""
    return albedo * irradiance


def specular(normals: torch.Tensor, view: torch.Tensor, light: torch.Tensor, shininess: float = 32.0
             ) -> torch.Tensor:
    """Blinn-Phong highlight ``[B,H,W,1]`` in [0, 1]: unit ``normals [B,H,W,3]``, unit ``view [B,H,W,3]``
    (surface to camera), ``light [3]`` unit direction (surface to light)."""
    half = view + light.to(view.dtype)
    half = half / half.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (normals * half).sum(-1, keepdim=True).clamp_min(0) ** shininess


def view_directions(points: torch.Tensor) -> torch.Tensor:
    """Unit directions ``[B,H,W,3]`` from camera-space surface ``points [B,H,W,3]`` towards the camera."""
    return -points / points.norm(dim=-1, keepdim=True).clamp_min(1e-12)
