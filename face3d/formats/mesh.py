"""Mesh files: every format face3d writes lives here (OBJ + MTL, PLY, glTF binary with morph targets).

A face is written from its expression-free ``vertices [V,3]`` (identity applied, cm) and its expression
``weights [53]``. OBJ and PLY bake the expression in; GLB keeps the 53 expressions as morph targets named by
ARKit, sets the mesh's default weights to ``weights`` and can carry a weight animation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput
from .atomic import atomic_files
from .gltf import write_glb
from .obj import mtl_text, write_obj
from .ply import write_ply

FORMATS = (".obj", ".ply", ".glb")

def save_mesh(path: str | Path, vertices: np.ndarray, model, weights: np.ndarray | None = None,
              animation: tuple[np.ndarray, np.ndarray] | None = None, overwrite: bool = False) -> Path:
    """Write a face mesh atomically; the format follows the suffix (.obj, .ply, .glb).

    ``vertices [V,3]`` expression-free mesh (cm); ``model`` the ``FaceModel`` (topology, UVs, expression
    basis); ``weights [53]`` expression in ICT order; ``animation = (times [T] s, weights [T,53])`` (GLB only).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInput(f"{path}: unsupported mesh format '{suffix}' (use {', '.join(FORMATS)})")
    if animation is not None and suffix != ".glb":
        raise BadInput(f"{path}: animation needs a .glb output")
    vertices = np.asarray(vertices, np.float32)
    if vertices.shape != (model.n_vertices, 3) or not np.isfinite(vertices).all():
        raise BadInput(f"{path}: the mesh to write is not {model.n_vertices} finite 3D points")
    weights = np.zeros(len(model.expression_names), np.float32) if weights is None else np.asarray(weights, np.float32)
    deltas = model.expression_basis.detach().cpu().numpy()
    outputs = [path, path.with_suffix(".mtl")] if suffix == ".obj" else [path]
    with atomic_files(outputs, overwrite) as tmps:
        if suffix == ".glb":
            write_glb(tmps[0], vertices, deltas, model, weights, animation)
        else:
            baked = vertices + np.tensordot(weights, deltas, 1)
            if suffix == ".obj":
                write_obj(tmps[0], baked, model, mtl_name=path.with_suffix(".mtl").name)
                tmps[1].write_text(mtl_text(model))
            else:
                write_ply(tmps[0], baked, model)
    return path
