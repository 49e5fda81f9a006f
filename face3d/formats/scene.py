"""Meshes read back into a scene for the viewer and the offscreen renderer: GLB/glTF (morph targets, weight
animation, base-colour texture), OBJ, PLY, or a fit folder (``face3d fit`` output: mesh.glb + params.json's
camera and head pose, and the photo / albedo texture where the folder has them).

    scene = read_scene("talk.glb")          # Scene: arrays in cm, y up, face looking down +z
    w, v = scene.pose_at(t)                 # morph weights [K] and the mesh [N,3] at time t (joints too)

Everything is plain numpy; nothing here needs a GL context.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInput

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")
# Files of a fit folder that the viewer shows when present (the photo behind the face, an albedo texture).
PHOTO_NAMES = ("photo.jpg", "photo.png", "image.jpg", "image.png", "input.jpg", "input.png")
TEXTURE_NAMES = ("albedo.png", "texture.png", "albedo.jpg", "texture.jpg")


@dataclass
class Scene:
    """One mesh, what animates it and what surrounds it.

    positions: float32 [N,3] cm (glTF metres are scaled by 100); triangles: uint32 [F,3]; uv: float32 [N,2] or
    None (glTF convention: (0, 0) the image's top-left); colours: float32 [N,4] linear RGBA or None (alpha < 0.5
    hides a vertex's triangles: the eye overlay shells); weld: int64 [N] one id per distinct position (shared
    normals across UV seams); targets: float32 [K,N,3] morph deltas (cm) or None; target_names [K];
    weights: float32 [K] the still pose; times: float32 [T] s and frames: float32 [T,K] a weight animation or
    None; texture: uint8 [H,W,3] albedo or None; photo: uint8 [H,W,3] or None; camera: the photo's Camera or
    None; rotation [3] axis-angle rad / translation [3] cm: model -> camera space of the fit (or None);
    landmarks: int64 [L] vertex ids of the 68 iBUG points (ICT meshes only) or None; gloss: float32 [N] 0..1
    specular strength (eyes shine); motion: the skin's joint animation (head turns, gaze, a tracked head's
    translation) or None; opening: float64 [4] plane (unit normal n, offset k) such that a camera with
    ``n . x < k`` sees no triangle's back but the ``two_sided [F]`` ones (ICT meshes: the one opening is the
    neck's, the eyelash cards are seen from both sides), so a renderer may cull back faces there; None:
    never cull; path: where it came from.
    """

    positions: np.ndarray
    triangles: np.ndarray
    path: Path
    uv: np.ndarray | None = None
    colours: np.ndarray | None = None
    weld: np.ndarray | None = None
    targets: np.ndarray | None = None
    target_names: list[str] = field(default_factory=list)
    weights: np.ndarray | None = None
    times: np.ndarray | None = None
    frames: np.ndarray | None = None
    texture: np.ndarray | None = None
    photo: np.ndarray | None = None
    camera: object | None = None
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    gloss: np.ndarray | None = None
    motion: "Motion | None" = None
    opening: np.ndarray | None = None
    two_sided: np.ndarray | None = None

    def __post_init__(self):
        if self.weld is None:
            self.weld = weld_positions(self.positions)

    @property
    def keys(self) -> np.ndarray | None:
        """float32 [T] keyframe times of whatever animates (weights, joints), or None for a still mesh."""
        keys = [self.times] if self.frames is not None and self.times is not None else []
        keys += [] if self.motion is None else [c[2] for c in self.motion.channels]
        return np.unique(np.concatenate(keys)) if keys else None

    @property
    def animated(self) -> bool:
        keys = self.keys
        return keys is not None and len(keys) > 1

    @property
    def duration(self) -> float:
        """Seconds from the first to the last keyframe (0 for a still mesh)."""
        keys = self.keys
        return float(keys[-1] - keys[0]) if keys is not None and len(keys) > 1 else 0.0

    @property
    def fps(self) -> float:
        """The keyframe rate (median spacing) of an animation, 30 for a still mesh."""
        if not self.animated:
            return 30.0
        return float(round(1.0 / float(np.median(np.diff(self.keys))), 3))

    def weights_at(self, t: float) -> np.ndarray | None:
        """float32 [K] morph weights at time ``t`` s (glTF LINEAR sampling, clamped at the ends)."""
        if self.targets is None:
            return None
        if self.frames is None or len(self.times) < 2:
            return self.weights
        f, times = self.frames, self.times
        i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2))
        a = float(np.clip((t - times[i]) / max(times[i + 1] - times[i], 1e-9), 0, 1))
        return (1 - a) * f[i] + a * f[i + 1]

    def vertices(self, weights: np.ndarray | None = None) -> np.ndarray:
        """float32 [N,3] cm: the positions with ``weights [K]`` of the morph targets applied."""
        if self.targets is None or weights is None:
            return self.positions
        active = np.flatnonzero(np.abs(weights) > 1e-5)  # most weights are ~0 in a frame: skip their targets
        out = self.positions.copy()
        for k in active:
            out += weights[k] * self.targets[k]
        return out

    def pose_key(self, t: float):
        """What ``pose_at(t)`` depends on (equal keys, equal meshes): the weights, and ``t`` where joints move."""
        w = self.weights_at(t)
        return (None if w is None else w.tobytes(), None if self.motion is None else float(t))

    def pose_at(self, t: float) -> tuple[np.ndarray | None, np.ndarray]:
        """(morph weights [K] or None, float32 [N,3] cm vertices) at time ``t`` s: the weights, then the joints."""
        w = self.weights_at(t)
        v = self.vertices(w)
        return w, v if self.motion is None else self.motion.apply(v, t)

    def centre_radius(self) -> tuple[np.ndarray, float]:
        """Centre float32 [3] and radius (cm) of the visible vertices' bounding box."""
        p = self.positions if self.colours is None else self.positions[self.colours[:, 3] >= 0.5]
        lo, hi = p.min(0), p.max(0)
        return ((lo + hi) / 2).astype(np.float32), float(np.linalg.norm(hi - lo) / 2)

    def strongest(self, weights: np.ndarray | None, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` largest ``weights [K]`` with their target names, largest first."""
        if weights is None or not len(self.target_names):
            return []
        order = np.argsort(-weights)[:n]
        return [(self.target_names[k], float(weights[k])) for k in order]


@dataclass
class Motion:
    """The joint animation of a skinned glTF mesh, applied on top of the rest pose the scene holds.

    skin: float32 [N,J] skin weights (rows sum to 1); joints: [J] node ids; rest_inv: float64 [J,4,4] the
    inverses of the joints' world matrices at rest (a joint's skinning matrix at t times the inverse of its
    rest one is world_t x rest_inv: the inverse bind matrices cancel); parent: node -> parent node; rest: per
    node its local (translation [3], rotation xyzw [4], scale [3]) or a fixed [4,4] matrix; channels: (node,
    "translation"|"rotation"|"scale", times float32 [T], values [T,C], interpolation). glTF units are metres;
    the scene's are cm (translations are scaled by 100)."""

    skin: np.ndarray
    joints: list
    rest_inv: np.ndarray
    parent: dict
    rest: list
    channels: list

    def __post_init__(self):
        # nearly every vertex follows one joint alone: the main one moves all vertices, the others their own
        one = (self.skin > 0).sum(1) == 1
        self.main = int(np.argmax((self.skin[one] > 0).sum(0)))
        self.others = [(j, np.flatnonzero(one & (self.skin[:, j] > 0))) for j in range(len(self.joints))
                       if j != self.main]
        self.blended = np.flatnonzero(~one)

    def _local(self, node: int, t: float) -> np.ndarray:
        r = self.rest[node]
        if isinstance(r, np.ndarray):
            return r  # a node with a matrix cannot be animated (glTF)
        trs = dict(zip(("translation", "rotation", "scale"), r))
        for n, path, times, values, interp in self.channels:
            if n == node:
                trs[path] = _sample(times, values, t, interp, path == "rotation")
        m = np.diag([*trs["scale"], 1.0])
        m[:3, :3] = quat_matrix(trs["rotation"]) @ m[:3, :3]
        m[:3, 3] = trs["translation"]
        return m

    def deltas(self, t: float) -> np.ndarray:
        """float64 [J,4,4]: each joint's skinning matrix at ``t`` times its inverse at rest (metres)."""
        cache: dict[int, np.ndarray] = {}

        def world(i: int) -> np.ndarray:
            if i not in cache:
                cache[i] = (world(self.parent[i]) if i in self.parent else np.eye(4)) @ self._local(i, t)
            return cache[i]

        return np.stack([world(j) @ self.rest_inv[k] for k, j in enumerate(self.joints)])

    def apply(self, vertices: np.ndarray, t: float) -> np.ndarray:
        """float32 [N,3] cm: ``vertices [N,3]`` (cm, rest pose) moved by the joints at ``t`` s (linear blend)."""
        d = self.deltas(t)
        d[:, :3, 3] *= 100.0  # metres -> cm
        d = d.astype(np.float32)
        out = vertices @ d[self.main, :3, :3].T + d[self.main, :3, 3]
        for j, idx in self.others:
            out[idx] = vertices[idx] @ d[j, :3, :3].T + d[j, :3, 3]
        if len(self.blended):
            b = self.blended
            per = np.einsum("nj,jk->nk", self.skin[b], d[:, :3].reshape(len(d), 12)).reshape(-1, 3, 4)
            out[b] = np.einsum("nij,nj->ni", per[:, :, :3], vertices[b]) + per[:, :, 3]
        return out.astype(np.float32, copy=False)


def quat_matrix(q) -> np.ndarray:
    """float64 [3,3] rotation of a quaternion [4] in glTF's (x, y, z, w) order (normalised here)."""
    x, y, z, w = np.asarray(q, np.float64) / max(float(np.linalg.norm(q)), 1e-12)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _sample(times: np.ndarray, values: np.ndarray, t: float, interp: str, rotation: bool) -> np.ndarray:
    """A glTF sampler at ``t`` (clamped at the ends): STEP, LINEAR (rotations: normalised lerp on the short
    arc) or CUBICSPLINE (its values, without the tangents)."""
    if interp == "CUBICSPLINE":
        values = values[1::3]
    i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
    if interp == "STEP" or i == len(times) - 1:
        return values[i].astype(np.float64)
    a = float(np.clip((t - times[i]) / max(times[i + 1] - times[i], 1e-9), 0, 1))
    v0, v1 = values[i].astype(np.float64), values[i + 1].astype(np.float64)
    if rotation:
        v1 = v1 if v0 @ v1 >= 0 else -v1
        q = (1 - a) * v0 + a * v1
        return q / max(np.linalg.norm(q), 1e-12)
    return (1 - a) * v0 + a * v1


def _motion(g, blob_of, node_index: int, parts) -> Motion | None:
    """The joint animation of the mesh node's skin, or None (not skinned, or no joint is animated)."""
    node = g.nodes[node_index]
    if node.skin is None or any(p["joints"] is None for p in parts) or not g.animations:
        return None
    skin = g.skins[node.skin]
    channels = []
    for anim in g.animations[:1]:  # the first animation plays, as for the weights
        for ch in anim.channels:
            if ch.target.node is not None and ch.target.path in ("translation", "rotation", "scale"):
                smp = anim.samplers[ch.sampler]
                times = _accessor(g, blob_of, smp.input).reshape(-1).astype(np.float32)
                values = _accessor(g, blob_of, smp.output).astype(np.float32)
                channels.append((ch.target.node, ch.target.path, times, values.reshape(-1, values.shape[-1]),
                                 smp.interpolation or "LINEAR"))
    if not channels:
        return None
    parent = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}
    rest = [np.asarray(n.matrix, np.float64).reshape(4, 4).T if n.matrix else
            (np.asarray(n.translation or [0, 0, 0], np.float64), np.asarray(n.rotation or [0, 0, 0, 1], np.float64),
             np.asarray(n.scale or [1, 1, 1], np.float64)) for n in g.nodes]
    worlds = _world_matrices(g)
    rest_inv = np.linalg.inv(np.stack([worlds[j] for j in skin.joints]))
    joints = np.concatenate([p["joints"] for p in parts]).astype(np.int64)
    w = np.concatenate([p["skin_weights"] for p in parts]).astype(np.float32)
    dense = np.zeros((len(joints), len(skin.joints)), np.float32)
    np.add.at(dense, (np.repeat(np.arange(len(joints)), joints.shape[1]), joints.reshape(-1)), w.reshape(-1))
    dense /= np.maximum(dense.sum(1, keepdims=True), 1e-12)
    return Motion(dense, list(skin.joints), rest_inv, parent, rest, channels)


def weld_positions(positions: np.ndarray) -> np.ndarray:
    """int64 [N]: one id per distinct position (to 1e-4 cm), so normals are shared across UV seams."""
    key = np.round(positions / 1e-4).astype(np.int64)
    return np.unique(key, axis=0, return_inverse=True)[1].reshape(-1)


def read_scene(path: str | Path, photo: str | Path | None = None) -> Scene:
    """The scene in ``path``: a .glb/.gltf/.obj/.ply mesh or a fit folder; ``photo`` overrides the fit's
    photo (the image it was fitted to). Raises BadInput naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: not found")
    if path.is_dir():
        scene = _read_fit_folder(path)
    else:
        suffix = path.suffix.lower()
        if suffix not in MESH_SUFFIXES:
            raise BadInput(f"{path}: not a mesh or fit folder (use {', '.join(MESH_SUFFIXES)} or a `face3d fit` folder)")
        scene = _read_gltf(path) if suffix in (".glb", ".gltf") else _read_trimesh(path)
    if photo is not None:
        scene.photo = read_image(Path(photo), "photo")
    _ict_extras(scene)
    return scene


def _to_cm(pos: np.ndarray) -> np.ndarray:
    """OBJ/PLY carry no units: a head under 5 units across is in metres (face3d writes metres), else cm."""
    extent = float(np.ptp(pos, axis=0).max()) if len(pos) else 0.0
    return pos * np.float32(100.0) if 0 < extent < 5 else pos


def read_image(path: Path, what: str) -> np.ndarray:
    """uint8 [H,W,3] RGB of an image file; BadInput naming it when unreadable."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise BadInput(f"{path}: {what} not found")
    try:
        with Image.open(path) as im:
            if im.width * im.height > 64_000_000:
                raise BadInput(f"{path}: {what} too large ({im.width}x{im.height})")
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise BadInput(f"{path}: not a readable {what} image ({type(e).__name__})") from None


# ---------------------------------------------------------------------------------------------- glTF

_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}


def _accessor(g, blob_of, index: int) -> np.ndarray:
    """An accessor as an array [count, components] (sparse ones densified; normalised ints scaled to 0..1)."""
    acc = g.accessors[index]
    n, dtype = _COMPONENTS[acc.type], _DTYPES[acc.componentType]
    if acc.bufferView is not None:
        view = g.bufferViews[acc.bufferView]
        data = blob_of(view.buffer)
        start = (view.byteOffset or 0) + (acc.byteOffset or 0)
        itemsize = np.dtype(dtype).itemsize * n
        stride = view.byteStride or itemsize
        raw = np.frombuffer(data, np.uint8, count=stride * (acc.count - 1) + itemsize, offset=start)
        out = np.lib.stride_tricks.as_strided(raw, (acc.count, itemsize), (stride, 1)).copy().view(dtype)
        out = out.reshape(acc.count, n).astype(np.float32 if dtype == np.float32 else dtype)
    else:
        out = np.zeros((acc.count, n), dtype)
    if acc.sparse is not None:
        s = acc.sparse
        iv, vv = g.bufferViews[s.indices.bufferView], g.bufferViews[s.values.bufferView]
        idx = np.frombuffer(blob_of(iv.buffer), _DTYPES[s.indices.componentType], s.count,
                            (iv.byteOffset or 0) + (s.indices.byteOffset or 0))
        vals = np.frombuffer(blob_of(vv.buffer), dtype, s.count * n, (vv.byteOffset or 0) + (s.values.byteOffset or 0))
        out = out.copy()
        out[idx.astype(np.int64)] = vals.reshape(-1, n)
    if acc.normalized and dtype != np.float32:
        out = out.astype(np.float32) / np.iinfo(dtype).max
    return out


def _read_gltf(path: Path) -> Scene:
    import pygltflib as gl

    try:
        g = gl.GLTF2.load(str(path))
    except Exception as e:  # pygltflib raises anything from struct/json errors on a damaged file
        raise BadInput(f"{path}: not a readable glTF file ({type(e).__name__})") from None
    if g is None:
        raise BadInput(f"{path}: not a readable glTF file")
    blobs: dict[int, bytes] = {}

    def blob_of(i: int) -> bytes:
        if i not in blobs:
            buf = g.buffers[i]
            if i == 0 and g.binary_blob() is not None and not buf.uri:
                blobs[i] = g.binary_blob()
            elif buf.uri and buf.uri.startswith("data:"):
                import base64
                blobs[i] = base64.b64decode(buf.uri.split(",", 1)[1])
            elif buf.uri:
                blobs[i] = (path.parent / buf.uri).read_bytes()
            else:
                raise BadInput(f"{path}: buffer {i} has no data")
        return blobs[i]

    node_index = next((i for i, n in enumerate(g.nodes) if n.mesh is not None), None)
    mesh_index = g.nodes[node_index].mesh if node_index is not None else (0 if g.meshes else None)
    if mesh_index is None or not g.meshes[mesh_index].primitives:
        raise BadInput(f"{path}: holds no mesh")
    mesh = g.meshes[mesh_index]
    try:
        parts = [_read_primitive(g, blob_of, prim, path) for prim in mesh.primitives]
        parts = [p for p in parts if p is not None]
        if not parts:
            raise BadInput(f"{path}: its mesh has no positions")
        pos, tri, uv, colours, targets = _merge(parts)
        motion = None
        if node_index is not None:
            pos, targets = _rest_pose(g, blob_of, node_index, mesh.primitives, parts, pos, targets)
            motion = _motion(g, blob_of, node_index, parts)
        names = list((mesh.extras or {}).get("targetNames", [])) or [f"target{k}" for k in range(len(targets or []))]
        weights = np.asarray(mesh.weights or np.zeros(0 if targets is None else len(targets)), np.float32)
        times = frames = None
        for anim in g.animations or []:
            for ch in anim.channels:
                if ch.target.path == "weights" and targets is not None:
                    smp = anim.samplers[ch.sampler]
                    times = _accessor(g, blob_of, smp.input).reshape(-1).astype(np.float32)
                    frames = _accessor(g, blob_of, smp.output).reshape(len(times), -1).astype(np.float32)
                    break
            if times is not None:
                break
        texture = _gltf_texture(g, blob_of, mesh.primitives[0], path)
    except BadInput:
        raise
    except (IndexError, ValueError, TypeError, AttributeError, KeyError, OSError) as e:
        raise BadInput(f"{path}: a damaged glTF mesh ({type(e).__name__}: {e})") from None
    if len(tri) == 0 or len(pos) == 0 or tri.max() >= len(pos):
        raise BadInput(f"{path}: its mesh has no valid triangles")
    if not np.isfinite(pos).all():
        raise BadInput(f"{path}: its mesh holds positions that are not finite")
    if frames is not None and frames.shape[1] != len(targets):
        raise BadInput(f"{path}: its weight animation has {frames.shape[1]} channels for {len(targets)} targets")
    if colours is not None and (texture is not None):
        colours = colours.copy()
        colours[:, :3] = 1.0  # a texture carries the colour; vertex colours keep only their alpha mask
    scale = np.float32(100.0)  # glTF metres -> cm
    return Scene(pos * scale, tri, path, uv=uv, colours=colours,
                 targets=None if targets is None else targets * scale, target_names=names[:len(weights)],
                 weights=weights if targets is not None else None, times=times, frames=frames, texture=texture,
                 motion=motion)


def _read_primitive(g, blob_of, prim, path: Path):
    """One primitive's arrays (positions, triangles, uv, colours, targets, joints, weights), or None."""
    a = prim.attributes
    if a.POSITION is None:
        return None
    pos = _accessor(g, blob_of, a.POSITION).astype(np.float32)
    if prim.indices is not None:
        tri = _accessor(g, blob_of, prim.indices).reshape(-1, 3).astype(np.uint32)
    else:
        tri = np.arange(len(pos) - len(pos) % 3, dtype=np.uint32).reshape(-1, 3)
    uv = _accessor(g, blob_of, a.TEXCOORD_0).astype(np.float32) if a.TEXCOORD_0 is not None else None
    colours = None
    if a.COLOR_0 is not None:
        colours = _accessor(g, blob_of, a.COLOR_0).astype(np.float32)
        if colours.shape[1] == 3:
            colours = np.concatenate([colours, np.ones((len(colours), 1), np.float32)], 1)
    targets = None
    if prim.targets:
        # pygltflib gives morph targets as dicts or Attributes depending on how the file was made
        ids = [t.get("POSITION") if isinstance(t, dict) else t.POSITION for t in prim.targets]
        targets = np.stack([_accessor(g, blob_of, i).astype(np.float32) if i is not None else np.zeros_like(pos)
                            for i in ids]).astype(np.float32)
    joints = _accessor(g, blob_of, a.JOINTS_0).astype(np.int64) if a.JOINTS_0 is not None else None
    skin_w = _accessor(g, blob_of, a.WEIGHTS_0).astype(np.float32) if a.WEIGHTS_0 is not None else None
    return dict(pos=pos, tri=tri, uv=uv, colours=colours, targets=targets, joints=joints, skin_weights=skin_w)


def _merge(parts: list[dict]):
    """The primitives of one mesh as one vertex list (positions [N,3], triangles, uv, colours, targets)."""
    offsets = np.cumsum([0] + [len(p["pos"]) for p in parts])
    pos = np.concatenate([p["pos"] for p in parts])
    tri = np.concatenate([p["tri"] + np.uint32(o) for p, o in zip(parts, offsets)])
    uv = None if any(p["uv"] is None for p in parts) else np.concatenate([p["uv"] for p in parts])
    colours = None
    if any(p["colours"] is not None for p in parts):
        colours = np.concatenate([p["colours"] if p["colours"] is not None else np.ones((len(p["pos"]), 4), np.float32)
                                  for p in parts])
    targets = None
    if any(p["targets"] is not None for p in parts):
        k = max(len(p["targets"]) for p in parts if p["targets"] is not None)
        targets = np.concatenate([p["targets"][:k] if p["targets"] is not None and len(p["targets"]) >= k
                                  else np.zeros((k, len(p["pos"]), 3), np.float32) for p in parts], 1)
    return pos, tri, uv, colours, targets


def _node_matrix(node) -> np.ndarray:
    if node.matrix:
        return np.asarray(node.matrix, np.float64).reshape(4, 4).T  # glTF matrices are column-major
    m = np.eye(4)
    if node.scale:
        m = np.diag([*node.scale, 1.0]) @ m
    if node.rotation:
        r = np.eye(4)
        r[:3, :3] = quat_matrix(node.rotation)
        m = r @ m
    if node.translation:
        t = np.eye(4)
        t[:3, 3] = node.translation
        m = t @ m
    return m


def _world_matrices(g) -> dict[int, np.ndarray]:
    parent = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}
    out: dict[int, np.ndarray] = {}

    def world(i: int) -> np.ndarray:
        if i not in out:
            local = _node_matrix(g.nodes[i])
            out[i] = world(parent[i]) @ local if i in parent else local
        return out[i]

    for i in range(len(g.nodes)):
        world(i)
    return out


def _rest_pose(g, blob_of, node_index: int, prims, parts, pos, targets):
    """Positions and morph deltas in the scene's space at rest: the node's transform, or for a skinned mesh
    the skin's joint matrices (world x inverse bind) blended per vertex."""
    worlds = _world_matrices(g)
    node = g.nodes[node_index]
    if node.skin is None or any(p["joints"] is None for p in parts):
        m = worlds[node_index]
        lin = m[:3, :3].astype(np.float32)
        pos = pos @ lin.T + m[:3, 3].astype(np.float32)
        return pos, None if targets is None else targets @ lin.T
    skin = g.skins[node.skin]
    ibm = _accessor(g, blob_of, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1) \
        if skin.inverseBindMatrices is not None else np.tile(np.eye(4), (len(skin.joints), 1, 1))
    joint_m = np.stack([worlds[j] @ ibm[k] for k, j in enumerate(skin.joints)])  # [J,4,4]
    joints = np.concatenate([p["joints"] for p in parts])
    w = np.concatenate([p["skin_weights"] for p in parts]).astype(np.float64)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    per_vertex = np.einsum("nk,nkij->nij", w, joint_m[joints])  # [N,4,4]
    lin = per_vertex[:, :3, :3]
    pos = (np.einsum("nij,nj->ni", lin, pos) + per_vertex[:, :3, 3]).astype(np.float32)
    if targets is not None:
        targets = np.einsum("nij,knj->kni", lin, targets).astype(np.float32)
    return pos, targets


def _gltf_texture(g, blob_of, prim, path: Path) -> np.ndarray | None:
    """uint8 [H,W,3] of the primitive's base-colour texture, or None."""
    if prim.material is None:
        return None
    pbr = g.materials[prim.material].pbrMetallicRoughness
    if pbr is None or pbr.baseColorTexture is None:
        return None
    image = g.images[g.textures[pbr.baseColorTexture.index].source]
    if image.bufferView is not None:
        view = g.bufferViews[image.bufferView]
        data = blob_of(view.buffer)[(view.byteOffset or 0):(view.byteOffset or 0) + view.byteLength]
    elif image.uri and image.uri.startswith("data:"):
        import base64
        data = base64.b64decode(image.uri.split(",", 1)[1])
    else:
        data = (path.parent / image.uri).read_bytes()
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# ---------------------------------------------------------------------------------------------- OBJ / PLY

def _read_obj(path: Path) -> Scene | None:
    """An OBJ whose faces all carry UVs (``f v/vt``, as face3d writes), split along UV seams like the GLB
    writer does (so an ICT OBJ gets the same vertices as its GLB); None for other OBJs."""
    from ..model import triangulate
    from .obj import parse_obj_faces, parse_obj_vertices

    data = path.read_bytes()
    if b"\nf " not in data or not all(b"/" in line.split(b" ", 2)[1] for line in data.split(b"\n")
                                       if line.startswith(b"f ") and len(line.split()) > 1):
        return None
    try:
        pos = parse_obj_vertices(data)
        faces, uv_faces, uvs, _ = parse_obj_faces(data)
        tris, uv_tris = triangulate(faces)[0], triangulate(uv_faces)[0]
        if len(tris) == 0 or tris.max() >= len(pos) or uv_tris.max() >= len(uvs) or tris.min() < 0:
            raise ValueError("face indices out of range")
    except (ValueError, IndexError):
        return None  # let trimesh try (and name the problem)
    pairs, inverse = np.unique(np.stack([tris.reshape(-1), uv_tris.reshape(-1)], 1), axis=0, return_inverse=True)
    uv = uvs[pairs[:, 1]].copy()
    uv[:, 1] = 1 - uv[:, 1]  # OBJ's v = 0 is the image bottom; the scene keeps glTF's top-left origin
    texture = None
    mtl = path.with_suffix(".mtl")
    if mtl.is_file():
        for line in mtl.read_text(errors="replace").splitlines():
            if line.strip().startswith("map_Kd") and (path.parent / line.split()[-1]).is_file():
                texture = read_image(path.parent / line.split()[-1], "texture")
                break
    return Scene(_to_cm(pos[pairs[:, 0]]), inverse.reshape(-1, 3).astype(np.uint32), path, uv=uv, texture=texture)


def _read_trimesh(path: Path) -> Scene:
    import trimesh

    if path.suffix.lower() == ".obj":
        scene = _read_obj(path)
        if scene is not None:
            return scene

    try:
        mesh = trimesh.load(str(path), process=False, maintain_order=True, force="mesh")
    except Exception as e:  # trimesh raises many kinds on a damaged file
        raise BadInput(f"{path}: not a readable mesh ({type(e).__name__})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise BadInput(f"{path}: holds no mesh")
    pos = np.asarray(mesh.vertices, np.float32)
    if not np.isfinite(pos).all():
        raise BadInput(f"{path}: its mesh holds positions that are not finite")
    uv = texture = None
    visual = mesh.visual
    if getattr(visual, "uv", None) is not None and len(visual.uv) == len(pos):
        uv = np.asarray(visual.uv, np.float32).copy()
        uv[:, 1] = 1 - uv[:, 1]  # OBJ's v = 0 is the image bottom; the scene keeps glTF's top-left origin
        image = getattr(getattr(visual, "material", None), "image", None)
        if image is not None:
            texture = np.asarray(image.convert("RGB"))
    return Scene(_to_cm(pos), np.asarray(mesh.faces, np.uint32), path, uv=uv, texture=texture)


# ---------------------------------------------------------------------------------------------- fit folder

def _read_fit_folder(folder: Path) -> Scene:
    from .fitdir import read_fit

    mesh = folder / "mesh.glb"
    if not mesh.is_file():
        if (folder / "params.json").is_file() or any(folder.glob("face_*")):
            read_fit(folder)  # names the problem (several fits, incomplete folder) in one line
        raise BadInput(f"{folder}: not a fit folder (no mesh.glb; a folder written by `face3d fit` has one)")
    scene = _read_gltf(mesh)
    fit = read_fit(folder)
    scene.path = folder
    scene.camera, scene.rotation, scene.translation = fit.camera, fit.rotation, fit.translation
    for name in PHOTO_NAMES:
        if (folder / name).is_file():
            scene.photo = read_image(folder / name, "photo")
            break
    try:
        image = json.loads((folder / "params.json").read_text()).get("image")
    except (OSError, ValueError, AttributeError):
        image = None
    if scene.photo is None and isinstance(image, str) and (folder / image).is_file():
        scene.photo = read_image(folder / image, "photo")
    for name in TEXTURE_NAMES:
        if scene.texture is None and (folder / name).is_file() and scene.uv is not None:
            scene.texture = read_image(folder / name, "texture")
            if scene.colours is not None:
                scene.colours[:, :3] = 1.0
    return scene


RIM_BAND_CM = 4.0  # triangles this close to the neck's open rim are drawn from both sides
TOPOLOGY_FILE, TOPOLOGY_FORMAT = "ict_view.npz", 1  # in face3d.assets.home(), beside the model cache


def ict_topology() -> dict[str, np.ndarray] | None:
    """What ``_ict_extras`` needs of the installed ICT model, read without importing torch (the viewer must
    open in well under 2 s): built once from the model into ``ict_view.npz`` and rebuilt when the model
    cache changes. None without an installed model."""
    from ..assets import model_path
    from .modelcache import derived_cache

    def build() -> dict[str, np.ndarray]:
        from ..materials import split_seams, vertex_colours
        from ..model import load_model
        from ..texture import region_mask

        model = load_model()
        source, _, tris = split_seams(model)
        eyes = np.zeros(model.n_vertices, bool)
        for side in ("left", "right"):
            e0, e1 = model.regions[f"eyeball_{side}"][:2]
            eyes[e0:e1] = True
        return dict(source=source, triangles=tris, landmarks68=model.landmarks68.astype(np.int64), eyes=eyes,
                    lashes=region_mask(model, ("eyelashes_left", "eyelashes_right")), colours=vertex_colours(model))

    try:
        st = model_path().stat()
        return derived_cache(TOPOLOGY_FILE, f"{TOPOLOGY_FORMAT}-{st.st_size}-{st.st_mtime_ns}", build)
    except Exception:  # noqa: BLE001 - no usable model: a foreign mesh is still viewable, without extras
        return None


def _ict_openings(triangles: np.ndarray, lashes: np.ndarray, positions: np.ndarray,
                  weld: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided triangles bool [F], the neck opening's plane [4]) of an ICT scene (see ``Scene.opening``).
    Every drawn surface but the eyelash cards (``lashes [F]``) is closed except for the open neck, whose rim
    is the boundary loop through the lowest vertex. A ray can reach an inside (a back face) only by entering
    through that hole from its outer side; from the inner side of the rim's plane (less the rim's own bulge
    and a centimetre) no ray does. ``weld [N]``: the scene's welded vertex ids."""
    f = weld[triangles[~lashes]]
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    unique, count = np.unique(edges, axis=0, return_counts=True)
    boundary = unique[count == 1]
    at = np.zeros((weld.max() + 1, 3), np.float64)
    at[weld] = positions
    rim = {int(boundary[np.argmin(at[boundary, 1].min(1))][0])}
    grown = True
    while grown:  # the boundary loop through the lowest vertex
        new = set(boundary[np.isin(boundary, list(rim)).any(1)].reshape(-1).tolist()) - rim
        grown = bool(new)
        rim |= new
    p = at[sorted(rim)]
    centre = p.mean(0)
    n = np.linalg.svd(p - centre)[2][2]
    n = -n if n @ (positions.mean(0) - centre) > 0 else n  # pointing out of the body
    bulge = np.abs((p - centre) @ n).max()
    # Near the rim the open surface folds and a back face can show over the edge: two-sided there too.
    near = ((positions[:, None, :] - p[None].astype(np.float32)) ** 2).sum(-1).min(1) < RIM_BAND_CM ** 2
    return lashes | near[triangles].any(1), np.array([*n, n @ centre - bulge - 1.0])


def _ict_extras(scene: Scene) -> None:
    """On ICT-FaceKit meshes (face3d's own exports, or the raw topology): the 68 landmark vertices, glossy
    eyes, the alpha mask that hides the eye overlay shells when the file has no vertex colours, and (face3d's
    exports) where back faces may be culled."""
    topo = ict_topology()
    if topo is None:
        return
    n, n_model = len(scene.positions), len(topo["eyes"])
    split = len(topo["source"]) == n and len(topo["triangles"]) == len(scene.triangles) and \
        np.array_equal(topo["triangles"], scene.triangles)
    if n != n_model and not split:
        return
    source = topo["source"] if split else np.arange(n)
    first = np.full(n_model, -1, np.int64)
    first[source[::-1]] = np.arange(n)[::-1]  # the first scene vertex of every model vertex
    scene.landmarks = first[topo["landmarks68"]]
    scene.gloss = topo["eyes"][source].astype(np.float32)
    if split:
        scene.two_sided, scene.opening = _ict_openings(scene.triangles, topo["lashes"], scene.positions, scene.weld)
    if scene.colours is None:
        scene.colours = topo["colours"][source].copy()
        if scene.texture is not None:
            scene.colours[:, :3] = 1.0
