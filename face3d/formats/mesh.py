"""Mesh files: every format face3d writes lives here (OBJ + MTL, PLY, glTF binary, USD).

A face is written from its expression-free ``vertices [V,3]`` (identity applied, cm) and its expression
``weights [53]`` (ICT order; ``tongue`` is ARKit's tongueOut, which ICT lacks). OBJ and PLY bake the
expression in; GLB and USD keep the expressions as blend shapes (ARKit's 52 names, or ICT's 53 with
``targets="ict"``), set the default weights to ``weights`` (or bake them with ``bake``) and can carry an
animation (``curves``). Units: metres in every format (OBJ/PLY ``units="cm"`` keeps the model's cm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..curves import Curves
from ..errors import BadInput
from .atomic import atomic_files
from .gltf import write_glb
from .obj import mtl_text, write_obj
from .ply import write_ply

FORMATS = (".obj", ".ply", ".glb", ".usda", ".usdc", ".usd")
_SCALE = {"m": 0.01, "cm": 1.0}


def save_mesh(path: str | Path, vertices: np.ndarray, model, weights: np.ndarray | None = None,
              animation: tuple[np.ndarray, np.ndarray] | Curves | None = None, overwrite: bool = False,
              targets: str = "arkit", tongue: float = 0.0, bake: bool = False, units: str = "m",
              texture: bytes | None = None) -> Path:
    """Write a face mesh atomically; the format follows the suffix (.obj, .ply, .glb, .usda/.usdc/.usd).

    ``vertices [V,3]`` expression-free mesh (cm); ``model`` the ``FaceModel`` (topology, UVs, expression
    basis); ``weights [53]`` expression in ICT order, ``tongue`` the tongueOut weight; ``animation``:
    ``Curves`` or ``(times [T] s, weights [T,53])`` (GLB and USD only); ``targets``: ``arkit`` | ``ict``;
    ``bake``: the expression goes into the mesh, default weights 0 (GLB, USD); ``units``: ``m`` | ``cm``
    (OBJ, PLY; GLB and USD are always metres); ``texture``: PNG bytes of a ``face3d.texture`` albedo atlas
    (GLB: embedded; OBJ, USD: written beside it as ``<name>.png``, OBJ's ``map_Kd``, USD's UsdUVTexture).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInput(f"{path}: unsupported mesh format '{suffix}' (use {', '.join(FORMATS)})")
    if animation is not None and suffix in (".obj", ".ply"):
        raise BadInput(f"{path}: animation needs a .glb or USD output")
    if targets not in ("arkit", "ict"):
        raise BadInput(f"unknown target set '{targets}' (use arkit or ict)")
    if units not in _SCALE:
        raise BadInput(f"unknown units '{units}' (use m or cm)")
    vertices = np.asarray(vertices, np.float32)
    if vertices.shape != (model.n_vertices, 3) or not np.isfinite(vertices).all():
        raise BadInput(f"{path}: the mesh to write is not {model.n_vertices} finite 3D points")
    weights = np.zeros(len(model.expression_names), np.float32) if weights is None else np.asarray(weights, np.float32)
    if isinstance(animation, tuple):
        animation = Curves(*animation)
    outputs = [path, path.with_suffix(".mtl")] if suffix == ".obj" else [path]
    if texture is not None and suffix in (".obj", ".usda", ".usdc", ".usd"):
        outputs.append(path.with_suffix(".png"))
    with atomic_files(outputs, overwrite) as tmps:
        if suffix == ".glb":
            write_glb(tmps[0], vertices, model, weights, animation, targets=targets, tongue=tongue, bake=bake,
                      texture=texture)
        elif suffix in (".usda", ".usdc", ".usd"):
            from .usd import write_usd

            if texture is not None:
                tmps[-1].write_bytes(texture)
            write_usd(tmps[0], vertices, model, weights, animation, targets=targets, tongue=tongue, bake=bake,
                      suffix=suffix, texture_file=path.with_suffix(".png").name if texture is not None else None)
        else:
            from ..rig import expression_offset

            baked = vertices + expression_offset(model, weights, tongue)
            if suffix == ".obj":
                uvs = None
                if texture is not None:
                    from ..texture import atlas_uvs

                    uvs = atlas_uvs(model)
                    tmps[2].write_bytes(texture)
                write_obj(tmps[0], baked, model, mtl_name=path.with_suffix(".mtl").name, scale=_SCALE[units], uvs=uvs)
                tmps[1].write_text(mtl_text(model, path.with_suffix(".png").name if texture is not None else None))
            else:
                write_ply(tmps[0], baked, model, scale=_SCALE[units])
    return path
