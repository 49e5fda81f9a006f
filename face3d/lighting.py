"""Second-order spherical-harmonics lighting conventions, in numpy (the renderer's torch ops build on them).

SH coefficients ``sh [9, C]`` (9 per colour channel) weight the real SH basis of ``face3d.render.shading
.sh_basis`` directly: the irradiance (convolved with the clamped cosine, divided by pi) at a surface with
unit normal ``n`` is ``sh_basis(n) @ sh``. Kept apart from ``face3d.render`` so that the viewer needs no torch.
"""
from __future__ import annotations

import math

import numpy as np

# Real SH normalisation constants, bands 0-2.
C0 = 0.5 / math.sqrt(math.pi)
C1 = math.sqrt(3 / (4 * math.pi))
C2 = 0.5 * math.sqrt(15 / math.pi)
C20 = 0.25 * math.sqrt(5 / math.pi)
C22 = 0.25 * math.sqrt(15 / math.pi)
# Clamped-cosine convolution per band (Ramamoorthi & Hanrahan 2001), divided by pi.
BAND = (1.0, 2.0 / 3.0, 1.0 / 4.0)


def directional(direction, ambient: float = 0.3, diffuse: float = 0.7, channels: int = 3) -> np.ndarray:
    """float64 ``[9,C]`` SH coefficients of a uniform ``ambient`` plus a distant light of strength ``diffuse``
    towards unit vector ``direction [3]`` (pointing from the surface to the light): irradiance
    ``~ ambient + diffuse * max(n . direction, 0)``."""
    d = np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    # A distant light's SH projection is Y_k(d); the band factors in sh_basis do the cosine convolution,
    # and pi undoes its normalisation.
    ylm = np.array([C0, C1 * d[1], C1 * d[2], C1 * d[0], C2 * d[0] * d[1], C2 * d[1] * d[2],
                    C20 * (3 * d[2] ** 2 - 1), C2 * d[0] * d[2], C22 * (d[0] ** 2 - d[1] ** 2)])
    coeffs = diffuse * math.pi * ylm
    coeffs[0] += ambient / C0
    return np.repeat(coeffs[:, None], channels, 1)
