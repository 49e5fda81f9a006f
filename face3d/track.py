"""Video performance capture: a clip -> one identity, per-frame expression and head pose, smoothed curves.

    result = track("clip.mp4")                 # Track: identity, per-frame parameters, frame times
    save_track(result, "out/", video="clip.mp4")   # anim.glb, anim.csv, params.npz, overlay.mp4
    track_files(["a.mp4", "clips/"], "out/")        # a batch (face3d.batch): out/<name>/ per clip, summary.json

Stages (eos-style small steps, the photo solver's pieces where they fit):
1. detect: MediaPipe's Face Landmarker in VIDEO mode (its own temporal tracking), one face followed
   through the clip (the largest, or ``face``: the N-th largest where it first appears, then the one that
   overlaps it most from frame to frame);
2. identity: ``fit.fit_detection`` on KEYFRAMES frames spread over time and head pose, then alternately
   (per frame: pose + expression with the identity fixed) and (one identity for all of them, a linear
   least-squares step on all together), on IDENTITY_FRAMES frames (the keyframes and more spread alike);
3. per frame: pose + expression with that identity fixed (``FrameSolver``: Gauss-Newton, the expression
   bounded to [0, 1] and pulled towards MediaPipe's scores, ten times harder on the lids and brows (forty
   on eyeBlink; an eye turned away leans on the other eye's blink score),
   eyeLook* held at MediaPipe's, Huber weights, points turned away from the camera weighted down, the face
   outline as MediaPipe's mesh points), warm-started from the previous frame;
4. gaps: runs of frames without the face up to MAX_GAP_S are interpolated, longer ones hold the last
   pose and expression and are marked (``held``);
5. temporal filter: a One-Euro filter (Casiraghi et al. 2012) run forwards and then backwards over the
   expression, the head rotation and the position of the face's centre: its cutoff rises with speed, so
   blinks and fast mouth motion pass while still frames lose their jitter, and the two passes cancel each
   other's lag.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import Camera
from .errors import BadInput, NoFace
from .names import ICT_NAMES, arkit_to_ict

N_ID, N_EXP = 100, len(ICT_NAMES)
KEYFRAMES = 8  # frames the identity is estimated from
# Frames the shared identity is solved on: the KEYFRAMES photo fits and more frames spread the same way, each
# started from MediaPipe's pose and solved with the per-frame solver (ms each; a photo fit costs ~100 ms).
# 8 -> 64: real clips' distance to MediaPipe's points lower on all 8 (e.g. smirk_skarsgard 1.05 -> 1.00 %).
IDENTITY_FRAMES = 64
IDENTITY_ROUNDS = 2  # alternations of (per-keyframe pose + expression) and (shared identity)
ITERATIONS = 2  # Gauss-Newton steps per frame (warm start: the previous frame is close)
SIGMA = 0.02  # landmark noise in units of the face size (as face3d.fit)
HUBER = 2.0
EXPRESSION_PRIOR = 5.0  # pull towards MediaPipe's blendshape scores
# (face3d.fit uses 20, set on single rendered photos. In video 20 leaves the synthetic clip's figures as they
# are (jawOpen r 0.864 -> 0.868, smile L 0.915 -> 0.907) and moves every real clip's fit 0.005-0.015 % of the
# face size further from MediaPipe's points: 5 kept.)
# ... ten times stronger on the lids and brows: MediaPipe's scores read them from the image (a closed lid, a
# raised brow), which the few lid and brow landmarks underdetermine (eyeSquint/eyeLookDown/browDown explain
# the same points); measured on the synthetic clip: blink r 0.49/0.62 -> 0.60/0.75, brows 0.41 -> 0.63.
APPEARANCE_PRIOR = 50.0
APPEARANCE = np.array([i for i, n in enumerate(ICT_NAMES) if n.startswith(("eyeBlink", "eyeSquint", "eyeWide", "brow"))])
# ... and four times that on eyeBlink: at the peak of a blink MediaPipe's lid points keep 60-70 % of their open
# gap while its blink score moves, so the lid points' pull kept the tracked blink's correlation with the truth
# below the score's own. 50 -> 200, tools/eval_track.py's synthetic clip (the albedo refine gives on
# 2026-12-04, its closed lids filled with skin): blink r 0.683 / 0.748 -> 0.753 / 0.832 on seed 0, 0.692 / 0.835
# -> 0.767 / 0.883 on the held-out seed 1 (chosen on seed 0 of the earlier albedo, its lids painted as skin:
# 0.652 / 0.731 -> 0.702 / 0.822); real clips 0.004 % of the face size further from MediaPipe's points.
BLINK_PRIOR = 200.0
BLINK = np.array([i for i, n in enumerate(ICT_NAMES) if n.startswith("eyeBlink")])
# An eye turned away from the camera (the far eye past ~30 degrees of yaw) is seen edge-on and MediaPipe's blink
# score for it can be weak (synthetic clip, earlier albedo, yaw 25-45 degrees: the left eye's r 0.31 / 0.50
# against the truth on seeds 0 / 1, the right eye's 0.77 / 0.80; at -45..-25 both eyes 0.90-0.98). Its score
# target leans on the other eye's by their visibility ratio (``shared_blink``): people blink both eyes
# together; a wink keeps its own scores where both eyes are seen alike (frontal: no change).
# Synthetic clip (as above), blink r seed 0 0.753 / 0.832 -> 0.809 / 0.841, held-out seed 1 0.767 / 0.883 ->
# 0.825 / 0.892 (earlier albedo, lids painted: seed 0 0.702 / 0.822 -> 0.770 / 0.836, seed 1 0.678 / 0.811 ->
# 0.758 / 0.827); real clips' distance to MediaPipe's points unchanged (to 0.001 %). The synthetic clip's
# blinks are always both eyes, so it rewards this prior: a wink with the head turned is what it costs.
BLINK_SHARE = True
IDENTITY_PRIOR = 1.0
# L1 on channels MediaPipe scores near 0 (face3d.fit uses 3: one photo; here the lighter pull lets the
# per-frame fit follow the landmarks more closely: real clips' raw distance to MediaPipe -15 %).
SPARSITY, SCORE_ON = 1.0, 0.1
MAX_GAP_S = 0.5  # detection gaps up to this long are interpolated; longer ones are held and marked
# One-Euro filter (min_cutoff Hz, beta Hz per unit/s, d_cutoff Hz), run forwards and backwards. The pose's
# position is that of the face's centre (``FrameSolver.centre``), not the model origin ~10 cm behind it,
# so a filtered rotation does not swing the face sideways.
# The position's cutoff trades jitter for distance to MediaPipe's points (its own jitter included): 5 -> 15 Hz
# alone moved every real clip closer to them (smirk_skarsgard 1.044 -> 0.995 %, the 8 clips' mean 0.794 ->
# 0.760 %) and raised their jitter from 0.54-0.82 to 0.64-0.83 of MediaPipe's; the synthetic clip's curves
# and head rotation are not affected (chosen by looking at these 8 clips; 10 Hz: 1.006 %, 20 Hz: 0.990 %).
FILTER = {"expression": (1.5, 8.0, 3.0), "rotation": (5.0, 4.0, 1.0), "translation": (15.0, 1.0, 1.0)}
LOOK = np.array([i for i, n in enumerate(ICT_NAMES) if n.startswith("eyeLook")])
# Visibility: a point whose surface turns away from the camera (far cheek, outline and brow at +-45 degrees of
# yaw) is where MediaPipe guesses: its weight falls with the cosine between its normal and the view ray,
# relative to that cosine when frontal (capped at VIS_REF), to VIS_FLOOR. The lips keep their weight (their
# normals point down and forward, and the mouth's shape is what the jaw channels read). Synthetic clip (seed 0):
# head error median 3.33 -> 2.74 deg; held-out clip (seed 1, another identity and blinks) 2.98 -> 2.81 deg.
VIS_FLOOR, VIS_REF = 0.05, 0.5
PRIOR = np.full(N_EXP, EXPRESSION_PRIOR)  # per channel
PRIOR[APPEARANCE] = APPEARANCE_PRIOR
PRIOR[BLINK] = BLINK_PRIOR


class BadVideo(BadInput):
    """A clip that cannot be tracked (not a video, no frames, truncated): exit code 2 as issue 17 asks."""

    exit_code = 2


@dataclass
class Track:
    """A tracked clip. times: float32 [T] s from the first frame; identity: float32 [100];
    expression: float32 [T, 53] ICT weights in [0, 1]; rotation: float32 [T, 3] axis-angle (rad) and
    translation: float32 [T, 3] (cm) of the head in camera space (``R @ x + t``); camera: the clip's
    pinhole camera; detected: bool [T] the face was found in the frame; held: bool [T] inside a gap too
    long to interpolate (pose and expression held); raw_expression / raw_rotation / raw_translation: the
    same before the temporal filter; mediapipe: float32 [T, 478, 2] MediaPipe's landmarks (NaN where not
    detected), pixels; fit_ms: float32 [T] the per-frame solve time (ms)."""

    times: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    camera: Camera
    detected: np.ndarray
    held: np.ndarray
    raw_expression: np.ndarray
    raw_rotation: np.ndarray
    raw_translation: np.ndarray
    mediapipe: np.ndarray
    fit_ms: np.ndarray
    fit_cpu_ms: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------- small maths

def rodrigues(w: np.ndarray) -> np.ndarray:
    """Axis-angle ``[3]`` -> rotation matrix [3, 3]."""
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = skew(k)
    return np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * kx @ kx


def axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] -> axis-angle [3]."""
    c = np.clip((np.trace(r) - 1) / 2, -1, 1)
    theta = math.acos(c)
    if theta < 1e-9:
        return np.zeros(3)
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    if theta > math.pi - 1e-4:  # near 180 degrees: axis from the symmetric part
        axis = np.sqrt(np.clip((np.diag(r) + 1) / 2, 0, None))
        axis *= np.sign(v + 1e-12)
        return axis / np.linalg.norm(axis) * theta
    return v / (2 * math.sin(theta)) * theta


def skew(v: np.ndarray) -> np.ndarray:
    """``[..., 3]`` -> cross-product matrices [..., 3, 3]."""
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1), np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (x, y, z, w)."""
    r = np.asarray(r, np.float64)
    w = np.sqrt(np.clip(1 + r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2], 0, None)) / 2
    x = np.sqrt(np.clip(1 + r[..., 0, 0] - r[..., 1, 1] - r[..., 2, 2], 0, None)) / 2
    y = np.sqrt(np.clip(1 - r[..., 0, 0] + r[..., 1, 1] - r[..., 2, 2], 0, None)) / 2
    z = np.sqrt(np.clip(1 - r[..., 0, 0] - r[..., 1, 1] + r[..., 2, 2], 0, None)) / 2
    x = np.copysign(x, r[..., 2, 1] - r[..., 1, 2])
    y = np.copysign(y, r[..., 0, 2] - r[..., 2, 0])
    z = np.copysign(z, r[..., 1, 0] - r[..., 0, 1])
    q = np.stack([x, y, z, w], -1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def head_angles(rotation: np.ndarray) -> np.ndarray:
    """Axis-angle head rotations [T, 3] (camera space) -> (pitch, yaw, roll) [T, 3] rad in ``face3d.rig``'s
    convention (the model looks down +z towards the camera, as the glTF scene's front view)."""
    from .rig import quat_to_euler

    mats = np.stack([rodrigues(w) for w in np.asarray(rotation, np.float64)])
    return quat_to_euler(matrix_to_quat(mats)).astype(np.float32)


def project(points: np.ndarray, camera: Camera) -> np.ndarray:
    """Camera-space ``points [P, 3]`` (cm, z < 0) -> pixels [P, 2] (as ``face3d.camera.project``)."""
    z = np.maximum(-points[:, 2], 1e-6)
    return np.stack([camera.cx + camera.focal * points[:, 0] / z, camera.cy - camera.focal * points[:, 1] / z], 1)


def project_jacobian(points: np.ndarray, camera: Camera) -> np.ndarray:
    """d pixels / d camera-space point [P, 2, 3]."""
    x, y, z = points.T
    zi = 1.0 / np.maximum(-z, 1e-6)
    f = camera.focal
    out = np.zeros((len(points), 2, 3))
    out[:, 0, 0] = f * zi
    out[:, 0, 2] = f * x * zi * zi
    out[:, 1, 1] = -f * zi
    out[:, 1, 2] = -f * y * zi * zi
    return out


def solve_bounded(h: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray, x: np.ndarray,
                  iterations: int = 20) -> np.ndarray:
    """argmin 0.5 x'Hx - b'x on lower <= x <= upper (``h [K, K]`` positive definite): projected Newton
    from ``x [K]`` (numpy twin of ``face3d.fit.solve_bounded``; a torch call costs more than this solve)."""
    x = np.clip(x, lower, upper)
    f = lambda v: 0.5 * v @ h @ v - b @ v  # noqa: E731
    fx = f(x)
    for _ in range(iterations):
        g = h @ x - b
        eps = min(1e-3, float(np.abs(x - np.clip(x - g, lower, upper)).max()))
        free = ~(((x <= lower + eps) & (g > 0)) | ((x >= upper - eps) & (g < 0)))
        d = np.zeros_like(x)
        if free.any():
            d[free] = -np.linalg.solve(h[np.ix_(free, free)], g[free])
        alpha = 1.0
        for _ in range(12):
            xn = np.clip(x + alpha * d, lower, upper)
            fn = f(xn)
            if fn <= fx + 1e-4 * g @ (xn - x):
                break
            alpha /= 2
        done = float(np.abs(xn - x).max()) < 1e-6
        x, fx = xn, fn
        if done:
            break
    return x


# ---------------------------------------------------------------------------------------------- solver

class FrameSolver:
    """Pose + expression of one frame for a fixed identity, on the correspondence points (numpy, ~1-2 ms).

    Built once per identity from ``corr`` (``correspondence.load_correspondence(model)``): the 468 surface
    points with the identity baked into their mean. The face outline too is matched as fixed surface points,
    not to the model's silhouette as the photo fit does: MediaPipe's outline points are vertices of its own
    3D mesh, which stay on the same spot of the face as it turns (measured on the synthetic clip: head error
    median 4.4 -> 3.0 degrees, smiles r 0.75 -> 0.90; real clips' distance to MediaPipe -10 %).
    """

    def __init__(self, corr, identity: np.ndarray):
        self.corr = corr
        self.set_identity(identity)
        self.all_fixed = np.flatnonzero(corr.weights.numpy() > 0)
        self.all_w = corr.weights.numpy()[self.all_fixed].astype(np.float64)
        # Per frame, the feature points (lips, eyes, brows, nose, oval) and every third of the others:
        # half the work of all 447, the same expression and pose (the mesh points between features
        # follow them closely).
        keep = np.isin(self.all_fixed, feature_points()) | (np.arange(len(self.all_fixed)) % 3 == 0)
        self.fixed, self.base_w = self.all_fixed[keep], self.all_w[keep]
        self.lips = np.isin(self.fixed, lip_points())
        self.eyes = eye_points(self.fixed)  # (left, right) masks over the fixed points

    def set_identity(self, identity: np.ndarray) -> None:
        c = self.corr
        self.identity = np.asarray(identity, np.float64)

        def split(sub):
            mean = sub.mean.numpy().astype(np.float64)
            basis = sub.basis.numpy().astype(np.float64)  # [P, 3, 153]
            return mean + basis[:, :, :N_ID] @ self.identity, np.ascontiguousarray(basis[:, :, N_ID:]), basis[:, :, :N_ID]

        self.lm_mean, self.lm_exp, self.lm_id = split(c.landmarks)
        self.centre = self.lm_mean.mean(0)  # the face's centre (cm, model space): the filtered position
        self.normals = point_normals(self.lm_mean)  # model space, neutral expression
        self.ib_mean, self.ib_exp, _ = split(c.ibug68)

    def points(self, mean, basis, e):
        return mean + (basis.reshape(-1, N_EXP) @ e).reshape(-1, 3)

    def solve(self, lm: np.ndarray, scores: np.ndarray, camera: Camera, rot: np.ndarray, t: np.ndarray,
              e: np.ndarray, iterations: int = ITERATIONS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One frame: ``lm [468+, 2]`` MediaPipe pixels, ``scores [53]`` MediaPipe's ICT-order scores,
        start pose ``rot [3, 3]``, ``t [3]`` cm and expression ``e [53]``. Returns (rot, t, e)."""
        lm = np.asarray(lm[:468, :2], np.float64)
        span = lm.max(0) - lm.min(0)
        scale = math.sqrt(max(span[0] * span[1], 1.0))
        mean, basis, target, w0 = self.lm_mean[self.fixed], self.lm_exp[self.fixed], lm[self.fixed], self.base_w
        vis = self.visibility(rot, t)
        w0 = w0 * vis
        if BLINK_SHARE:
            scores = shared_blink(scores, vis[self.eyes[0]].mean(), vis[self.eyes[1]].mean())
        weights = w0.copy()
        lower, upper = np.zeros(N_EXP), np.ones(N_EXP)
        lower[LOOK] = upper[LOOK] = scores[LOOK]  # the gaze comes from MediaPipe's eye scores
        e = np.clip(e.copy(), lower, upper)
        threshold = SPARSITY * np.clip(1 - scores / SCORE_ON, 0, 1)
        threshold[LOOK] = 0
        inv = 1.0 / (SIGMA * scale) ** 2
        basis32 = basis.astype(np.float32)
        for it in range(iterations):
            x = self.points(mean, basis, e)
            rp = x @ rot.T
            y = rp + t
            jp = project_jacobian(y, camera)  # [P, 2, 3]
            a = np.empty((len(x), 2, 6 + N_EXP), np.float32)
            a[:, :, :3] = np.cross(rp[:, None, :], jp)  # d pixels / d rotation increment: -jp @ [rp]x
            a[:, :, 3:6] = jp
            a[:, :, 6:] = np.matmul((jp @ rot).astype(np.float32), basis32)  # d pixels / d expression
            a = a.reshape(-1, 6 + N_EXP)
            r = (project(y, camera) - target).reshape(-1)
            w = (np.repeat(weights, 2) * inv).astype(np.float32)
            aw = a * w[:, None]
            h = (aw.T @ a).astype(np.float64)
            b = -(aw.T @ r).astype(np.float64) + h[:, 6:] @ e  # residual = r + a @ (step, e - e0)
            h[6:, 6:] += np.diag(PRIOR)
            b[6:] += PRIOR * scores
            h[:6, :6] += 1e-6 * np.eye(6)
            huu, hue, hee = h[:6, :6], h[:6, 6:], h[6:, 6:]
            k = np.linalg.solve(huu, np.concatenate([hue, b[:6, None]], 1))
            reduced = hee - hue.T @ k[:, :-1]
            curvature = np.clip(np.diag(reduced) - PRIOR, 0, None)
            rhs = b[6:] - hue.T @ k[:, -1] - threshold * np.sqrt(curvature)
            e_new = solve_bounded(reduced, rhs, lower, upper, e)
            step = k[:, -1] - k[:, :-1] @ e_new
            rot = rodrigues(step[:3]) @ rot
            t = t + step[3:]
            e = e_new
            if it + 1 < iterations:
                res = project(self.points(mean, basis, e) @ rot.T + t, camera) - target
                err = np.linalg.norm(res, axis=1) / (SIGMA * scale)
                weights = w0 * np.minimum(HUBER / np.maximum(err, 1e-9), 1.0)
        return rot, t, e

    def visibility(self, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Weight factor in [VIS_FLOOR, 1] of each fixed point at pose (``rot [3, 3]``, ``t [3]``): how squarely
        its surface faces the camera, relative to how it faces a frontal camera (capped at VIS_REF)."""
        y = self.lm_mean[self.fixed] @ rot.T + t
        n = self.normals[self.fixed] @ rot.T
        cos = -(n * y).sum(1) / np.linalg.norm(y, axis=1)  # normal . direction to the camera (at the origin)
        c0 = self.normals[self.fixed, 2]  # the same, frontal (the model looks down +z)
        cos = np.where(self.lips, np.maximum(cos, VIS_REF), cos)
        return np.clip(VIS_FLOOR + (1 - VIS_FLOOR) * cos / np.maximum(np.minimum(c0, VIS_REF), 1e-3), VIS_FLOOR, 1.0)

    def landmarks68(self, rot, t, e, camera) -> np.ndarray:
        """The model's 68 fixed landmark points projected [68, 2] (AFLW2000-3D convention)."""
        return project(self.points(self.ib_mean, self.ib_exp, e) @ rot.T + t, camera)

    def mediapipe_points(self, rot, t, e, camera, ids: np.ndarray) -> np.ndarray:
        """The model's points at MediaPipe's landmarks ``ids [K]`` projected [K, 2]."""
        x = self.lm_mean[ids] + (self.lm_exp[ids].reshape(-1, N_EXP) @ e).reshape(-1, 3)
        return project(x @ rot.T + t, camera)


def point_normals(points: np.ndarray, k: int = 10) -> np.ndarray:
    """Outward unit normals [P, 3] of a surface sampled at ``points [P, 3]`` (the smallest principal axis of
    each point's ``k`` nearest neighbours, turned away from a point 10 cm behind their centre)."""
    d = ((points[:, None] - points[None]) ** 2).sum(-1)
    nb = np.argsort(d, 1)[:, :k]
    q = points[nb] - points[nb].mean(1, keepdims=True)
    _, _, vt = np.linalg.svd(q)
    n = vt[:, -1]
    back = points.mean(0) - np.array([0.0, 0.0, 10.0])
    n *= np.sign(((points - back) * n).sum(1))[:, None]
    return n


def eye_points(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks over MediaPipe ids ``ids`` of the subject's left and right eye contours (its connection lists)."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as F

    return tuple(np.isin(ids, connection_points(s)) for s in (F.FACE_LANDMARKS_LEFT_EYE, F.FACE_LANDMARKS_RIGHT_EYE))


def shared_blink(scores: np.ndarray, vis_left: float, vis_right: float) -> np.ndarray:
    """MediaPipe's scores with an eye seen worse than the other (turned away) leaning on the other eye's blink
    score, by the ratio of their visibilities: ``s' = a s + (1 - a) s_other``, ``a = min(1, vis / vis_other)``."""
    out = scores.copy()
    bl, br = ICT_NAMES.index("eyeBlink_L"), ICT_NAMES.index("eyeBlink_R")
    a_l = min(1.0, vis_left / max(vis_right, 1e-6))
    a_r = min(1.0, vis_right / max(vis_left, 1e-6))
    out[bl] = a_l * scores[bl] + (1 - a_l) * scores[br]
    out[br] = a_r * scores[br] + (1 - a_r) * scores[bl]
    return out


def connection_points(*sets) -> np.ndarray:
    """Sorted MediaPipe ids [K] of the points in its connection lists ``sets``."""
    return np.array(sorted({p for s in sets for c in s for p in (c.start, c.end)}), np.int64)


def lip_points() -> np.ndarray:
    """MediaPipe ids of the lips (its connection list)."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as F

    return connection_points(F.FACE_LANDMARKS_LIPS)


def feature_points() -> np.ndarray:
    """MediaPipe ids of the lips, eyes, brows, nose and face oval (its own connection lists)."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as F

    return connection_points(F.FACE_LANDMARKS_LIPS, F.FACE_LANDMARKS_LEFT_EYE, F.FACE_LANDMARKS_RIGHT_EYE,
                             F.FACE_LANDMARKS_LEFT_EYEBROW, F.FACE_LANDMARKS_RIGHT_EYEBROW, F.FACE_LANDMARKS_NOSE,
                             F.FACE_LANDMARKS_FACE_OVAL)


def solve_identity(solver: FrameSolver, frames: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                   camera: Camera) -> np.ndarray:
    """One linear least-squares step on the shared identity [100] over several frames at once: each
    ``(lm [468, 2], rot [3, 3], t [3], e [53])`` with its pose and expression held (N(0,1) prior)."""
    h = IDENTITY_PRIOR * np.eye(N_ID)
    b = np.zeros(N_ID)
    ids = solver.all_fixed
    for lm, rot, t, e in frames:
        lm = np.asarray(lm[:468, :2], np.float64)
        span = lm.max(0) - lm.min(0)
        inv = 1.0 / (SIGMA * math.sqrt(max(span[0] * span[1], 1.0))) ** 2
        x = solver.lm_mean[ids] + (solver.lm_exp[ids].reshape(-1, N_EXP) @ e).reshape(-1, 3)
        y = x @ rot.T + t
        m = project_jacobian(y, camera) @ rot  # [P, 2, 3]
        bid = solver.lm_id[ids]  # [P, 3, 100]
        a = (m[:, :, 0, None] * bid[:, None, 0] + m[:, :, 1, None] * bid[:, None, 1]
             + m[:, :, 2, None] * bid[:, None, 2]).reshape(-1, N_ID)
        c = (project(y, camera) - lm[ids]).reshape(-1) - a @ solver.identity
        w = np.repeat(solver.all_w, 2) * inv
        h += (a * w[:, None]).T @ a
        b -= (a * w[:, None]).T @ c
    return np.linalg.solve(h, b)


# ---------------------------------------------------------------------------------------------- filter

class OneEuro:
    """Causal One-Euro filter (Casiraghi et al. 2012), one sample at a time: ``f(x [K], t s) -> [K]``; its
    cutoff is ``min_cutoff + beta * |speed|`` (Hz), so still values lose their jitter and fast ones pass."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value = self.time = self.dx = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.value is None:
            self.value, self.time, self.dx = x.copy(), float(t), np.zeros_like(x)
            return self.value.copy()
        dt = max(float(t) - self.time, 1e-4)
        alpha = lambda cutoff: 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))  # noqa: E731
        self.dx = self.dx + alpha(self.d_cutoff) * ((x - self.value) / dt - self.dx)
        self.value = self.value + alpha(self.min_cutoff + self.beta * np.abs(self.dx)) * (x - self.value)
        self.time = float(t)
        return self.value.copy()


def one_euro(x: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """Causal One-Euro filter of ``x [T, K]`` sampled at ``times [T]`` s -> [T, K]."""
    f = OneEuro(min_cutoff, beta, d_cutoff)
    return np.stack([f(x[i], times[i]) for i in range(len(x))]) if len(x) else np.asarray(x, np.float64)


def smooth(x: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """Zero-lag One-Euro: forwards, then backwards over the forward result (their phase lags cancel)."""
    if len(x) < 3:
        return np.asarray(x, np.float64)
    fwd = one_euro(np.asarray(x, np.float64), times, min_cutoff, beta, d_cutoff)
    back = one_euro(fwd[::-1], times[-1] - times[::-1], min_cutoff, beta, d_cutoff)
    return back[::-1]


def centre_position(rotation: np.ndarray, translation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Axis-angle rotations ``[T, 3]`` and translations ``[T, 3]`` -> where the face's ``centre [3]`` (model
    space) is in camera space [T, 3]: what the filter smooths instead of the translation."""
    rot = np.stack([rodrigues(w) for w in np.asarray(rotation, np.float64)])
    return rot @ centre + translation


def smooth_pose(rotation: np.ndarray, translation: np.ndarray, times: np.ndarray, centre: np.ndarray):
    """The temporal filter of the head pose: rotations [T, 3] (axis-angle) and the face centre's position
    filtered (``FILTER``), the translation [T, 3] recovered from them. Returns (rotation, translation)."""
    if len(rotation) < 3:
        return np.asarray(rotation, np.float64), np.asarray(translation, np.float64)
    p = smooth(centre_position(rotation, translation, centre), times, *FILTER["translation"])
    rot = smooth(rotation, times, *FILTER["rotation"])
    return rot, p - np.stack([rodrigues(w) for w in rot]) @ centre


def fill_gaps(values: np.ndarray, found: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values [T, K]`` defined where ``found [T]``: gaps up to MAX_GAP_S interpolated linearly, longer
    ones (and the clip's ends) held at the nearest found value. Returns (filled [T, K], held [T] bool)."""
    out = np.array(values, np.float64)
    held = np.zeros(len(found), bool)
    idx = np.flatnonzero(found)
    i = 0
    while i < len(found):
        if found[i]:
            i += 1
            continue
        j = i
        while j < len(found) and not found[j]:
            j += 1
        before, after = (i - 1 if i > 0 else None), (j if j < len(found) else None)
        if before is not None and after is not None and times[after] - times[before] <= MAX_GAP_S + 1e-9:
            f = ((times[i:j] - times[before]) / (times[after] - times[before]))[:, None]
            out[i:j] = out[before] * (1 - f) + out[after] * f
        else:
            src = before if before is not None else (after if after is not None else idx[0])
            out[i:j] = out[src]
            held[i:j] = True
        i = j
    return out, held


# ---------------------------------------------------------------------------------------------- detection

def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-9)


class FaceFollower:
    """Picks the tracked face in each frame's detections (largest first): the ``face``-th largest where one
    first appears, then the detection overlapping the last one most (a face that vanishes for longer than
    MAX_GAP_S is picked again by rank)."""

    def __init__(self, face: int = 0):
        self.face, self.box, self.seen = face, None, -1e9

    def pick(self, faces: list, time_s: float):
        if self.box is not None and time_s - self.seen <= MAX_GAP_S and faces:
            best = max(faces, key=lambda d: _iou(d.box, self.box))
            chosen = best if _iou(best.box, self.box) > 0.2 else None
        else:
            chosen = faces[self.face] if len(faces) > self.face else None
        if chosen is not None:
            self.box, self.seen = chosen.box, time_s
        return chosen


def ict_scores(det) -> np.ndarray:
    """MediaPipe's blendshape scores of ``det`` in ICT order [53], in [0, 1]."""
    return np.clip(arkit_to_ict(det.blendshape_vector()), 0, 1).astype(np.float64)


# ---------------------------------------------------------------------------------------------- driver

def track(video, face: int = 0, fps: float | None = None, progress: bool = True, model=None, correspondence=None,
          say=None) -> Track:
    """Track a clip (path of a video or a folder of frames, see ``formats.video.open_video``): the
    ``face``-th largest face (0 = the largest). Raises BadVideo for an unreadable clip, NoFace when no
    frame shows a face."""
    from .correspondence import load_correspondence
    from .detect import Detector
    from .formats.video import open_video
    from .model import load_model

    try:
        clip = open_video(video, fps)
    except BadInput as e:
        raise BadVideo(str(e)) from None
    model = model or load_model()
    corr = correspondence or load_correspondence(model)
    info = clip.info
    camera = Camera.for_image(info.width, info.height)
    times, dets = [], []
    follower = FaceFollower(face)
    t_detect = time.perf_counter()
    stamp = -1
    with Detector("video", max_faces=face + 1) as detector, _bar(progress, info.frames, "detecting") as bar:
        try:
            for t, rgb in clip.frames():
                stamp = max(int(round(t * 1000)), stamp + 1)  # MediaPipe wants strictly increasing ms
                faces = detector.detect(rgb, timestamp_ms=stamp)
                times.append(t)
                dets.append(follower.pick(faces, t))
                bar.step()
        except BadInput as e:
            raise BadVideo(str(e)) from None
    detect_s = time.perf_counter() - t_detect
    if info.frames and len(times) < 0.9 * info.frames - 2 and clip._images is None:
        raise BadVideo(f"{video}: the video breaks off after {len(times)} of {info.frames} frames (truncated)")
    found = np.array([d is not None for d in dets])
    if not found.any():
        raise NoFace(f"{video}: no face found in any of its {len(times)} frames")
    result = fit_track(dets, np.asarray(times, np.float64), camera, corr, progress)
    result.detect_s = detect_s  # for tools/bench_track.py
    return result


def fit_track(dets: list, times: np.ndarray, camera: Camera, corr, progress: bool = False) -> Track:
    """The fit stages (2-5 of the module docstring) on per-frame detections ``dets [T]`` (Detection or
    None) at ``times [T]`` s."""
    import torch

    from .fit import fit_detection
    from .threads import one_blas_thread, one_thread

    found = np.array([d is not None for d in dets])
    keys = keyframes(dets, times)
    with one_thread(), torch.no_grad(), one_blas_thread():
        return _fit_track(dets, times, camera, corr, progress, found, keys, fit_detection)


def _fit_track(dets, times, camera, corr, progress, found, keys, fit_detection) -> Track:
    n = len(dets)
    if True:
        fits = [fit_detection(dets[k], camera, corr) for k in keys]
    solver = FrameSolver(corr, np.mean([f.identity for f in fits], 0))
    key_state = [(rodrigues(f.rotation.astype(np.float64)), f.translation.astype(np.float64),
                  f.expression.astype(np.float64)) for f in fits]
    # More frames join the shared-identity step (IDENTITY_FRAMES).
    extra = [k for k in keyframes(dets, times, IDENTITY_FRAMES) if k not in keys] if IDENTITY_FRAMES > len(keys) else []
    keys = list(keys) + extra
    key_state += [_initial_state(dets[k], camera, solver, ict_scores(dets[k])) for k in extra]
    for _ in range(IDENTITY_ROUNDS):
        key_state = [solver.solve(dets[k].landmarks, ict_scores(dets[k]), camera, r, t, e, iterations=3)
                     for k, (r, t, e) in zip(keys, key_state)]
        solver.set_identity(solve_identity(solver, [(dets[k].landmarks, *s) for k, s in zip(keys, key_state)],
                                           camera))

    expr = np.zeros((n, N_EXP))
    rotv = np.zeros((n, 3))
    trans = np.zeros((n, 3))
    fit_ms = np.zeros(n, np.float32)
    fit_cpu = np.zeros(n, np.float32)
    state = None
    last = -1e9
    mp = np.full((n, 478, 2), np.nan, np.float32)
    with _bar(progress, n, "fitting") as bar:
        for i, d in enumerate(dets):
            bar.step()
            if d is None:
                continue
            t0, c0 = time.perf_counter(), time.thread_time()
            scores = ict_scores(d)
            if state is None or times[i] - last > MAX_GAP_S:
                state = _initial_state(d, camera, solver, scores)
            state = solver.solve(d.landmarks, scores, camera, *state)
            fit_ms[i] = (time.perf_counter() - t0) * 1000
            fit_cpu[i] = (time.thread_time() - c0) * 1000
            last = times[i]
            expr[i], rotv[i], trans[i] = state[2], axis_angle(state[0]), state[1]
            mp[i, :len(d.landmarks)] = d.landmarks[:478, :2]
    raw = np.concatenate([expr, rotv, trans], 1)
    filled, held = fill_gaps(raw, found, times)
    e_s = np.clip(smooth(filled[:, :N_EXP], times, *FILTER["expression"]), 0, 1)
    out = [e_s, *smooth_pose(filled[:, N_EXP:N_EXP + 3], filled[:, N_EXP + 3:], times, solver.centre)]
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return Track(f32(times), f32(solver.identity), f32(e_s), f32(out[1]), f32(out[2]), camera, found, held,
                 f32(np.clip(filled[:, :N_EXP], 0, 1)), f32(filled[:, N_EXP:N_EXP + 3]), f32(filled[:, N_EXP + 3:]),
                 mp, fit_ms, fit_cpu)


def _initial_state(det, camera: Camera, solver: FrameSolver, scores: np.ndarray):
    """Start pose (MediaPipe's rotation, translation from the landmarks' spread: ``fit.initial_pose``)."""
    import torch

    from .fit import initial_pose

    e = scores.copy()
    x = solver.points(solver.lm_mean[solver.fixed], solver.lm_exp[solver.fixed], e)
    lm = torch.from_numpy(det.landmarks[solver.fixed, :2].astype(np.float32))
    pose = initial_pose(det, torch.from_numpy(x.astype(np.float32)), lm, camera)
    return pose.rotation.double().numpy(), pose.translation.double().numpy(), e


def keyframes(dets: list, times: np.ndarray, count: int | None = None) -> list[int]:
    """Up to ``count`` detected frames spread over time and head pose: farthest-point sampling on (time
    over the clip, MediaPipe's yaw and pitch in units of 20 degrees), starting from the most frontal."""
    count = KEYFRAMES if count is None else count
    idx = np.flatnonzero([d is not None for d in dets])
    feats = []
    span = max(float(times[-1] - times[0]), 1e-6)
    for i in idx:
        m = dets[i].transform[:3, :3].astype(np.float64)
        u, _, vt = np.linalg.svd(m)
        r = u @ vt
        yaw, pitch = math.atan2(r[0, 2], r[2, 2]), math.asin(np.clip(-r[1, 2], -1, 1))
        feats.append([times[i] / span, yaw / math.radians(20), pitch / math.radians(20)])
    feats = np.array(feats)
    first = int(np.argmin(np.abs(feats[:, 1:]).sum(1)))
    chosen = [first]
    dist = np.linalg.norm(feats - feats[first], axis=1)
    while len(chosen) < min(count, len(idx)):
        k = int(np.argmax(dist))
        if dist[k] <= 0:
            break
        chosen.append(k)
        dist = np.minimum(dist, np.linalg.norm(feats - feats[k], axis=1))
    return sorted(int(idx[c]) for c in chosen)


# ---------------------------------------------------------------------------------------------- outputs

def curves_of(result: Track):
    """``Curves`` of a track: times, expression weights, head (pitch, yaw, roll); eyes from eyeLook*."""
    from .curves import Curves

    return Curves(result.times, result.expression, head_angles(result.rotation))


def save_track(result: Track, folder, video=None, model=None, overwrite: bool = False, overlay: bool = True,
               progress: bool = True) -> Path:
    """Write ``folder`` atomically: anim.glb (the fitted face, morph targets, one animation of the weights
    and of the head joint's rotation plus the rig's translation at the frame times), anim.csv (Live Link
    Face), params.npz (per frame: expression, rotation, translation, detected, held, times; identity and
    camera once) and, with ``overlay`` and ``video``, overlay.mp4 (the mesh over the clip, its audio)."""
    from .formats.atomic import atomic_dir
    from .formats.gltf import write_glb
    from .formats.livelink import write_csv
    from .model import load_model

    model = model or load_model()
    curves = curves_of(result)
    import torch

    with torch.no_grad():
        neutral = model.blend(torch.from_numpy(result.identity)[None].to(model.neutral.dtype))[0].float().numpy()
    with atomic_dir(folder, "track", overwrite) as tmp:
        write_glb(tmp / "anim.glb", neutral, model, curves=curves, animation_name="track",
                  root_motion=head_motion(result, neutral, model))
        write_csv(tmp / "anim.csv", curves)
        c = result.camera
        np.savez_compressed(tmp / "params.npz", times=result.times, identity=result.identity,
                            expression=result.expression, rotation=result.rotation, translation=result.translation,
                            head=curves.head, detected=result.detected, held=result.held,
                            camera=np.array([c.focal, c.cx, c.cy, c.width, c.height], np.float32),
                            raw_expression=result.raw_expression, raw_rotation=result.raw_rotation,
                            raw_translation=result.raw_translation)
        if overlay and video is not None:
            write_overlay(tmp / "overlay.mp4", result, video, model, progress)
    return Path(folder)


def head_motion(result: Track, neutral: np.ndarray, model) -> np.ndarray:
    """The rig's translation per frame ``[T,3]`` (metres) that moves the head as in the clip: the head joint
    turns by R about its pivot p, so the rig moves by R p + t - p - t_ref (t_ref: the median translation,
    which puts the face at the scene's origin)."""
    from .rig import JOINT_NAMES, build_rig

    pivot = build_rig(neutral, model).joints[JOINT_NAMES.index("head")].astype(np.float64)
    rot = np.stack([rodrigues(w) for w in result.rotation.astype(np.float64)])
    t = result.translation.astype(np.float64)
    return ((rot @ pivot) + t - pivot - np.median(t, 0)) / 100.0


OVERLAY_MAX_SIDE = 1280  # a 1080p clip's overlay is drawn at 1280 x 720


def write_overlay(path: Path, result: Track, video, model, progress: bool = True) -> None:
    """overlay.mp4: each frame of ``video`` with the tracked mesh and its 68 landmarks drawn over it
    (``face3d.overlay``), H.264 at the clip's frame times, the clip's audio as AAC."""
    import torch
    from PIL import Image

    from .correspondence import load_correspondence
    from .formats.video import open_video, read_audio, video_writer
    from .overlay import render_overlay
    from .render import RenderContext

    clip = open_video(video)
    cam = result.camera
    s = min(1.0, OVERLAY_MAX_SIDE / max(cam.width, cam.height))
    w, h = int(round(cam.width * s)) // 2 * 2, int(round(cam.height * s)) // 2 * 2
    sx, sy = w / cam.width, h / cam.height
    # x264 writes other bytes from run to run for a width that is not a multiple of 16 (its last macroblock
    # column), so the overlay keeps the middle multiple of 16 of each frame's columns (at most 15 cut).
    keep = w // 16 * 16 or w
    cut = (w - keep) // 2
    small = Camera(cam.focal * sx, (cam.cx + 0.5) * sx - 0.5 - cut, (cam.cy + 0.5) * sy - 0.5, keep, h)
    tris = model.region_faces("narrow_face")
    solver = FrameSolver(load_correspondence(model), result.identity)
    ident = torch.from_numpy(result.identity)[None].to(model.neutral.dtype)
    audio = read_audio(video)
    ctx = RenderContext()
    writer = video_writer(path, keep, h, clip.info.fps, audio)
    try:
        with _bar(progress, len(result.times), "overlay") as bar:
            for i, (t, rgb) in enumerate(clip.frames()):
                if i >= len(result.times):
                    break
                if (rgb.shape[1], rgb.shape[0]) != (w, h):
                    rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR))
                rgb = np.ascontiguousarray(rgb[:, cut:cut + keep])
                rot = rodrigues(result.rotation[i].astype(np.float64))
                e = result.expression[i].astype(np.float64)
                with torch.no_grad():
                    v = model.blend(ident, torch.from_numpy(result.expression[i])[None].to(ident.dtype))[0].double().numpy()
                posed = v @ rot.T + result.translation[i]
                lm = solver.landmarks68(rot, result.translation[i].astype(np.float64), e, small)
                colour = (120.0, 180.0, 255.0) if result.detected[i] else (255.0, 170.0, 60.0)  # orange: no face seen
                img = render_overlay(ctx, rgb, posed.astype(np.float32), tris, small, lm, colour=colour)
                writer.add(np.asarray(img), float(result.times[i]))
                bar.step()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        ctx.release()


class _bar:
    """A rich progress bar with frames per second, on a terminal only."""

    def __init__(self, enabled: bool, total: int, label: str):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.total, self.label = total or None, label

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[fps]:.1f} frames/s"), TimeRemainingColumn(),
                                     console=self.console, transient=True)
            self.progress.__enter__()
            self.task = self.progress.add_task("", total=self.total, fps=0.0)
            self.t0 = time.perf_counter()
        self.count = 0
        return self

    def step(self) -> None:
        self.count += 1
        if self.enabled:
            fps = self.count / max(time.perf_counter() - self.t0, 1e-6)
            self.progress.update(self.task, advance=1, fps=fps)

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.__exit__(*exc)


def track_video(video, output, face: int = 0, overlay: bool = True, overwrite: bool = False, fps: float | None = None,
                progress: bool = True) -> Path:
    """``face3d track VIDEO -o DIR``: check the output folder first, track, write the folder atomically."""
    from .formats.atomic import check_output_dir, output_path

    output = output_path(output)
    src = Path(video)
    if not src.exists():
        raise BadVideo(f"{src}: no such file or folder")
    state = check_output_dir(output, inputs=[src], overwrite=overwrite, kinds=("track",))
    if state == "own" and not overwrite:
        from .errors import OutputExists

        raise OutputExists(f"{output}: already holds face3d output", replaceable=True)
    if face < 0:
        raise BadInput(f"--face {face}: faces are numbered from 0 (the largest)")
    result = track(video, face=face, fps=fps, progress=progress)
    return save_track(result, output, video=video, overwrite=overwrite, overlay=overlay, progress=progress)


def camera_unavailable(index: int) -> str | None:
    """None when camera ``index`` exists (``/dev/video<index>``), else the line that says it does not."""
    dev = Path(f"/dev/video{index}")
    if dev.exists():
        return None
    return f"no camera {index} ({dev} not found); give a video file or a folder of frames instead"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- batches

# Suffixes a folder is searched for when it is a batch of videos (files named one by one may have any).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".flv", ".wmv", ".3gp", ".ogv")


def is_frame_folder(path: Path) -> bool:
    """True for a folder that holds image frames (``formats.video.IMAGE_SUFFIXES``): one clip, not a batch."""
    from .formats.video import IMAGE_SUFFIXES

    try:
        return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in path.iterdir())
    except OSError:
        return False


def track_inputs(inputs: list) -> tuple[list[Path], bool]:
    """``face3d track VIDEO...``'s clips and whether they are a single clip (output: the track folder
    itself). A video file, or a folder of frames, is one clip; several of them, a folder of videos (not
    searched further down) and ``@list.txt`` (whose lines may name frame folders too) make a batch
    (``face3d.batch.expand_inputs``)."""
    from . import batch

    if not inputs:
        raise BadInput("give VIDEO and -o DIR (or --camera INDEX)")
    if any(str(i) == "" for i in inputs):
        raise BadInput("an input path is empty")
    if len(inputs) == 1 and not str(inputs[0]).startswith("@"):
        first = Path(inputs[0])
        if not first.exists():
            raise BadVideo(f"{first}: no such file or folder")
        if first.is_file() or is_frame_folder(first):
            return [first], True
        if first.is_dir() and not any(p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() for p in first.iterdir()):
            from .formats.video import IMAGE_SUFFIXES

            raise BadVideo(f"{first}: the folder holds no frames ({', '.join(IMAGE_SUFFIXES)}) and no videos "
                           f"({', '.join(VIDEO_SUFFIXES)})")
    return batch.expand_inputs(inputs, VIDEO_SUFFIXES, whole=is_frame_folder), False


def track_item(video: str, folder: str, overwrite: bool = False, progress: bool = False, **options) -> str:
    """One batch item (the work function of ``face3d.batch``): ``track_video`` into ``folder``, without
    progress bars. ``options``: those of ``track_video`` (face, overlay, fps)."""
    return str(track_video(video, folder, overwrite=overwrite, progress=progress, **options))


def track_files(inputs: list, output, overwrite: bool = False, engine: str = "local", address: str | None = None,
                progress: bool = True, on_error=None, **options) -> list[dict]:
    """Track many clips (video files, folders of videos, folders of frames, ``@list.txt``) into
    ``output/<name>/`` (``track_video``'s folder each) and ``output/summary.json`` (``face3d.batch``:
    resumable, one bad clip never stops the rest). One video file or one folder of frames: ``output``
    is its track folder, as ``track_video``. ``options``: face, overlay, fps. Returns the batch records."""
    from . import batch

    if options.get("face", 0) < 0:  # one line now, not one per item
        raise BadInput(f"--face {options['face']}: faces are numbered from 0 (the largest)")
    clips, single = track_inputs(inputs)
    if single:
        options = {**options, "progress": progress}
    return batch.run(clips, "face3d.track:track_item", output, single=single, kind="track", overwrite=overwrite,
                     options=options, engine=engine, address=address, progress=progress, label="tracking",
                     on_error=on_error)
