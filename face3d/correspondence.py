"""MediaPipe landmarks <-> ICT-FaceKit surface: the data file ``assets/correspondence.npz`` and the small
linear sub-model of the points the fit needs (built by ``tools/build_correspondence.py``).

Fitting only ever looks at ~500 model points, so their rows of the identity and expression bases are
gathered once; evaluating them is a [P, 153] matrix product instead of one over 26,719 vertices.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .resources import resource


@dataclass
class SubModel:
    """A linear model of P points: ``points = mean + basis @ theta``, theta = (identity [100], expression [53]).

    mean: float32 [P, 3] cm; basis: float32 [P, 3, 153].
    """

    mean: torch.Tensor
    basis: torch.Tensor

    def points(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta [153]`` -> unposed points [P, 3]."""
        return self.mean + (self.basis.reshape(-1, theta.shape[0]) @ theta).view(-1, 3)  # one GEMV

    def rows(self, index: torch.Tensor) -> "SubModel":
        """The points ``index [Q]`` as a SubModel."""
        return SubModel(self.mean[index], self.basis[index])

    @staticmethod
    def cat(parts: list["SubModel"]) -> "SubModel":
        return SubModel(torch.cat([p.mean for p in parts]), torch.cat([p.basis for p in parts]))


@dataclass
class Correspondence:
    """The fitting data: 468 MediaPipe points as barycentric ICT points, and the jaw silhouette candidates.

    landmarks: SubModel of the 468 MediaPipe mesh points on the ICT surface.
    weights: float32 [468] per-point fitting weight.
    contour: int64 [C] MediaPipe ids of the lower face outline (matched to the model's silhouette).
    outline: int64 [K] MediaPipe ids of the face outline, temple to chin to temple (a polyline).
    mediapipe68: int64 [68] MediaPipe ids of the iBUG-68 points (published table).
    jaw: SubModel of the J jaw/cheek vertices where the silhouette can run; ``jaw_normals [J, 3]`` are their
        neutral normals.
    ibug68: SubModel of the 68 iBUG points on the ICT surface; ``ibug68_normals [68, 3]`` the neutral normals
        at ICT's Multi-PIE landmark vertices (the fit moves jaw points that turn away onto the silhouette).
    eyes: SubModel of 4 points: (left eyeball centre, left iris centre, right eyeball centre, right iris
        centre), left = the subject's left (+x). ICT's eyeLook shapes move only the lids; the eyeballs are
        rotated about these centres by the gaze.
    ibug68_3d: SubModel of the 68 points of the 3D (AFLW2000-3D) convention on the ICT surface: jaw, brows
        and nose where the Basel Face Model keypoints that define it lie (carried over by
        ``tools/build_correspondence.py``), eyes and lips as ``ibug68``; or None.
    """

    landmarks: SubModel
    weights: torch.Tensor
    contour: torch.Tensor
    outline: torch.Tensor
    mediapipe68: torch.Tensor
    jaw: SubModel
    jaw_normals: torch.Tensor
    ibug68: SubModel
    ibug68_normals: torch.Tensor
    eyes: SubModel | None = None
    ibug68_3d: SubModel | None = None


def _gather(model, triangles: np.ndarray, bary: np.ndarray) -> SubModel:
    """SubModel of barycentric points: ``triangles [P, 3]`` ICT vertex ids, ``bary [P, 3]``."""
    t = torch.from_numpy(triangles.astype(np.int64))
    w = torch.from_numpy(bary.astype(np.float64))[..., None]

    def pick(v: torch.Tensor) -> torch.Tensor:  # [..., V, 3] -> [..., P, 3]
        return (v[..., t, :].double() * w).sum(-2)

    basis = torch.cat([pick(model.identity_basis), pick(model.expression_basis)]).permute(1, 2, 0)
    return SubModel(pick(model.neutral).float(), basis.float().contiguous())


def _vertices(model, ids: np.ndarray) -> SubModel:
    """SubModel of plain vertices ``ids [P]``."""
    tri = np.stack([ids, ids, ids], 1)
    return _gather(model, tri, np.tile([1.0, 0.0, 0.0], (len(ids), 1)))


IRIS_FRONT = 0.9  # cm along the eye's axis from its centre: ICT's iris disk lies beyond (the pupil at ~1.05)
SCLERA_VERTICES = 770  # the first 770 vertices of each ICT eyeball are the sclera, the rest the iris (ICT README)


def _means(model, groups: list[np.ndarray]) -> SubModel:
    """SubModel of the mean points of vertex groups (each an int array of ICT vertex ids)."""
    def pick(v: torch.Tensor) -> torch.Tensor:  # [..., V, 3] -> [..., G, 3]
        return torch.stack([v[..., torch.from_numpy(g), :].double().mean(-2) for g in groups], -2)

    basis = torch.cat([pick(model.identity_basis), pick(model.expression_basis)]).permute(1, 2, 0)
    return SubModel(pick(model.neutral).float(), basis.float().contiguous())


def eye_points(model) -> SubModel:
    """The eyeball centres (mean of the sclera, a sphere) and iris centres (mean of the iris disk: iris
    vertices more than IRIS_FRONT in front of the centre along the axis through the cornea apex)."""
    v = model.neutral.cpu().numpy().astype(np.float64)
    groups = []
    for side in ("left", "right"):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        sclera, iris = np.arange(e0, e0 + SCLERA_VERTICES), np.arange(e0 + SCLERA_VERTICES, e1)
        centre = v[sclera].mean(0)
        apex = v[sclera[np.argmax(v[sclera, 2])]]
        axis = (apex - centre) / np.linalg.norm(apex - centre)
        groups += [sclera, iris[(v[iris] - centre) @ axis > IRIS_FRONT]]
    return _means(model, groups)


def read_correspondence(path: Path | None = None) -> dict[str, np.ndarray]:
    """The arrays of a correspondence file (default: the shipped ``assets/correspondence.npz``; see
    tools/build_correspondence.py)."""
    with np.load(path or resource("assets", "correspondence.npz")) as z:
        return {k: z[k] for k in z.files}


def make_correspondence(model, c: dict[str, np.ndarray]) -> Correspondence:
    """The fitting data for ``model`` (a ``FaceModel``) from correspondence arrays ``c``."""
    normals = torch.from_numpy(model.vertex_normals(model.neutral.numpy()).astype(np.float32))
    jaw_ids = c["jaw_candidates"].astype(np.int64)
    return Correspondence(
        landmarks=_gather(model, c["triangles"], c["barycentric"]),
        weights=torch.from_numpy(c["weights"].astype(np.float32)),
        contour=torch.from_numpy(c["contour"].astype(np.int64)),
        outline=torch.from_numpy(c["outline"].astype(np.int64)),
        mediapipe68=torch.from_numpy(c["mediapipe68"].astype(np.int64)),
        jaw=_vertices(model, jaw_ids),
        jaw_normals=normals[jaw_ids],
        ibug68=_gather(model, c["ibug68_triangles"], c["ibug68_barycentric"]),
        ibug68_normals=normals[model.landmarks68.astype(np.int64)],
        eyes=eye_points(model),
        ibug68_3d=_gather(model, c["ibug68_3d_triangles"], c["ibug68_3d_barycentric"])
        if "ibug68_3d_triangles" in c else None,
    )


@functools.lru_cache(maxsize=2)
def load_correspondence(model) -> Correspondence:
    """The installed correspondence (``assets/correspondence.npz``) for ``model``, built once per process."""
    return make_correspondence(model, read_correspondence())
