"""The ICT-FaceKit morphable face model as a plain ``torch.nn.Module`` (in the manner of smplx).

``vertices = neutral + identity @ identity_basis + expression @ expression_basis``, then a rigid transform.
Units are centimetres; y is up and the face looks down +z. Identity coefficients have a N(0, 1) prior (the
ICT modes are orthogonal and pre-scaled); expression weights live in [0, 1], in ``names.ICT_NAMES`` order.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import assets, geometry
from .formats.modelcache import read_model_cache
from .names import ICT_NAMES, ict_target_names

N_IDENTITY = 100
N_EXPRESSION = len(ICT_NAMES)

# Named parts of the mesh from the ICT-FaceKit README: (first vertex, end vertex, first face, end face),
# end exclusive. Faces index the upstream polygon (quad) list.
REGIONS: dict[str, tuple[int, int, int, int]] = {
    "face": (0, 9409, 0, 9230),
    "narrow_face": (0, 6706, 0, 6560),
    "head_and_neck": (9409, 11248, 9230, 11144),
    "mouth_socket": (11248, 13294, 11144, 13226),
    "eye_socket_left": (13294, 13678, 13226, 13630),
    "eye_socket_right": (13678, 14062, 13630, 14034),
    "gums_and_tongue": (14062, 17039, 14034, 17006),
    "teeth": (17039, 21451, 17006, 21496),
    "eyeball_left": (21451, 23021, 21496, 23094),
    "eyeball_right": (23021, 24591, 23094, 24692),
    "lacrimal_fluid_left": (24591, 24795, 24692, 24855),
    "lacrimal_fluid_right": (24795, 24999, 24855, 25018),
    "eye_blend_left": (24999, 25023, 25018, 25033),
    "eye_blend_right": (25023, 25047, 25033, 25048),
    "eye_occlusion_left": (25047, 25199, 25048, 25176),
    "eye_occlusion_right": (25199, 25351, 25176, 25304),
    "eyelashes_left": (25351, 26035, 25304, 25844),
    "eyelashes_right": (26035, 26719, 25844, 26384),
}


def triangulate(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``[F,4]`` polygons (-1 pads triangles) into triangles; returns ``(triangles [T,3], source
    polygon index [T])``. Quads are cut along their 0-2 diagonal."""
    first = polygons[:, [0, 1, 2]]
    quad = polygons[:, 3] >= 0
    second = polygons[quad][:, [0, 2, 3]]
    tris = np.concatenate([first, second])
    src = np.concatenate([np.arange(len(polygons)), np.flatnonzero(quad)])
    order = np.argsort(src, kind="stable")  # keep each polygon's triangles together, in polygon order
    return tris[order].astype(np.int64), src[order]


@dataclass
class FaceModelOutput:
    """``vertices [B,V,3]`` posed (cm); the coefficients that made them."""

    vertices: torch.Tensor
    identity: torch.Tensor
    expression: torch.Tensor


class FaceModel(nn.Module):
    """ICT-FaceKit light: 26,719 vertices, 100 identity modes, 53 ARKit-named expressions.

    Buffers (follow ``.to()``): ``neutral [V,3]``, ``identity_basis [100,V,3]``, ``expression_basis [53,V,3]``
    (deltas from neutral), ``faces [F,3]`` int64 triangles. Numpy attributes: ``polygons [P,4]`` (upstream
    quads, -1 pads triangles), ``uvs [Vt,2]``, ``uv_polygons [P,4]``, ``triangle_polygon [F]`` (source polygon
    of each triangle), ``landmarks68 [68]`` (Multi-PIE vertex ids), ``mirror [V]`` (mirror vertex or -1),
    ``regions`` (name -> vertex/face ranges), ``expression_names`` (ICT), ``target_names`` (export names).
    """

    def __init__(self, arrays: dict[str, np.ndarray]):
        super().__init__()
        neutral = torch.from_numpy(arrays["neutral"])
        self.n_vertices = neutral.shape[0]
        self.register_buffer("neutral", neutral)
        # Bases are stored flat [K, V*3] so that blending is one matrix product.
        self.register_buffer("_identity", torch.from_numpy(arrays["identity"]).reshape(N_IDENTITY, -1))
        self.register_buffer("_expression", torch.from_numpy(arrays["expression"]).reshape(N_EXPRESSION, -1))
        self.polygons = arrays["faces"]
        self.uv_polygons = arrays["uv_faces"]
        self.uvs = arrays["uvs"]
        tris, src = triangulate(self.polygons)
        self.register_buffer("faces", torch.from_numpy(tris))
        self.uv_faces = triangulate(self.uv_polygons)[0]
        self.triangle_polygon = src
        self.polygon_materials = arrays["face_materials"]
        self.material_names = [str(m) for m in arrays["material_names"]]
        self.landmarks68 = arrays["landmarks68"]
        self.mirror = arrays["mirror"]
        self.regions = dict(REGIONS)
        self.expression_names = list(ICT_NAMES)
        self.target_names = ict_target_names()

    @property
    def identity_basis(self) -> torch.Tensor:
        return self._identity.view(N_IDENTITY, -1, 3)

    @property
    def expression_basis(self) -> torch.Tensor:
        return self._expression.view(N_EXPRESSION, -1, 3)

    def _batch(self, *tensors: torch.Tensor | None) -> int:
        return next((t.shape[0] for t in tensors if t is not None), 1)

    def blend(self, identity: torch.Tensor | None = None, expression: torch.Tensor | None = None) -> torch.Tensor:
        """Unposed vertices ``[B,V,3]`` from ``identity [B,100]`` and ``expression [B,53]`` (None = zeros)."""
        b = self._batch(identity, expression)
        flat = self.neutral.reshape(1, -1).expand(b, -1)
        if identity is not None:
            flat = torch.addmm(flat, identity, self._identity)
        if expression is not None:
            flat = torch.addmm(flat, expression, self._expression)
        return flat.reshape(b, -1, 3)

    def forward(self, identity: torch.Tensor | None = None, expression: torch.Tensor | None = None,
                rotation: torch.Tensor | None = None, translation: torch.Tensor | None = None,
                scale: torch.Tensor | None = None) -> FaceModelOutput:
        """Posed vertices. ``identity [B,100]``, ``expression [B,53]``, ``rotation [B,3]`` axis-angle (rad),
        ``translation [B,3]`` cm, ``scale [B]``; missing ones are zeros (rotation, translation) or one.
        Floating-point inputs are computed in the module's dtype (``model.double()`` works end to end)."""
        shapes = {"identity": (identity, N_IDENTITY), "expression": (expression, N_EXPRESSION),
                  "rotation": (rotation, 3), "translation": (translation, 3), "scale": (scale, None)}
        b = self._batch(identity, expression, rotation, translation, scale)
        dtype = self.neutral.dtype
        for name, (t, k) in shapes.items():
            if t is None:
                continue
            if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                raise TypeError(f"FaceModel: {name} must be a floating-point tensor, got "
                                f"{getattr(t, 'dtype', type(t).__name__)}")
            want = (b,) if k is None else (b, k)
            if tuple(t.shape) != want:
                raise ValueError(f"FaceModel: {name} must have shape {list(want)} (batch {b}), got {list(t.shape)}")
        cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
        identity = cast(identity) if identity is not None else self.neutral.new_zeros(b, N_IDENTITY)
        expression = cast(expression) if expression is not None else self.neutral.new_zeros(b, N_EXPRESSION)
        v = self.blend(identity, expression)
        v = geometry.rigid_transform(v, cast(rotation), cast(translation), cast(scale))
        return FaceModelOutput(vertices=v, identity=identity, expression=expression)

    def vertex_normals(self, vertices: np.ndarray) -> np.ndarray:
        """Unit normals ``[V,3]`` of one mesh ``vertices [V,3]``."""
        return geometry.vertex_normals(vertices, self.faces.cpu().numpy())

    def region_faces(self, name: str) -> np.ndarray:
        """Triangles ``[T,3]`` of a named region (see ``REGIONS``)."""
        f0, f1 = self.regions[name][2:]
        keep = (self.triangle_polygon >= f0) & (self.triangle_polygon < f1)
        return self.faces.cpu().numpy()[keep]


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> FaceModel:
    return FaceModel(read_model_cache(path))


def load_model(path: str | Path | None = None) -> FaceModel:
    """The installed ICT-FaceKit model (cached per process). Raises ``AssetMissing`` if not installed."""
    return _load(Path(path) if path else assets.model_path())
