"""Shading as pure functions: normals, second-order spherical-harmonics lighting, Lambert + specular.

Everything is in camera space (camera at the origin looking down -z, y up). SH coefficients ``sh [B,9,C]``
(9 per colour channel) weight the real SH basis ``sh_basis(n)`` directly: the *irradiance* (already
convolved with the clamped cosine, divided by pi) at a surface with unit normal ``n`` is
``sh_basis(n) @ sh``, so a diffuse surface of albedo ``a`` has colour ``a * (sh_basis(n) @ sh)``.
"""
from __future__ import annotations

import torch

from .covered import covered_planes, recall, tri_planes
from .interpolate import interpolate_covered, scatter

from ..lighting import BAND as _BAND, C0 as _C0, C1 as _C1, C2 as _C2, C20 as _C20, C22 as _C22, directional


def face_normals(vertices: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Unnormalised face normals (twice the area) ``[B,F,3]`` of ``vertices [B,V,3]``, ``tri [F,3]``."""
    t = vertices[:, tri.long()]
    return torch.cross(t[:, :, 1] - t[:, :, 0], t[:, :, 2] - t[:, :, 0], dim=-1)


def vertex_normals(vertices: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``[B,V,3]`` of ``vertices [B,V,3]``, ``tri [F,3]``; differentiable."""
    b, v, _ = vertices.shape
    corner = tri_planes(tri)                                      # [3,F]
    if b > 1:
        corner = (corner[:, None] + v * torch.arange(b, device=vertices.device)[:, None]).reshape(3, -1)
    # On coordinate planes (x, y, z rows): gathers, cross products and sums over contiguous rows.
    planes = vertices.reshape(b * v, 3).T.contiguous()            # [3,BV]
    p0, p1, p2 = planes.index_select(1, corner.view(-1)).view(3, 3, -1).unbind(1)  # [xyz, BF] per corner
    (ax, ay, az), (bx, by, bz) = (p1 - p0).unbind(0), (p2 - p0).unbind(0)
    fn = torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])  # [3,BF] twice the area
    n = planes.new_zeros(3, b * v)
    for k in range(3):
        n = n.index_add(1, corner[k], fn)
    nx, ny, nz = n.unbind(0)
    length = (nx * nx + ny * ny + nz * nz).sqrt().clamp_min(1e-12)
    return (n / length).T.reshape(b, v, 3).contiguous()


def pixel_normals(normals: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Unit normals per pixel ``[B,H,W,3]`` (zero on background) from vertex ``normals [B,V,3]``."""
    covered, tid, n = interpolate_covered(normals, rast, tri)
    nx, ny, nz = n.unbind(0)
    length = (nx * nx + ny * ny + nz * nz).sqrt().clamp_min(1e-12)
    return scatter(n / length, covered, rast.shape[:3], tid)


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
    b, hh, ww, _ = normals.shape
    sh = sh if sh.dim() == 3 else sh[None]
    weights, const = _sh_polynomial(sh)                          # [B,C,8], [B,C]
    known = recall(normals)
    if known is None:
        flat = normals.reshape(b, -1, 3)
        return torch.stack([_irradiance(flat[k].T, weights[k % len(sh)], const[k % len(sh)]).T
                            for k in range(b)]).view(b, hh, ww, -1)
    # Only the covered pixels have normals; every other pixel's zero normal gets the constant term.
    covered = known[0]
    out = const[:, None, :].expand(b, hh * ww, -1).reshape(b * hh * ww, -1).clone()
    if len(sh) == 1:
        parts = [(covered, 0)]
    else:
        ends = torch.searchsorted(covered, torch.arange(1, b + 1, device=covered.device) * (hh * ww)).tolist()
        parts = [(covered[s0:s1], k) for k, (s0, s1) in enumerate(zip([0] + ends[:-1], ends))]
    planes = covered_planes(normals, covered, 3)
    start = 0
    for pix, k in parts:
        if len(pix):
            part = planes[:, start:start + len(pix)]
            out.index_copy_(0, pix, _irradiance(part, weights[k], const[k]).T)
        start += len(pix)
    return out.view(b, hh, ww, -1)


def _sh_polynomial(sh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sh [B,9,C]`` -> the weights ``[B,C,8]`` of ``(y, z, x, xy, yz, z^2, xz, x^2-y^2)`` and the constant
    ``[B,C]`` with ``sh_basis(n) @ sh == weights . terms(n) + const`` (for any ``n``, unit or not)."""
    k0, k1 = _BAND[0] * _C0, _BAND[1] * _C1
    k2, k20, k22 = _BAND[2] * _C2, _BAND[2] * _C20, _BAND[2] * _C22
    scale = sh.new_tensor([k1, k1, k1, k2, k2, 3 * k20, k2, k22])
    return (sh[:, 1:] * scale[:, None]).transpose(1, 2), k0 * sh[:, 0] - k20 * sh[:, 6]


def _irradiance(n: torch.Tensor, weights: torch.Tensor, const: torch.Tensor) -> torch.Tensor:
    """``[C,N]`` irradiance at normals ``n [3,N]`` (planes x, y, z): one ``[C,8] @ [8,N]`` product (a wide
    matrix product is fast on CPU where a ``[N,9] @ [9,C]`` one or a reduction over an axis of 3 is not)."""
    x, y, z = n.unbind(0)
    terms = torch.stack([y, z, x, x * y, y * z, z * z, x * z, (x - y) * (x + y)])
    return torch.addmm(const[:, None], weights, terms)


def sh_directional(direction, ambient: float = 0.3, diffuse: float = 0.7, channels: int = 3,
                   dtype=torch.float32) -> torch.Tensor:
    """``[9,C]`` SH coefficients of a uniform ``ambient`` plus a distant light of strength ``diffuse``
    towards unit vector ``direction [3]`` (pointing from the surface to the light): irradiance
    ``~ ambient + diffuse * max(n . direction, 0)`` (``face3d.lighting.directional``)."""
    if isinstance(direction, torch.Tensor):
        direction = direction.detach().cpu().double().numpy()
    return torch.as_tensor(directional(direction, ambient, diffuse, channels), dtype=dtype)


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
