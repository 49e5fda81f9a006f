"""PLY (binary, through trimesh): positions (metres by default), vertex normals and triangles."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_ply(path: Path, vertices: np.ndarray, model, scale: float = 0.01) -> None:
    """``vertices [V,3]`` cm, written times ``scale`` (0.01: metres), with unit vertex normals."""
    import trimesh
    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64) * scale, model.faces.cpu().numpy(),
                           vertex_normals=model.vertex_normals(vertices), process=False)
    data = mesh.export(file_type="ply", vertex_normal=True)
    head, sep, body = data.partition(b"\n")  # "ply"
    fmt, sep2, rest = body.partition(b"\n")  # "format ..."; a comment names the writer (see formats.atomic)
    unit = b"m" if scale == 0.01 else b"cm" if scale == 1 else str(scale).encode() + b" x cm"
    path.write_bytes(head + sep + fmt + sep2 + b"comment face3d units " + unit + b"\n" + rest)
