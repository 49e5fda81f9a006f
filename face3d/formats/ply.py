"""PLY (binary, through trimesh): positions and triangles."""
from __future__ import annotations

from pathlib import Path

import numpy as np

def write_ply(path: Path, vertices: np.ndarray, model) -> None:
    import trimesh
    mesh = trimesh.Trimesh(vertices, model.faces.cpu().numpy(), process=False)
    data = mesh.export(file_type="ply")
    head, sep, body = data.partition(b"\n")  # "ply"
    fmt, sep2, rest = body.partition(b"\n")  # "format ..."; a comment names the writer (see formats.atomic)
    path.write_bytes(head + sep + fmt + sep2 + b"comment face3d\n" + rest)


