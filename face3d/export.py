"""Mesh files: every format face3d writes lives here (OBJ + MTL, PLY, glTF binary with morph targets).

A face is written from its expression-free ``vertices [V,3]`` (identity applied, cm) and its expression
``weights [53]``. OBJ and PLY bake the expression in; GLB keeps the 53 expressions as morph targets named by
ARKit, sets the mesh's default weights to ``weights`` and can carry a weight animation.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pygltflib as gl

from .errors import BadInput
from .io import atomic_file

FORMATS = (".obj", ".ply", ".glb")

# Diffuse colours of the ICT materials (from ICTFaceModelMaterial.mtl), softened to skin/eye tones.
_MATERIAL_COLOURS = {
    "M_Face": (0.80, 0.62, 0.52), "M_BackHead": (0.80, 0.62, 0.52), "M_GumsTongue": (0.62, 0.25, 0.28),
    "M_Teeth": (0.92, 0.90, 0.84), "M_ScleraLeft": (0.95, 0.95, 0.93), "M_ScleraRight": (0.95, 0.95, 0.93),
    "M_IrisLeft": (0.25, 0.18, 0.12), "M_IrisRight": (0.25, 0.18, 0.12), "M_EyeLashes": (0.08, 0.06, 0.05),
}


def save_mesh(path: str | Path, vertices: np.ndarray, model, weights: np.ndarray | None = None,
              animation: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
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
    weights = np.zeros(len(model.expression_names), np.float32) if weights is None else np.asarray(weights, np.float32)
    deltas = model.expression_basis.detach().cpu().numpy()
    with atomic_file(path) as tmp:
        if suffix == ".glb":
            write_glb(tmp, vertices, deltas, model, weights, animation)
        else:
            baked = vertices + np.tensordot(weights, deltas, 1)
            if suffix == ".obj":
                write_obj(tmp, baked, model, mtl_name=path.with_suffix(".mtl").name)
            else:
                write_ply(tmp, baked, model)
    if suffix == ".obj":
        with atomic_file(path.with_suffix(".mtl")) as tmp:
            tmp.write_text(_mtl(model))
    return path


# ---------------------------------------------------------------------------------------------- OBJ / PLY

def _mtl(model) -> str:
    out = []
    for name in model.material_names:
        r, g, b = _MATERIAL_COLOURS.get(name, (0.5, 0.5, 0.5))
        out.append(f"newmtl {name}\nKd {r:.3f} {g:.3f} {b:.3f}\nKa 0 0 0\nKs 0.05 0.05 0.05\nNs 18\nillum 2\n")
    return "\n".join(out)


def write_obj(path: Path, vertices: np.ndarray, model, mtl_name: str) -> None:
    """Quads and triangles as upstream, with UVs (``f v/vt``) and one ``usemtl`` per material run."""
    buf = io.StringIO()
    buf.write(f"# face3d: ICT-FaceKit topology\nmtllib {mtl_name}\n")
    np.savetxt(buf, vertices, fmt="v %.6f %.6f %.6f")
    np.savetxt(buf, model.uvs, fmt="vt %.6f %.6f")
    polys, uvp, mats = model.polygons + 1, model.uv_polygons + 1, model.polygon_materials
    starts = np.flatnonzero(np.r_[True, mats[1:] != mats[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], len(mats)]):
        buf.write(f"usemtl {model.material_names[mats[s]]}\n")
        for p, t in zip(polys[s:e], uvp[s:e]):
            n = 4 if p[3] > 0 else 3
            buf.write("f " + " ".join(f"{p[k]}/{t[k]}" for k in range(n)) + "\n")
    path.write_text(buf.getvalue())


def write_ply(path: Path, vertices: np.ndarray, model) -> None:
    import trimesh
    mesh = trimesh.Trimesh(vertices, model.faces.cpu().numpy(), process=False)
    path.write_bytes(mesh.export(file_type="ply"))


# ---------------------------------------------------------------------------------------------- glTF

def split_seams(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """glTF needs one UV per vertex: split vertices along UV seams.

    Returns ``source [N]`` (model vertex of each output vertex), ``uv [N,2]`` and ``triangles [F,3]``
    indexing the output vertices. Every model vertex appears at least once.
    """
    tris = model.faces.cpu().numpy().reshape(-1)
    uv_tris = model.uv_faces.reshape(-1)
    pairs, inverse = np.unique(np.stack([tris, uv_tris], 1), axis=0, return_inverse=True)
    return pairs[:, 0], model.uvs[pairs[:, 1]], inverse.reshape(-1, 3).astype(np.uint32)


class _Buffer:
    """Accumulates binary chunks, bufferViews and accessors for one glTF."""

    def __init__(self, gltf: gl.GLTF2):
        self.gltf, self.data = gltf, bytearray()

    def view(self, array: np.ndarray, target: int | None = None) -> int:
        while len(self.data) % 4:
            self.data.append(0)
        raw = np.ascontiguousarray(array).tobytes()
        self.gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(raw), target=target))
        self.data.extend(raw)
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False) -> int:
        ctype = {np.float32: gl.FLOAT, np.uint32: gl.UNSIGNED_INT}[array.dtype.type]
        acc = gl.Accessor(bufferView=self.view(array, target), componentType=ctype, count=len(array), type=kind)
        if bounds:
            acc.min, acc.max = _bounds(array)
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1

    def sparse_vec3(self, array: np.ndarray) -> int:
        """A VEC3 float accessor stored sparsely (morph deltas are zero away from the moving region)."""
        nz = np.flatnonzero(np.any(array != 0, axis=1)).astype(np.uint32)
        if len(nz) * 2 > len(array) or len(nz) == 0:
            return self.accessor(array, gl.VEC3, bounds=True)
        acc = gl.Accessor(componentType=gl.FLOAT, count=len(array), type=gl.VEC3, sparse=gl.Sparse(
            count=len(nz), indices=gl.AccessorSparseIndices(bufferView=self.view(nz), componentType=gl.UNSIGNED_INT),
            values=gl.AccessorSparseValues(bufferView=self.view(array[nz]))))
        acc.min, acc.max = _bounds(array)
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def _bounds(array: np.ndarray) -> tuple[list, list]:
    a = array.reshape(len(array), -1)
    return a.min(0).tolist(), a.max(0).tolist()


def write_glb(path: Path, vertices: np.ndarray, deltas: np.ndarray, model, weights: np.ndarray,
              animation: tuple[np.ndarray, np.ndarray] | None) -> None:
    """GLB with one mesh: positions/normals/UVs/colours, 53 sparse morph targets, optional animation.

    Units become metres (glTF's); ``deltas [53,V,3]`` in cm like ``vertices``.
    """
    source, uv, triangles = split_seams(model)
    scale = np.float32(0.01)
    pos = vertices[source] * scale
    normals = model.vertex_normals(vertices)[source].astype(np.float32)
    colours = _vertex_colours(model)[source]
    gltf = gl.GLTF2(asset=gl.Asset(generator="face3d"), scene=0, scenes=[gl.Scene(nodes=[0])],
                    nodes=[gl.Node(name="face", mesh=0)])
    buf = _Buffer(gltf)
    attributes = gl.Attributes(
        POSITION=buf.accessor(pos, gl.VEC3, gl.ARRAY_BUFFER, bounds=True),
        NORMAL=buf.accessor(normals, gl.VEC3, gl.ARRAY_BUFFER),
        TEXCOORD_0=buf.accessor(np.stack([uv[:, 0], 1 - uv[:, 1]], 1).astype(np.float32), gl.VEC2, gl.ARRAY_BUFFER),
        COLOR_0=buf.accessor(colours, gl.VEC4, gl.ARRAY_BUFFER))
    targets = [gl.Attributes(POSITION=buf.sparse_vec3(d[source] * scale)) for d in deltas]
    indices = buf.accessor(triangles.reshape(-1), gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER)
    gltf.materials = [gl.Material(name="skin", alphaMode=gl.MASK, alphaCutoff=0.5, pbrMetallicRoughness=gl.PbrMetallicRoughness(
        baseColorFactor=[1, 1, 1, 1], metallicFactor=0.0, roughnessFactor=0.6))]
    gltf.meshes = [gl.Mesh(name="face", primitives=[gl.Primitive(attributes=attributes, indices=indices, material=0,
                                                                 targets=targets)],
                           weights=[float(w) for w in weights], extras={"targetNames": list(model.target_names)})]
    if animation is not None:
        times, frames = (np.asarray(a, np.float32) for a in animation)
        if frames.shape != (len(times), len(deltas)):
            raise ValueError(f"animation weights must be [T,{len(deltas)}], got {frames.shape}")
        t_acc = buf.accessor(times, gl.SCALAR, bounds=True)
        w_acc = buf.accessor(frames.reshape(-1), gl.SCALAR)
        gltf.animations = [gl.Animation(name="speech", samplers=[gl.AnimationSampler(input=t_acc, output=w_acc)],
                                        channels=[gl.AnimationChannel(sampler=0, target=gl.AnimationChannelTarget(
                                            node=0, path="weights"))])]
    gltf.buffers = [gl.Buffer(byteLength=len(buf.data))]
    gltf.set_binary_blob(bytes(buf.data))
    gltf.save_binary(str(path))


def _vertex_colours(model) -> np.ndarray:
    """[V,4] linear RGBA per model vertex from the material of the polygons that use it.

    Alpha is 0 on the eye overlays (occlusion, blend, lacrimal fluid) and on the cornea bulge of the sclera:
    upstream these are transparent shader effects, drawn opaque they hide the eyes. The material's alpha
    mask discards them while every vertex stays in the mesh.
    """
    colours = np.array([_MATERIAL_COLOURS.get(n, (0.5, 0.5, 0.5)) for n in model.material_names], np.float32)
    out = np.ones((model.n_vertices, 4), np.float32)
    polys = model.polygons
    for k in range(4):
        ok = polys[:, k] >= 0
        out[polys[ok, k], :3] = colours[model.polygon_materials[ok]]
    out[:, :3] **= 2.2  # glTF vertex colours are linear
    for region in ("lacrimal_fluid_left", "lacrimal_fluid_right", "eye_blend_left", "eye_blend_right",
                   "eye_occlusion_left", "eye_occlusion_right"):
        v0, v1 = model.regions[region][:2]
        out[v0:v1, 3] = 0
    out[_cornea(model), 3] = 0
    return out


def _cornea(model) -> np.ndarray:
    """Sclera vertices in front of the iris (the transparent cornea bulge)."""
    v = model.neutral.cpu().numpy()
    out = []
    for side in ("left", "right"):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        split = e0 + 770  # the first 770 eyeball vertices are the sclera, the rest the iris (ICT README)
        iris_front = v[split:e1, 2].max()
        out.append(np.arange(e0, split)[v[e0:split, 2] > iris_front - _CORNEA_DEPTH])
    return np.concatenate(out)


_CORNEA_DEPTH = 0.15  # cm


def read_target_names(path: str | Path) -> list[str]:
    """Morph-target names of the first mesh of a GLB (``extras.targetNames``)."""
    g = gl.GLTF2.load(str(path))
    return list((g.meshes[0].extras or {}).get("targetNames", []))
