"""glTF binary (GLB): the face as one skinned mesh with morph targets (ARKit's 52 names by default), a
four-joint skeleton (neck, head, eyes) and an optional animation of the weights and joint rotations.

Layout, chosen so that the Khronos validator reports nothing and the file stays small (≤ 6 MB):
- node 0 ``face``: the mesh, skinned, at the scene root (glTF ignores a skinned node's own transform);
  node 1 ``rig``: scale ``UNIT`` (metres per stored position unit); under it the joints ``neck`` → ``head``
  → ``eyeLeft``, ``eyeRight`` (translations in stored units, rest rotations identity).
- positions are stored in units of ``UNIT`` = 10 µm so that morph deltas fit int16 exactly enough
  (KHR_mesh_quantization; error ≤ 5 µm); the rig's scale brings everything back to metres.
- primitive 0: skin, eyes, teeth (alpha mask: the eye overlay shells have alpha 0); primitive 1: the
  eyelash cards, alpha-blended, opaque at the lid and fading to the tip.
- morph targets: sparse POSITION (int16, deltas under 1e-5 m dropped) and NORMAL (int8 normalised,
  changes under 1/254 dropped) with 16-bit indices; normals int8, vertex colours 16-bit.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pygltflib as gl

from ..curves import Curves
from ..materials import eyelash_alpha, split_seams, vertex_colours
from ..rig import (JOINT_NAMES, JOINT_PARENTS, build_rig, euler_to_quat, quat_to_euler, rest_shape,
                   target_deltas, target_names, target_weights)

UNIT = 1e-5  # metres per stored position unit
_DROP_POSITION = 1e-5  # m: morph deltas smaller than this are not stored
_QUANTISATION = "KHR_mesh_quantization"
_BYTE, _UBYTE, _SHORT, _USHORT = gl.BYTE, gl.UNSIGNED_BYTE, gl.SHORT, gl.UNSIGNED_SHORT
_CTYPE = {np.float32: gl.FLOAT, np.uint32: gl.UNSIGNED_INT, np.uint16: _USHORT, np.int16: _SHORT,
          np.uint8: _UBYTE, np.int8: _BYTE}
_DTYPE = {v: k for k, v in _CTYPE.items()}
_WIDTH = {gl.SCALAR: 1, gl.VEC2: 2, gl.VEC3: 3, gl.VEC4: 4, gl.MAT4: 16}


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

    def accessor(self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False,
                 normalized: bool = False) -> int:
        acc = gl.Accessor(bufferView=self.view(array, target), componentType=_CTYPE[array.dtype.type],
                          count=len(array), type=kind, normalized=normalized or None)
        if bounds:
            acc.min, acc.max = _bounds(array)
        return self._add(acc)

    def sparse(self, array: np.ndarray, keep: np.ndarray, kind: str, bounds: bool = False,
               normalized: bool = False) -> int:
        """An accessor of ``array [N, C]`` that is zero except at the rows ``keep`` (sparse storage; no
        bufferView at all when nothing is kept: glTF reads that as all zeros)."""
        nz = np.flatnonzero(keep)
        acc = gl.Accessor(componentType=_CTYPE[array.dtype.type], count=len(array), type=kind,
                          normalized=normalized or None, byteOffset=None)
        if len(nz):
            itype = np.uint16 if len(array) <= 65535 else np.uint32
            acc.sparse = gl.Sparse(count=len(nz), indices=gl.AccessorSparseIndices(
                bufferView=self.view(nz.astype(itype)), componentType=_CTYPE[itype], byteOffset=None),
                values=gl.AccessorSparseValues(bufferView=self.view(array[nz]), byteOffset=None))
        if bounds:
            full = np.zeros_like(array)
            full[nz] = array[nz]
            acc.min, acc.max = _bounds(full)
        return self._add(acc)

    def padded_vec3(self, array: np.ndarray, target: int) -> int:
        """A normalised VEC3 of 8-bit ``array [N, 3]`` stored 4 bytes a vertex (vertex attributes must be
        4-byte aligned)."""
        padded = np.zeros((len(array), 4), array.dtype)
        padded[:, :3] = array
        view = self.view(padded, target)
        self.gltf.bufferViews[view].byteStride = 4
        return self._add(gl.Accessor(bufferView=view, componentType=_CTYPE[array.dtype.type], count=len(array),
                                     type=gl.VEC3, normalized=True))

    def _add(self, acc: gl.Accessor) -> int:
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def _bounds(array: np.ndarray) -> tuple[list, list]:
    a = array.reshape(len(array), -1)
    lo, hi = a.min(0), a.max(0)
    if a.dtype.kind == "f":
        return [float(x) for x in lo], [float(x) for x in hi]
    return [int(x) for x in lo], [int(x) for x in hi]


def _normals(model, vertices: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals of meshes ``vertices [..., V, 3]`` (one sparse product for a
    whole stack of targets, where ``geometry.vertex_normals`` takes 0.1 s a mesh)."""
    import scipy.sparse as sp

    tris = model.faces.cpu().numpy()
    v = np.asarray(vertices, np.float32)
    lead = v.shape[:-2]
    v = v.reshape(-1, *v.shape[-2:])
    p = v[:, tris]  # [K, F, 3, 3]
    fn = np.cross(p[:, :, 1] - p[:, :, 0], p[:, :, 2] - p[:, :, 0])  # [K, F, 3]
    incidence = sp.csr_matrix((np.ones(tris.size, np.float32), (tris.reshape(-1), np.repeat(np.arange(len(tris)), 3))),
                              shape=(v.shape[1], len(tris)))
    n = (incidence @ fn.transpose(1, 0, 2).reshape(len(tris), -1)).reshape(v.shape[1], len(v), 3).transpose(1, 0, 2)
    length = np.linalg.norm(n, axis=2, keepdims=True)
    n = np.where(length > 1e-12, n / np.maximum(length, 1e-12), np.float32([0, 0, 1]))  # isolated vertices
    return n.astype(np.float32).reshape(*lead, -1, 3)


def _unit_int8(n: np.ndarray) -> np.ndarray:
    """Unit vectors ``[N, 3]`` as int8 (normalised), rounded so that they stay unit within 1 % (1/127)."""
    q = np.rint(n * 127)
    return np.clip(np.rint(q / np.linalg.norm(q, axis=1, keepdims=True) * 127), -127, 127).astype(np.int8)


JPEG_QUALITY = 95  # an albedo atlas: 4x smaller than PNG, 0.4 % mean error (8-bit), keeps a fit GLB under 6 MB


def _embedded_image(png: bytes) -> tuple[bytes, str]:
    """The bytes and MIME type a GLB embeds for a PNG texture: opaque ones re-encoded as JPEG."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.mode not in ("RGB", "L"):
        return png, "image/png"
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue(), "image/jpeg"


def write_glb(path: Path, vertices: np.ndarray, model, weights: np.ndarray | None = None,
              curves: Curves | None = None, targets: str = "arkit", tongue: float = 0.0, bake: bool = False,
              animation_name: str = "animation", texture: bytes | None = None,
              root_motion: np.ndarray | None = None) -> None:
    """Write the face ``vertices [V,3]`` (cm, expression-free) as a GLB at ``path``.

    ``weights [53]`` ICT expression (+ ``tongue``, the tongueOut weight) becomes the mesh's default morph
    weights, or with ``bake`` is added into the stored mesh (default weights 0, for viewers that ignore
    default weights). ``targets``: ``arkit`` (52 ARKit names) or ``ict`` (ICT's 53 shapes). ``curves``
    adds one animation: morph weights and, through the joints, head (``curves.head``) and eye rotations
    (``curves.eye_angles()``); ``root_motion [T,3]`` (metres, with ``curves``) moves the whole rig per frame
    (a tracked head that moves in its clip). ``texture``: PNG bytes of a ``face3d.texture`` albedo atlas,
    embedded as the skin's baseColorTexture (UVs move into the atlas; an opaque one as JPEG, see
    ``_embedded_image``). Callers write to a temporary of ``formats.atomic``.
    """
    names = target_names(targets)
    deltas = target_deltas(model, targets)  # [K, V, 3] cm
    base, default = rest_shape(model, vertices, weights, targets, tongue, bake)
    normals = _normals(model, base)
    rig = build_rig(base, model)
    to_units = np.float32(0.01 / UNIT)
    source, uv, triangles = split_seams(model)
    colours = vertex_colours(model)
    alpha = eyelash_alpha(model)
    colours[alpha >= 0, 3] = alpha[alpha >= 0]
    if texture is not None:  # the atlas carries the colour: white vertex colours (lashes keep theirs)
        from ..texture import split_atlas_uvs

        uv = split_atlas_uvs(model)
        colours[alpha < 0, :3] = 1
    lash = alpha[source] >= 0

    gltf = gl.GLTF2(asset=gl.Asset(generator="face3d", version="2.0"), scene=0,
                    scenes=[gl.Scene(name="face3d", nodes=[0, 1])], extensionsUsed=[_QUANTISATION],
                    extensionsRequired=[_QUANTISATION])
    buf = _Buffer(gltf)
    primitives = []
    target_rows = [np.flatnonzero(~lash), np.flatnonzero(lash)]
    d_pos = np.rint(deltas * to_units)  # [K, V, 3] in stored units
    keep_pos = np.linalg.norm(deltas, axis=2) * 0.01 >= _DROP_POSITION
    if np.abs(d_pos).max() > 32767:
        raise ValueError("a morph delta exceeds the int16 range of the stored units")
    d_nrm = _normals(model, base + deltas) - normals
    q_nrm = np.rint(np.clip(d_nrm, -1, 1) * 127)
    keep_nrm = np.abs(q_nrm).max(2) > 0
    for material, rows in enumerate(target_rows):
        vsrc = source[rows]
        remap = np.full(len(source), -1, np.int64)
        remap[rows] = np.arange(len(rows))
        tri_rows = lash[triangles[:, 0]] == bool(material)
        tris = remap[triangles[tri_rows]]
        itype = np.uint16 if len(rows) <= 65535 else np.uint32
        jw = np.rint(rig.joint_weights[vsrc] * 255).astype(np.int32)
        jw[:, 0] = 255 - jw[:, 1:].sum(1)  # quantised rows still sum to exactly 1
        jid = np.where(jw > 0, rig.joint_ids[vsrc], 0).astype(np.uint8)  # unused slots name joint 0
        attributes = gl.Attributes(
            POSITION=buf.accessor(base[vsrc] * to_units, gl.VEC3, gl.ARRAY_BUFFER, bounds=True),
            NORMAL=buf.padded_vec3(_unit_int8(normals[vsrc]), gl.ARRAY_BUFFER),
            TEXCOORD_0=buf.accessor(np.stack([uv[rows, 0], 1 - uv[rows, 1]], 1).astype(np.float32), gl.VEC2,
                                    gl.ARRAY_BUFFER),
            COLOR_0=buf.accessor(np.rint(np.clip(colours[vsrc], 0, 1) * 65535).astype(np.uint16), gl.VEC4,
                                 gl.ARRAY_BUFFER, normalized=True),
            JOINTS_0=buf.accessor(jid, gl.VEC4, gl.ARRAY_BUFFER),
            WEIGHTS_0=buf.accessor(jw.astype(np.uint8), gl.VEC4, gl.ARRAY_BUFFER, normalized=True))
        morphs = [gl.Attributes(
            POSITION=buf.sparse(d_pos[k][vsrc].astype(np.int16), keep_pos[k][vsrc], gl.VEC3, bounds=True),
            NORMAL=buf.sparse(q_nrm[k][vsrc].astype(np.int8), keep_nrm[k][vsrc], gl.VEC3, normalized=True))
            for k in range(len(names))]
        indices = buf.accessor(tris.reshape(-1).astype(itype), gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER)
        primitives.append(gl.Primitive(attributes=attributes, indices=indices, material=material, targets=morphs))
    base_texture = None
    if texture is not None:
        data, mime = _embedded_image(texture)
        gltf.images = [gl.Image(bufferView=buf.view(np.frombuffer(data, np.uint8)), mimeType=mime)]
        gltf.samplers = [gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR_MIPMAP_LINEAR, wrapS=gl.CLAMP_TO_EDGE,
                                    wrapT=gl.CLAMP_TO_EDGE)]
        gltf.textures = [gl.Texture(sampler=0, source=0)]
        base_texture = gl.TextureInfo(index=0)
    gltf.materials = [
        gl.Material(name="skin", alphaMode=gl.MASK, alphaCutoff=0.5, pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=[1, 1, 1, 1], metallicFactor=0.0, roughnessFactor=0.6, baseColorTexture=base_texture)),
        gl.Material(name="eyelashes", alphaMode=gl.BLEND, doubleSided=True, pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=[1, 1, 1, 1], metallicFactor=0.0, roughnessFactor=0.8))]
    gltf.meshes = [gl.Mesh(name="face", primitives=primitives, weights=[float(w) for w in default],
                           extras={"targetNames": names})]

    # Skeleton: rest rotations are identity, so each inverse bind matrix is a translation.
    joints = rig.joints * to_units
    gltf.nodes = [gl.Node(name="face", mesh=0, skin=0),
                  gl.Node(name="rig", scale=[UNIT] * 3, children=[2])]
    for j, (name, parent) in enumerate(zip(JOINT_NAMES, JOINT_PARENTS)):
        local = joints[j] - (joints[parent] if parent >= 0 else 0)
        children = [2 + c for c, p in enumerate(JOINT_PARENTS) if p == j]
        gltf.nodes.append(gl.Node(name=name, translation=[float(x) for x in local], children=children or None))
    ibm = np.tile(np.eye(4, dtype=np.float32), (len(JOINT_NAMES), 1, 1))
    ibm[:, 3, :3] = -joints  # column-major: the translation is the 4th column
    gltf.skins = [gl.Skin(name="face", joints=[2 + j for j in range(len(JOINT_NAMES))], skeleton=1,
                          inverseBindMatrices=buf.accessor(ibm.reshape(len(JOINT_NAMES), 16), gl.MAT4))]

    if curves is not None:
        _animation(buf, gltf, curves, targets, animation_name, root_motion)
    gltf.buffers = [gl.Buffer(byteLength=len(buf.data))]
    gltf.set_binary_blob(bytes(buf.data))
    gltf.save_binary(str(path))


def _animation(buf: _Buffer, gltf: gl.GLTF2, curves: Curves, targets: str, name: str,
               root_motion: np.ndarray | None = None) -> None:
    times = np.asarray(curves.times, np.float32)
    if len(times) == 0 or np.any(np.diff(times) <= 0):
        raise ValueError("animation times must be increasing")
    frames = target_weights(curves.weights, targets, curves.tongue)
    t_acc = buf.accessor(times, gl.SCALAR, bounds=True)
    samplers = [gl.AnimationSampler(input=t_acc, output=buf.accessor(frames.reshape(-1).astype(np.float32), gl.SCALAR))]
    channels = [gl.AnimationChannel(sampler=0, target=gl.AnimationChannelTarget(node=0, path="weights"))]
    rotations = {}
    if curves.head is not None:
        rotations[JOINT_NAMES.index("head")] = curves.head
    eyes = curves.eye_angles()
    rotations[JOINT_NAMES.index("eyeLeft")] = eyes[:, 0]
    rotations[JOINT_NAMES.index("eyeRight")] = eyes[:, 1]
    for joint, angles in rotations.items():
        q = euler_to_quat(angles).astype(np.float32)
        samplers.append(gl.AnimationSampler(input=t_acc, output=buf.accessor(q, gl.VEC4)))
        channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=gl.AnimationChannelTarget(
            node=2 + joint, path="rotation")))
    if root_motion is not None:
        move = np.asarray(root_motion, np.float32).reshape(len(times), 3)
        samplers.append(gl.AnimationSampler(input=t_acc, output=buf.accessor(move, gl.VEC3)))
        channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=gl.AnimationChannelTarget(
            node=1, path="translation")))
    gltf.animations = [gl.Animation(name=name, samplers=samplers, channels=channels)]


# ---------------------------------------------------------------------------------------------- reading

def read_accessor(g: gl.GLTF2, index: int) -> np.ndarray:
    """Decode accessor ``index`` of a loaded GLB to ``[count, width]`` (float32 for normalised integers,
    sparse substitution applied)."""
    blob = g.binary_blob()
    acc = g.accessors[index]
    width = _WIDTH[acc.type]
    dtype = _DTYPE[acc.componentType]

    def view(i, n, dt, offset=0):
        return np.frombuffer(blob, dt, n, (g.bufferViews[i].byteOffset or 0) + (offset or 0))

    out = np.zeros((acc.count, width), dtype)
    if acc.bufferView is not None:
        out[:] = view(acc.bufferView, acc.count * width, dtype, acc.byteOffset).reshape(-1, width)
    if acc.sparse:
        s = acc.sparse
        idx = view(s.indices.bufferView, s.count, _DTYPE[s.indices.componentType], s.indices.byteOffset)
        out[idx] = view(s.values.bufferView, s.count * width, dtype, s.values.byteOffset).reshape(-1, width)
    if acc.normalized:
        out = np.maximum(out / np.float32(np.iinfo(dtype).max), -1).astype(np.float32)
    return out


def read_target_names(path: str | Path) -> list[str]:
    """Morph-target names of the first mesh of a GLB (``extras.targetNames``)."""
    g = gl.GLTF2.load(str(path))
    return list((g.meshes[0].extras or {}).get("targetNames", []))


def read_curves(path: str | Path) -> Curves:
    """The first animation of a face3d GLB as ``Curves`` (ICT weights, tongueOut, head and eye angles)."""
    from ..names import ARKIT_NAMES, arkit_to_ict, ict_target_names

    g = gl.GLTF2.load(str(path))
    names = list((g.meshes[0].extras or {}).get("targetNames", []))
    if not g.animations:
        raise ValueError(f"{path}: no animation")
    anim = g.animations[0]
    times, weights, rot = None, None, {}
    joint_names = {i: n.name for i, n in enumerate(g.nodes)}
    for ch in anim.channels:
        sampler = anim.samplers[ch.sampler]
        times = read_accessor(g, sampler.input)[:, 0]
        values = read_accessor(g, sampler.output)
        if ch.target.path == "weights":
            weights = values.reshape(len(times), len(names))
        elif ch.target.path == "rotation":
            rot[joint_names[ch.target.node]] = quat_to_euler(values).astype(np.float32)
    if weights is None:
        raise ValueError(f"{path}: the animation has no morph weights")
    tongue = None
    if names == list(ARKIT_NAMES):
        tongue = weights[:, ARKIT_NAMES.index("tongueOut")]
        weights = arkit_to_ict(weights)
    elif names != ict_target_names():
        raise ValueError(f"{path}: morph targets are neither ARKit's 52 nor ICT's 53")
    eyes = np.stack([rot["eyeLeft"], rot["eyeRight"]], 1) if "eyeLeft" in rot and "eyeRight" in rot else None
    return Curves(times, weights, rot.get("head"), eyes, tongue)
