"""Wavefront OBJ + MTL: face3d's writer (quads as upstream, UVs, one material per run) and the parser of
the upstream ICT-FaceKit OBJ files (read once, by the asset installer).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ..materials import MATERIAL_COLOURS

def mtl_text(model, texture: str | None = None) -> str:
    """The MTL; ``texture``: file name of a ``face3d.texture`` albedo atlas for every material (``map_Kd``)."""
    out = ["# face3d: ICT-FaceKit materials\n"]
    for name in model.material_names:
        r, g, b = (1.0, 1.0, 1.0) if texture else MATERIAL_COLOURS.get(name, (0.5, 0.5, 0.5))
        out.append(f"newmtl {name}\nKd {r:.3f} {g:.3f} {b:.3f}\nKa 0 0 0\nKs 0.05 0.05 0.05\nNs 18\nillum 2\n"
                   + (f"map_Kd {texture}\n" if texture else ""))
    return "\n".join(out)


def write_obj(path: Path, vertices: np.ndarray, model, mtl_name: str, scale: float = 0.01,
              normals: np.ndarray | None = None, uvs: np.ndarray | None = None) -> None:
    """Quads and triangles as upstream, with UVs and vertex normals (``f v/vt/vn``), smoothing on, one
    ``usemtl`` per material run. ``vertices [V,3]`` cm, written times ``scale`` (0.01: metres)."""
    buf = io.StringIO()
    unit = "m" if scale == 0.01 else "cm" if scale == 1 else f"{scale} x cm"
    buf.write(f"# face3d: ICT-FaceKit topology, units {unit}, y up, the face looks down +z\nmtllib {mtl_name}\n")
    np.savetxt(buf, vertices * scale, fmt="v %.7g %.7g %.7g")
    np.savetxt(buf, model.uvs if uvs is None else uvs, fmt="vt %.6f %.6f")  # uvs: an atlas's (texture.atlas_uvs)
    np.savetxt(buf, model.vertex_normals(vertices) if normals is None else normals, fmt="vn %.5f %.5f %.5f")
    buf.write("s 1\n")  # smooth shading: the vertex normals above
    polys, uvp, mats = model.polygons + 1, model.uv_polygons + 1, model.polygon_materials
    starts = np.flatnonzero(np.r_[True, mats[1:] != mats[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], len(mats)]):
        buf.write(f"usemtl {model.material_names[mats[s]]}\n")
        for p, t in zip(polys[s:e], uvp[s:e]):
            n = 4 if p[3] > 0 else 3
            buf.write("f " + " ".join(f"{p[k]}/{t[k]}/{p[k]}" for k in range(n)) + "\n")
    path.write_text(buf.getvalue())


# ---------------------------------------------------------------------------------------------- upstream OBJ

_V = re.compile(rb"^v ([^\n]*)", re.M)


def parse_obj_vertices(data: bytes) -> np.ndarray:
    """[V, 3] float32 vertex positions of an OBJ file's ``v`` lines."""
    rows = _V.findall(data)
    return np.array(b" ".join(rows).split(), dtype=np.float32).reshape(len(rows), 3)


def parse_obj_faces(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Polygons of an OBJ (triangles and quads) as ``faces [F,4]``, ``uv_faces [F,4]`` (0-based, -1 pads a
    triangle), ``uvs [Vt,2]`` and the material name of each face."""
    faces, uv_faces, materials, uvs = [], [], [], []
    material = ""
    for line in data.split(b"\n"):
        if line.startswith(b"f "):
            corners = [c.split(b"/") for c in line.split()[1:]]
            pad = [-1] * (4 - len(corners))
            faces.append([int(c[0]) - 1 for c in corners] + pad)
            uv_faces.append([int(c[1]) - 1 for c in corners] + pad)
            materials.append(material)
        elif line.startswith(b"vt "):
            uvs.append(line.split()[1:3])
        elif line.startswith(b"usemtl "):
            material = line.split()[1].decode()
    return (np.array(faces, np.int32), np.array(uv_faces, np.int32),
            np.array(uvs, np.float32), materials)
