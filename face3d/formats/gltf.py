"""glTF binary (GLB): one mesh with ICT's expressions as morph targets named by ARKit, optional weight
animation. Units are metres (glTF's); face3d's meshes are in cm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib as gl

from ..materials import split_seams, vertex_colours

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
    colours = vertex_colours(model)[source]
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


def read_target_names(path: str | Path) -> list[str]:
    """Morph-target names of the first mesh of a GLB (``extras.targetNames``)."""
    g = gl.GLTF2.load(str(path))
    return list((g.meshes[0].extras or {}).get("targetNames", []))
