"""Pinhole camera for photos: intrinsics, projection with its Jacobian, and the focal length from EXIF.

Camera space: the camera sits at the origin looking down -z, y up (as the face model); image x right,
y down, pixel centres at integers. A head pose maps model points X to camera space as ``R @ X + t``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

FOCAL_35MM_RANGE = (8.0, 1200.0)  # mm; EXIF values outside are ignored
DEFAULT_FOCAL = 1.2  # focal length in units of the longer image side (~45 deg field of view) without EXIF


@dataclass
class Camera:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def for_image(cls, width: int, height: int, focal_35mm: float | None = None) -> "Camera":
        """Centred camera; focal from the 35 mm-equivalent focal length (EXIF) when known."""
        side = max(width, height)
        focal = focal_35mm / 36.0 * side if focal_35mm else DEFAULT_FOCAL * side
        return cls(float(focal), (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    def to_dict(self) -> dict:
        return {"focal_px": self.focal, "cx": self.cx, "cy": self.cy}

    def clip_matrix(self, near: float, far: float) -> np.ndarray:
        """float64 ``[4,4]``: camera space (homogeneous column vectors) -> clip space, in
        ``face3d.render.rasterize``'s pixel convention (NDC ``x = (2 px + 1) / W - 1``, y down the image,
        so a point's pixel is the one ``project`` gives it). Depth maps ``-near -> -1``, ``-far -> +1``."""
        w, h, f = self.width, self.height, self.focal
        return np.array([
            [2 * f / w, 0.0, -((2 * self.cx + 1) / w - 1), 0.0],
            [0.0, -2 * f / h, -((2 * self.cy + 1) / h - 1), 0.0],
            [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
            [0.0, 0.0, -1.0, 0.0],
        ])


def project(points: torch.Tensor, camera: Camera) -> torch.Tensor:
    """``points [P, 3]`` camera space (cm, z < 0) -> pixels [P, 2]."""
    import torch  # here, not at the top: the viewer uses Camera without torch (it opens in well under 2 s)

    z = (-points[:, 2]).clamp_min(1e-6)
    return torch.stack([camera.cx + camera.focal * points[:, 0] / z,
                        camera.cy - camera.focal * points[:, 1] / z], 1)


def project_jacobian(points: torch.Tensor, camera: Camera) -> torch.Tensor:
    """d pixels / d camera-space point: ``points [P, 3]`` -> [P, 2, 3]."""
    import torch
    x, y, z = points.unbind(1)
    zi = 1.0 / (-z).clamp_min(1e-6)
    f = camera.focal
    zero = torch.zeros_like(x)
    return torch.stack([torch.stack([f * zi, zero, f * x * zi * zi], 1),
                        torch.stack([zero, -f * zi, -f * y * zi * zi], 1)], 1)


def exif_focal_35mm(image) -> float | None:
    """The 35 mm-equivalent focal length (mm) from a photo's EXIF, or None (arrays, no EXIF, no tag)."""
    if not isinstance(image, (str, os.PathLike)):
        return None
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(Path(image))
        with im:
            exif = im.getexif().get_ifd(0x8769)  # the Exif sub-IFD holds FocalLengthIn35mmFilm
    except Exception:  # no EXIF worth reading: the default focal length is used
        return None
    try:
        value = float(exif.get(0xA405) or 0)
    except (TypeError, ValueError):
        return None
    # Phones say 13-28 mm, long lenses up to ~800: outside a sane range the tag is wrong, not the lens.
    return value if FOCAL_35MM_RANGE[0] <= value <= FOCAL_35MM_RANGE[1] else None
