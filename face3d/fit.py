"""Fit the ICT-FaceKit model to a photo's MediaPipe landmarks (eos-style: small solvers, a short driver).

All on the ~500 correspondence points only (``face3d.correspondence``):
1. rigid: rotation from MediaPipe's transformation matrix, translation from the landmarks' centroid and
   spread, refined by Gauss-Newton on the mean face (only when asked, ``estimate_focal``: then the focal
   length of a photo without EXIF, ``solve_focal``, and the rigid pose again);
2. a few rounds of: match the lower face outline to the model's silhouette (eos's contour correspondence),
   one Gauss-Newton step on pose + identity (N(0,1) prior) + expression (bounded to [0, 1], prior towards
   MediaPipe's blendshape scores, and an L1 sparsity term that is strong on the channels MediaPipe scores
   near 0) solved as a bounded linear least-squares problem, Huber re-weighting, and the gaze;
3. gaze: each eyeball is turned about its centre so that the model's iris centre projects onto MediaPipe's
   iris centre (468 / 473), measured relative to the eye's contour so that a small misfit of the lids does
   not read as a gaze; the eyeLook* lid shapes are set from the gaze and held in the solve.
The iBUG-68 outputs project the model's landmarks: ``ibug68`` with the jaw on the silhouette under the
fitted pose (2D, 300-W convention), ``ibug68_3d`` 68 fixed model points (3D, AFLW2000-3D convention: jaw, brows
and nose where that dataset's own keypoint vertices lie, carried onto ICT, the jaw then moved to where its
re-annotated ground truth puts it; see ``fixed_68``).
Deterministic: no random initialisation, no learning rate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from . import geometry
from .camera import Camera, project, project_jacobian
from .correspondence import Correspondence, SubModel
from .detect import Detection
from .errors import BadFit
from .names import ICT_NAMES, arkit_to_ict
from .threads import one_thread

N_ID, N_EXP = 100, len(ICT_NAMES)
ROUNDS = 3  # outer rounds (contour matching, shape, pose)
SIGMA = 0.02  # landmark noise, in units of the face size (sqrt of the landmark box area)
HUBER = 2.0  # residuals beyond HUBER * SIGMA are down-weighted
# Pull of the expression towards MediaPipe's blendshape scores (precision, per unit weight: 1 / 0.22^2).
# Set on rendered faces of known random expressions (``tools/eval_landmarks.py --renders 40``: 1-3 channels,
# yaw up to 29 deg): the mean |weight error| is 0.0684 at 5, 0.0664 at 10, 0.0651 at 20, 0.0658 at 50
# (MediaPipe's scores alone 0.0755).
EXPRESSION_PRIOR = 20.0
UNSCORED_PRIOR = 5.0  # the same pull, towards 0, for a detection without scores: a weak generic prior
# Sparsity: an L1 term on each expression weight (they are >= 0, so it is linear), a soft threshold of
# SPARSITY standard errors of that weight (from the curvature the landmarks give it at noise SIGMA): a
# channel MediaPipe scores 0 moves off 0 only when the landmarks want it with that significance, so the
# small-effect channels that soak up model error (cheekPuff, jawForward, dimples) stay at 0 and the
# large-effect ones that a photo does show (jawOpen, smile) lose little. The term fades out as MediaPipe's
# score rises to SCORE_ON (MediaPipe sees the pixels; where it sees the expression the landmarks decide).
SPARSITY = 3.0
SCORE_ON = 0.1
EYE_LOOK_RAD = float(np.radians(30.0))  # eyeLook* = 1 turns the eyeball this far (ARKit-style convention)
BLINK_NO_GAZE = 0.5  # MediaPipe blink score above which the iris is not trusted (gaze held at 0)
IDENTITY_PRIOR = 1.0  # N(0, 1) identity prior
JAW_FACING_COS = 0.3  # a jaw landmark whose normal faces the camera more than this stays on the surface
SILHOUETTE_COS = 0.3  # |cos| between normal and view ray below which a vertex can lie on the silhouette
# Focal length of a photo without EXIF, when the caller asks for it (``fit_detection(estimate_focal=True)``;
# off by default): a log-normal prior centred on the caller's camera (``camera.DEFAULT_FOCAL``), FOCAL_SIGMA
# in log units (a factor 2 at one sigma: chosen a priori, not tuned), kept within FOCAL_RANGE times that
# centre; FOCAL_IDENTITY identity coefficients take part in the estimate.
FOCAL_SIGMA = float(np.log(2.0))
FOCAL_RANGE = (0.5, 8.0)
FOCAL_IDENTITY = 40


@dataclass
class Pose:
    """Head pose: camera-space point = ``rotation [3, 3] @ model point + translation [3]`` (cm)."""

    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """``points [P, 3]`` model space -> camera space."""
        return points @ self.rotation.T + self.translation


@dataclass
class FitResult:
    """A fitted face: plain data (no photo, no model), saved by ``face3d.formats.fitdir``.

    identity: float32 [100] N(0,1) coefficients; expression: float32 [53] weights in [0, 1] (ICT order);
    rotation: float32 [3] axis-angle (rad) and translation: float32 [3] (cm) of the head in camera space;
    camera: the pinhole camera of the photo; ibug68: float32 [68, 2] the model's iBUG-68 points projected
    into the photo (jaw = silhouette under the fitted pose: the 2D / 300-W convention), pixels;
    mediapipe478: float32 [478, 3] the detected landmarks (pixels x, y; MediaPipe's relative depth z);
    ibug68_3d: float32 [68, 2] the model's 68 fixed landmark points projected (jaw points stay on the
    face even when the cheek hides them: the 3D / AFLW2000-3D convention), pixels; ibug68_3d_cm: float32
    [68, 3] the same points in camera space (cm); gaze: float32 [2, 2] (left, right eye: the subject's) x
    (pitch, yaw) of each eyeball relative to the head, radians, pitch > 0 up, yaw > 0 towards the subject's
    left (+x). The last three are None in fits saved before they existed.
    Filled by ``face3d.refine`` (None after a landmark-only fit): albedo: uint8 [H, W, 3] sRGB albedo atlas
    (``face3d.texture``); lighting: float32 [9, 3] SH irradiance coefficients (``face3d.refine``'s
    convention); skin: uint8 [image H, image W] the skin mask the refinement used (0 = left out).
    """

    identity: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    camera: Camera
    ibug68: np.ndarray
    mediapipe478: np.ndarray
    ibug68_3d: np.ndarray | None = None
    ibug68_3d_cm: np.ndarray | None = None
    gaze: np.ndarray | None = None
    albedo: np.ndarray | None = None
    lighting: np.ndarray | None = None
    skin: np.ndarray | None = None


def mesh_vertices(model, result: FitResult, posed: bool = False, expression: bool = True) -> np.ndarray:
    """float32 [V, 3] mesh of ``result`` evaluated with ``model`` (cm): identity and (``expression``) the
    fitted expression, the eyeballs turned by the fitted gaze; ``posed``: moved into camera space by the
    fitted head pose."""
    t = lambda a: torch.from_numpy(np.asarray(a, np.float32))[None].to(model.neutral.dtype)  # noqa: E731
    with torch.no_grad():
        v = model(t(result.identity), t(result.expression) if expression else None).vertices[0]
        if result.gaze is not None:
            v = turn_eyeballs(model, v, torch.from_numpy(np.asarray(result.gaze, np.float32)).to(v.dtype))
        if posed:
            rot = geometry.axis_angle_to_matrix(t(result.rotation))[0]
            v = v @ rot.T + t(result.translation)[0]
    return v.float().numpy()


def eye_rotation(pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """[3, 3] eyeball rotation in head space for a gaze of ``pitch`` (up) and ``yaw`` (towards +x), rad:
    Ry(yaw) @ Rx(-pitch), so that the forward axis +z turns to (sin yaw cos pitch, sin pitch, ...)."""
    cp, sp, cy, sy = torch.cos(pitch), torch.sin(pitch), torch.cos(yaw), torch.sin(yaw)
    one, zero = torch.ones_like(cp), torch.zeros_like(cp)
    rx = torch.stack([one, zero, zero, zero, cp, sp, zero, -sp, cp]).view(3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy]).view(3, 3)
    return ry @ rx


def turn_eyeballs(model, vertices: torch.Tensor, gaze: torch.Tensor) -> torch.Tensor:
    """``vertices [V, 3]`` (head space) with each eyeball rotated about its centre (the sclera's mean) by
    ``gaze [2, 2]`` (left, right) x (pitch, yaw) rad. Returns a new tensor."""
    from .correspondence import SCLERA_VERTICES

    out = vertices.clone()
    for k, side in enumerate(("left", "right")):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        centre = vertices[e0:e0 + SCLERA_VERTICES].mean(0)
        rot = eye_rotation(gaze[k, 0], gaze[k, 1])
        out[e0:e1] = (vertices[e0:e1] - centre) @ rot.T + centre
    return out


# MediaPipe eye contours (16 points each) and irises (centre first, then 4 on the rim).
EYE_CONTOUR = {"left": [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466],
               "right": [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]}
IRISES = ([468, 469, 470, 471, 472], [473, 474, 475, 476, 477])


# ---------------------------------------------------------------------------------------------- steps

def face_scale(points: torch.Tensor) -> float:
    """Size of a face in pixels: sqrt of the area of the box around ``points [P, 2]``."""
    span = points.max(0).values - points.min(0).values
    return float(torch.sqrt(span[0] * span[1]))


def initial_pose(det: Detection, points: torch.Tensor, target: torch.Tensor, camera: Camera) -> Pose:
    """Rotation from MediaPipe's transformation matrix (same axes as the model); translation placing the
    model's points ``[P, 3]`` over the image points ``target [P, 2]`` (centroid and spread)."""
    u, _, vt = np.linalg.svd(det.transform[:3, :3].astype(np.float64))  # drop any scale in the matrix
    rot = torch.from_numpy(u @ vt).float()
    rx = points @ rot.T
    spread_model = (rx[:, :2] - rx[:, :2].mean(0)).norm(dim=1).mean()
    spread_image = (target - target.mean(0)).norm(dim=1).mean()
    depth = camera.focal * spread_model / spread_image
    mean = target.mean(0)
    t = torch.stack([(mean[0] - camera.cx) * depth / camera.focal, -(mean[1] - camera.cy) * depth / camera.focal,
                     -depth]) - rx.mean(0) * torch.tensor([1.0, 1.0, 0.0])
    return Pose(rot, t)


def solve_pose(points: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, camera: Camera, pose: Pose,
               iterations: int = 4) -> Pose:
    """Weighted Gauss-Newton on the head pose. ``points [P, 3]`` model space, ``target [P, 2]`` pixels,
    ``weights [P]``. Rotation updates are applied on the left: R <- exp([w]x) R."""
    rot, t = pose.rotation, pose.translation
    w = weights.repeat_interleave(2)
    for _ in range(iterations):
        rp = points @ rot.T
        y = rp + t
        jp = project_jacobian(y, camera)  # [P, 2, 3]
        j = torch.cat([jp @ -geometry.skew(rp), jp], 2).reshape(-1, 6)  # d pixels / d (w, t)
        r = (project(y, camera) - target).reshape(-1)
        h = (j.T @ (w[:, None] * j)).double() + 1e-6 * torch.eye(6, dtype=torch.float64)
        step = torch.linalg.solve(h, -(j.T @ (w * r)).double()).float()
        rot = geometry.axis_angle_to_matrix(step[None, :3])[0] @ rot
        t = t + step[3:]
    return Pose(rot, t)


def solve_focal(sub: SubModel, target: torch.Tensor, weights: torch.Tensor, camera: Camera, pose: Pose,
                theta: torch.Tensor, scale: float, n_id: int = N_ID, iterations: int = 5
                ) -> tuple[Pose, Camera, torch.Tensor]:
    """The focal length of a photo without EXIF: Gauss-Newton on the head pose, the log focal length and the
    first ``n_id`` identity coefficients (N(0,1) prior), the expression held at ``theta``'s, under a
    log-normal prior on the focal length centred on ``camera``'s (FOCAL_SIGMA), kept within FOCAL_RANGE of
    it. ``sub`` P points, ``target [P, 2]`` pixels, ``weights [P]``, residuals in units of SIGMA * ``scale``
    as ``objective``. The perspective of the face's depth decides: a near, wide-angle face and a far,
    long-lens one of the same image size differ in how the nose and cheeks project, which a different
    face shape explains only at the prior's cost. Returns the pose, the camera and theta [153]."""
    f0, rot, t, theta = camera.focal, pose.rotation, pose.translation, theta.clone()
    w = weights.repeat_interleave(2) / (SIGMA * scale) ** 2
    basis = sub.basis[:, :, :n_id]
    prior = torch.cat([torch.full((6,), 1e-6), torch.tensor([FOCAL_SIGMA ** -2]), torch.full((n_id,), IDENTITY_PRIOR)])

    def energy(rot, t, camera, theta) -> float:
        r = project(sub.points(theta) @ rot.T + t, camera) - target
        return float((w * r.reshape(-1).square()).sum() + IDENTITY_PRIOR * theta[:n_id].square().sum()
                     + (np.log(camera.focal / f0) / FOCAL_SIGMA) ** 2)

    e = energy(rot, t, camera, theta)
    for _ in range(iterations):
        rp = sub.points(theta) @ rot.T
        y = rp + t
        jp = project_jacobian(y, camera)
        p = project(y, camera)
        a = torch.cat([jp @ -geometry.skew(rp), jp, (p - torch.tensor([camera.cx, camera.cy]))[:, :, None],
                       torch.bmm(jp @ rot, basis)], 2).reshape(-1, 7 + n_id)
        r = (p - target).reshape(-1)
        # the priors' pull at the current point: log focal towards log f0, identity towards 0
        g0 = torch.cat([torch.zeros(6), torch.tensor([float(np.log(camera.focal / f0))]), theta[:n_id]])
        h = (a.T @ (w[:, None] * a)).double() + torch.diag(prior).double()
        step = torch.linalg.solve(h, -(a.T @ (w * r) + prior * g0).double()).float()
        for _ in range(4):  # halved until the energy drops
            new_rot = geometry.axis_angle_to_matrix(step[None, :3])[0] @ rot
            log_f = float(np.clip(np.log(camera.focal / f0) + float(step[6]), *np.log(FOCAL_RANGE)))
            new_camera = replace(camera, focal=float(f0 * np.exp(log_f)))
            new_theta = theta.clone()
            new_theta[:n_id] += step[7:]
            new_e = energy(new_rot, t + step[3:6], new_camera, new_theta)
            if new_e <= e:
                break
            step = step / 2
        else:
            break
        rot, t, camera, theta, e = new_rot, t + step[3:6], new_camera, new_theta, new_e
    return Pose(rot, t), camera, theta


def solve_bounded(h: torch.Tensor, b: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
                  x: torch.Tensor, iterations: int = 30) -> torch.Tensor:
    """argmin f(x) = 0.5 x'Hx - b'x subject to lower <= x <= upper (``h [K, K]`` positive definite).

    Projected Newton (Bertsekas 1982) from ``x [K]``: variables at a bound whose gradient points out of the
    box are held; a Newton step on the others is projected onto the box and halved until f drops enough.
    """
    f = lambda v: float(0.5 * v @ (h @ v) - b @ v)  # noqa: E731
    x = torch.clamp(x, lower, upper)
    fx = f(x)
    for _ in range(iterations):
        g = h @ x - b
        eps = min(1e-3, float((x - torch.clamp(x - g, lower, upper)).abs().max()))
        held = ((x <= lower + eps) & (g > 0)) | ((x >= upper - eps) & (g < 0))
        free = ~held
        d = torch.zeros_like(x)
        d[free] = -torch.linalg.solve(h[free][:, free], g[free])
        alpha = 1.0
        for _ in range(20):
            xn = torch.clamp(x + alpha * d, lower, upper)
            fn = f(xn)
            if fn <= fx + 1e-4 * float(g @ (xn - x)):
                break
            alpha /= 2
        done = float((xn - x).abs().max()) < 1e-7
        x, fx = xn, fn
        if done:
            break
    return x


def objective(sub: SubModel, target: torch.Tensor, weights: torch.Tensor, camera: Camera, pose: Pose,
              theta: torch.Tensor, expression_prior: torch.Tensor, scale: float,
              l1: torch.Tensor | None = None, expression_precision: float | None = None) -> float:
    """The fitting energy: weighted squared landmark residuals (units of SIGMA * scale) plus the priors
    (``l1 [53]``: the linear sparsity cost per unit expression weight, or None; ``expression_precision``:
    the pull towards ``expression_prior``, default EXPRESSION_PRIOR)."""
    ep = EXPRESSION_PRIOR if expression_precision is None else expression_precision
    r = (project(pose.apply(sub.points(theta)), camera) - target).square().sum(1)
    data = (weights * r).sum() / (SIGMA * scale) ** 2
    e = theta[N_ID:]
    prior = IDENTITY_PRIOR * theta[:N_ID].square().sum() + ep * (e - expression_prior).square().sum()
    if l1 is not None:
        prior = prior + (l1 * e).sum()
    return float(data + prior)


def sparsity(scores: torch.Tensor) -> torch.Tensor:
    """Per-channel sparsity threshold [53] in standard errors from MediaPipe's scores ``[53]`` (ICT order):
    SPARSITY where MediaPipe scores 0, fading linearly to 0 at SCORE_ON."""
    return SPARSITY * (1 - scores / SCORE_ON).clamp(0, 1)


def solve_joint(sub: SubModel, target: torch.Tensor, weights: torch.Tensor, camera: Camera, pose: Pose,
                theta: torch.Tensor, expression_prior: torch.Tensor, scale: float,
                threshold: torch.Tensor | None = None, lower: torch.Tensor | None = None,
                upper: torch.Tensor | None = None, expression_precision: float | None = None
                ) -> tuple[Pose, torch.Tensor]:
    """One Gauss-Newton step on pose, identity and expression together, as a bounded linear least-squares
    problem: identity has a N(0,1) prior, the expression lies in [``lower``, ``upper``] ([53], default
    [0, 1]; equal bounds hold a channel) and is pulled towards ``expression_prior [53]``, with an L1 term
    that soft-thresholds each channel by ``threshold [53]`` standard errors (see ``sparsity``); the pull has
    the precision ``expression_precision`` (default EXPRESSION_PRIOR). ``sub`` P
    points, ``target [P, 2]`` pixels, ``weights [P]``, ``scale`` the face size in pixels (residuals count
    in units of SIGMA * scale). The step is halved until the energy drops. Returns the new pose and
    theta [153]."""
    rp = sub.points(theta) @ pose.rotation.T
    y = rp + pose.translation
    jp = project_jacobian(y, camera)  # [P, 2, 3]
    a_pose = torch.cat([jp @ -geometry.skew(rp), jp], 2)  # d pixels / d (rotation, translation) increments
    a_shape = torch.bmm(jp @ pose.rotation, sub.basis)  # d pixels / d theta
    a = torch.cat([a_pose, a_shape], 2).reshape(-1, 6 + N_ID + N_EXP)
    c = (project(y, camera) - target).reshape(-1) - a[:, 6:] @ theta  # residual = c + a @ (step, theta)
    w = weights.repeat_interleave(2) / (SIGMA * scale) ** 2
    ep = EXPRESSION_PRIOR if expression_precision is None else expression_precision
    prior = torch.cat([torch.full((6,), 1e-6), torch.full((N_ID,), IDENTITY_PRIOR), torch.full((N_EXP,), ep)])
    mean = torch.cat([torch.zeros(6 + N_ID), expression_prior])
    data_h = (a.T @ (w[:, None] * a)).double()
    h = data_h + torch.diag(prior).double()
    b = (prior * mean - a.T @ (w * c)).double()
    # Pose and identity are unbounded: eliminate them (Schur complement), solve the bounded expression.
    n = 6 + N_ID
    huu, hue, hee = h[:n, :n], h[:n, n:], h[n:, n:]
    chol = torch.linalg.cholesky(huu)
    k = torch.cholesky_solve(torch.cat([hue, b[:n, None]], 1), chol)
    reduced = hee - hue.T @ k[:, :-1]
    l1 = None
    if threshold is not None:
        # The curvature c the landmarks give each channel once pose and identity have had their say; its
        # weight's standard error is 1 / sqrt(c), so a linear cost of z * sqrt(c) thresholds at z of them.
        curvature = (reduced.diagonal() - ep).clamp_min(0)
        l1 = threshold.double() * curvature.sqrt()
    lo = torch.zeros(N_EXP, dtype=h.dtype) if lower is None else lower.double()
    hi = torch.ones(N_EXP, dtype=h.dtype) if upper is None else upper.double()
    rhs = b[n:] - hue.T @ k[:, -1] - (0 if l1 is None else l1)
    expression = solve_bounded(reduced, rhs, lo, hi, theta[N_ID:].double())
    unbounded = (k[:, -1] - k[:, :-1] @ expression).float()
    step, new_theta = unbounded[:6], torch.cat([unbounded[6:], expression.float()])

    l1f = None if l1 is None else l1.float()
    before = objective(sub, target, weights, camera, pose, theta, expression_prior, scale, l1f, ep)
    for _ in range(4):
        new_pose = Pose(geometry.axis_angle_to_matrix(step[None, :3])[0] @ pose.rotation, pose.translation + step[3:])
        if objective(sub, target, weights, camera, new_pose, new_theta, expression_prior, scale, l1f, ep) <= before:
            return new_pose, new_theta
        step, new_theta = step / 2, (theta + new_theta) / 2
    return pose, theta


def silhouette(corr: Correspondence, theta: torch.Tensor, pose: Pose) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-space jaw candidates [J, 3] and a mask [J] of those near the silhouette (normal about
    perpendicular to the view ray)."""
    y = pose.apply(corr.jaw.points(theta))
    n = corr.jaw_normals @ pose.rotation.T
    grazing = ((n * y).sum(1) / y.norm(dim=1)).abs()
    least = float(grazing.kthvalue(min(32, len(grazing))).values)  # never empty, whatever the pose
    return y, grazing <= max(SILHOUETTE_COS, least)


def match_contour(corr: Correspondence, image_points: torch.Tensor, theta: torch.Tensor, pose: Pose,
                  camera: Camera) -> torch.Tensor:
    """For each image outline point ``[C, 2]``, the jaw candidate (index into ``corr.jaw``) on the model's
    silhouette that projects closest to it (eos's contour correspondence)."""
    y, sil = silhouette(corr, theta, pose)
    ids = torch.nonzero(sil).squeeze(1)
    return ids[torch.cdist(image_points, project(y[ids], camera)).argmin(1)]


def robust_weights(residual: torch.Tensor, scale: float) -> torch.Tensor:
    """Huber IRLS weights from pixel residuals ``[P, 2]``."""
    e = residual.norm(dim=1) / (SIGMA * scale)
    return torch.clamp(HUBER / e.clamp_min(1e-9), max=1.0)


def jaw_landmarks(corr: Correspondence, theta: torch.Tensor, pose: Pose, camera: Camera,
                  outline: torch.Tensor) -> torch.Tensor:
    """The 17 iBUG jaw points [17, 2], placed as annotators do, on the visible outline of the face: a model
    jaw landmark that faces the camera moves to the closest point of the detected face ``outline [C, 2]``
    (a polyline, ear to chin to ear), one that turns away to the closest point of the model's silhouette;
    then the points are spread evenly along the curve (ear to chin, chin to ear)."""
    y = pose.apply(corr.ibug68.rows(torch.arange(17)).points(theta))
    p = project(y, camera)
    ys, sil = silhouette(corr, theta, pose)
    sil_p = project(ys[sil], camera)
    n = corr.ibug68_normals[:17] @ pose.rotation.T
    facing = ((n * y).sum(1) / y.norm(dim=1)) < -JAW_FACING_COS
    curve = torch.where(facing[:, None], closest_on_polyline(p, outline), sil_p[torch.cdist(p, sil_p).argmin(1)])
    return torch.cat([resample(curve[:9], 9), resample(curve[8:], 9)[1:]])


def fixed_68(corr: Correspondence) -> SubModel:
    """The 68 fixed face points of the 3D convention (``ibug68_3d``): ``corr.ibug68_3d``, where AFLW2000-3D's
    own definition (Basel Face Model keypoint vertices) puts the jaw, brows and nose (the jaw then moved on
    the surface to where the benchmark's re-annotated points put it: ``tools/build_correspondence.py``'s
    ``with_annotated_jaw``), with ``ibug68``'s eyes and lips. A correspondence without it takes ``corr.ibug68`` with the jaw where the 2D convention puts
    it on the mean face seen from the front, each point the nearest jaw-candidate vertex (ill-posed under
    the chin, where the view grazes the surface). Built once per ``corr``."""
    cached = getattr(corr, "_fixed68", None)
    if cached is None:
        if corr.ibug68_3d is not None:
            cached = corr.ibug68_3d
        else:
            theta = torch.zeros(N_ID + N_EXP)
            camera = Camera(2000.0, 511.5, 511.5, 1024, 1024)
            pose = Pose(torch.eye(3), torch.tensor([0.0, 0.0, -70.0]))
            outline = project(pose.apply(corr.landmarks.rows(corr.outline).points(theta)), camera)
            front = jaw_landmarks(corr, theta, pose, camera, outline)
            jaw = corr.jaw.rows(torch.cdist(front, project(pose.apply(corr.jaw.points(theta)), camera)).argmin(1))
            cached = SubModel.cat([jaw, corr.ibug68.rows(torch.arange(17, 68))])
        object.__setattr__(corr, "_fixed68", cached)
    return cached


def closest_on_polyline(points: torch.Tensor, polyline: torch.Tensor) -> torch.Tensor:
    """The closest point of ``polyline [K, 2]`` to each of ``points [P, 2]`` -> [P, 2]."""
    a, ab = polyline[:-1], polyline[1:] - polyline[:-1]
    t = (((points[:, None] - a) * ab).sum(-1) / ab.square().sum(-1).clamp_min(1e-9)).clamp(0, 1)  # [P, K-1]
    q = a + t[..., None] * ab
    best = (q - points[:, None]).norm(dim=-1).argmin(1)
    return q[torch.arange(len(points)), best]


def resample(polyline: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` points evenly spaced by arc length along ``polyline [K, 2]`` (ends kept)."""
    seg = (polyline[1:] - polyline[:-1]).norm(dim=1)
    arc = torch.cat([torch.zeros(1), seg.cumsum(0)])
    at = torch.linspace(0, float(arc[-1]), n)
    i = torch.searchsorted(arc, at, right=True).clamp(1, len(polyline) - 1) - 1
    f = ((at - arc[i]) / seg[i].clamp_min(1e-9)).clamp(0, 1)[:, None]
    return polyline[i] * (1 - f) + polyline[i + 1] * f


def solve_gaze(corr: Correspondence, landmarks: torch.Tensor, theta: torch.Tensor, pose: Pose, camera: Camera,
               blink: tuple[float, float] = (0.0, 0.0), iterations: int = 4) -> torch.Tensor:
    """Gaze [2, 2] (left, right) x (pitch, yaw) rad of the eyes in ``landmarks [478, 2|3]`` (MediaPipe, with
    irises), for the fitted ``theta`` and ``pose``: each eyeball is turned about its centre until the model's
    iris centre projects onto the detected one (Gauss-Newton on 2 angles per eye). The detected iris is
    taken relative to its eye (the offset of the fitted eye contour from the detected one is removed:
    across from all 16 contour points, up and down from the two corners), so that the fit's small
    misplacement of the eye does not read as a gaze. An eye that MediaPipe scores
    as closed (``blink`` above BLINK_NO_GAZE; its iris is a guess), or whose iris lies outside it, takes
    the other eye's gaze, or none; two open eyes share their mean gaze."""
    # Small fixed-size problems: numpy float64 (torch's per-op overhead would dominate).
    eyes = corr.eyes.points(theta).double().numpy()
    rot, t = pose.rotation.double().numpy(), pose.translation.double().numpy()
    xy = landmarks[:, :2].double().numpy()
    ids_all = torch.tensor(EYE_CONTOUR["left"] + EYE_CONTOUR["right"])
    contours = project(pose.apply(corr.landmarks.rows(ids_all).points(theta)), camera).double().numpy()
    f, cx, cy = camera.focal, camera.cx, camera.cy

    def proj(p: np.ndarray) -> np.ndarray:  # [N, 3] camera space -> [N, 2] pixels (camera.project)
        z = np.maximum(-p[:, 2], 1e-6)
        return np.stack([cx + f * p[:, 0] / z, cy - f * p[:, 1] / z], 1)

    def rotations(g: np.ndarray) -> np.ndarray:  # [N, 2] (pitch, yaw) -> [N, 3, 3], as eye_rotation
        cp, sp, cy_, sy = np.cos(g[:, 0]), np.sin(g[:, 0]), np.cos(g[:, 1]), np.sin(g[:, 1])
        o, z = np.ones_like(cp), np.zeros_like(cp)
        rx = np.stack([o, z, z, z, cp, sp, z, -sp, cp], 1).reshape(-1, 3, 3)
        ry = np.stack([cy_, z, sy, z, o, z, -sy, z, cy_], 1).reshape(-1, 3, 3)
        return ry @ rx

    out = np.zeros((2, 2))
    closed = [b > BLINK_NO_GAZE for b in blink]
    probe = np.array([[0, 0], [1e-3, 0], [-1e-3, 0], [0, 1e-3], [0, -1e-3]])
    for k, side in enumerate(("left", "right")):
        ids = np.array(EYE_CONTOUR[side])
        residual = xy[ids] - contours[16 * k:16 * (k + 1)]
        # Across, the whole contour places the eye; up and down, the corners only: the lids move with
        # the gaze and MediaPipe's lids follow the iris more than the model's do.
        shift = np.array([residual[:, 0].mean(), residual[[0, 8], 1].mean()])
        middle = xy[ids].mean(0)
        iris = min(IRISES, key=lambda i: float(np.linalg.norm(xy[i[0]] - middle)))
        if np.linalg.norm(xy[iris[0]] - middle) > 0.5 * np.linalg.norm(xy[ids[0]] - xy[ids[8]]):
            closed[k] = True  # no iris inside this eye (no iris landmarks, or a wrong one)
            continue
        target = xy[iris].mean(0) - shift
        centre, offset = eyes[2 * k], eyes[2 * k + 1] - eyes[2 * k]
        g = np.zeros(2)
        for _ in range(iterations):
            pts = proj((centre + rotations(g + probe) @ offset) @ rot.T + t)  # [5, 2]: g and 4 probes
            jac = np.stack([pts[1] - pts[2], pts[3] - pts[4]], 1) / 2e-3
            g = np.clip(g - np.linalg.solve(jac.T @ jac + 1e-9 * np.eye(2), jac.T @ (pts[0] - target)),
                        -EYE_LOOK_RAD, EYE_LOOK_RAD)
        out[k] = g
    if not any(closed):  # the eyes turn together (a camera is far compared to their distance): averaging
        out[:] = out.mean(0)  # halves the noise of each eye's iris and contour
    for k in range(2):
        if closed[k]:
            out[k] = 0 if closed[1 - k] else out[1 - k]
    return torch.from_numpy(out).float()


LOOK = {name: ICT_NAMES.index(name) for name in ICT_NAMES if name.startswith("eyeLook")}
LOOK_CHANNELS = torch.tensor(sorted(LOOK.values()))


def gaze_weights(gaze: torch.Tensor) -> torch.Tensor:
    """ICT expression weights [53] of the eyeLook* lid shapes for ``gaze [2, 2]`` (others 0): 1 is a turn
    of EYE_LOOK_RAD; the left eye looking towards +x looks out, the right eye in."""
    w = torch.zeros(N_EXP)
    for k, s in enumerate(("_L", "_R")):
        pitch, yaw = (float(v) / EYE_LOOK_RAD for v in gaze[k])
        out_amount = yaw if s == "_L" else -yaw
        w[LOOK["eyeLookUp" + s]], w[LOOK["eyeLookDown" + s]] = max(pitch, 0.0), max(-pitch, 0.0)
        w[LOOK["eyeLookOut" + s]], w[LOOK["eyeLookIn" + s]] = max(out_amount, 0.0), max(-out_amount, 0.0)
    return w.clamp(0, 1)


# ---------------------------------------------------------------------------------------------- driver

def fit_detection(det: Detection, camera: Camera, corr: Correspondence, estimate_focal: bool = False) -> FitResult:
    """Fit the model behind ``corr`` (``correspondence.load_correspondence(model)``) to one detected face
    (see the module docstring for the stages). ``estimate_focal``: ``camera``'s focal length is only a guess
    (a photo without EXIF): after the rigid pose, estimate it (``solve_focal``: pose, focal length and
    identity on the face's fixed points, a log-normal prior centred on the guess), then fit as for a known
    focal length; the result's camera has the estimate. Off by default: EXIF photos and a video's fixed
    camera (``face3d.track``) keep theirs. Raises ``BadFit`` when the result is not a sane face."""
    with one_thread(), torch.no_grad():
        lm_all = torch.from_numpy(det.landmarks.astype(np.float32))
        lm = lm_all[:468, :2]
        scale = face_scale(lm)
        contour = corr.contour
        fixed = torch.nonzero(corr.weights > 0).squeeze(1)
        fixed = fixed[~torch.isin(fixed, contour)]
        prior = torch.from_numpy(arkit_to_ict(det.blendshape_vector())).clamp(0, 1)
        # No scores (a detection from elsewhere): no evidence that a channel is absent, so no sparsity.
        threshold = sparsity(prior) if det.blendshapes else torch.zeros(N_EXP)
        precision = EXPRESSION_PRIOR if det.blendshapes else UNSCORED_PRIOR
        threshold[LOOK_CHANNELS] = 0.0  # the gaze, not the landmarks, sets these
        blink = (det.blendshapes.get("eyeBlinkLeft", 0.0), det.blendshapes.get("eyeBlinkRight", 0.0))
        has_irises = len(lm_all) >= 478 and corr.eyes is not None
        gaze = torch.zeros(2, 2)
        lower, upper = torch.zeros(N_EXP), torch.ones(N_EXP)
        theta = torch.cat([torch.zeros(N_ID), prior])
        theta[N_ID + LOOK_CHANNELS] = 0.0
        surface = corr.landmarks.rows(fixed)

        base_w = corr.weights[fixed]
        pose = initial_pose(det, surface.points(theta), lm[fixed], camera)
        pose = solve_pose(surface.points(theta), lm[fixed], base_w, camera, pose)
        if estimate_focal:  # then the fit as for a known focal length: the pose again from the start
            camera = solve_focal(surface, lm[fixed], base_w, camera, pose, theta, scale, FOCAL_IDENTITY)[1]
            pose = initial_pose(det, surface.points(theta), lm[fixed], camera)
            pose = solve_pose(surface.points(theta), lm[fixed], base_w, camera, pose)
        target = torch.cat([lm[fixed], lm[contour]])
        weights = torch.cat([base_w, torch.ones(len(contour))])
        for i in range(ROUNDS):
            if has_irises and i == 0:  # once on the rigid pose: enough to set the lids for the solve
                gaze = solve_gaze(corr, lm_all, theta, pose, camera, blink)
            look = gaze_weights(gaze)[LOOK_CHANNELS]
            lower[LOOK_CHANNELS] = upper[LOOK_CHANNELS] = theta[N_ID + LOOK_CHANNELS] = look
            sub = SubModel.cat([surface, corr.jaw.rows(match_contour(corr, lm[contour], theta, pose, camera))])
            pose, theta = solve_joint(sub, target, weights, camera, pose, theta, prior, scale, threshold, lower, upper,
                                      precision)
            rw = robust_weights(project(pose.apply(sub.points(theta)), camera) - target, scale)
            weights = torch.cat([base_w, torch.ones(len(contour))]) * rw
        if has_irises:
            gaze = solve_gaze(corr, lm_all, theta, pose, camera, blink)
            theta[N_ID + LOOK_CHANNELS] = gaze_weights(gaze)[LOOK_CHANNELS]

        fixed68 = pose.apply(fixed_68(corr).points(theta))
        ibug3d = project(fixed68, camera)
        ibug = project(pose.apply(corr.ibug68.rows(torch.arange(17, 68)).points(theta)), camera)
        ibug = torch.cat([jaw_landmarks(corr, theta, pose, camera, lm[corr.outline]), ibug])
        rotvec = geometry.matrix_to_axis_angle(pose.rotation[None].double())[0]
    result = FitResult(theta[:N_ID].numpy(), theta[N_ID:].numpy(), rotvec.float().numpy(),
                       pose.translation.numpy(), camera, ibug.numpy(), det.landmarks.astype(np.float32),
                       ibug3d.numpy(), fixed68.numpy(), gaze.numpy())
    check_fit(result)
    return result


def check_fit(result: FitResult) -> None:
    """Raise ``BadFit`` unless the fit is finite, in front of the camera and its landmarks on the image."""
    arrays = (result.identity, result.expression, result.rotation, result.translation, result.ibug68,
              *(a for a in (result.ibug68_3d, result.ibug68_3d_cm, result.gaze) if a is not None))
    if not all(np.isfinite(a).all() for a in arrays):
        raise BadFit("the fit did not converge (non-finite parameters)")
    cam = result.camera
    w, h = cam.width, cam.height
    inside = ((result.ibug68 >= [-0.5 * w, -0.5 * h]) & (result.ibug68 <= [1.5 * w, 1.5 * h])).all()
    if result.translation[2] >= 0 or not inside or np.abs(result.identity).max() > 10:
        raise BadFit("the fit is implausible (face behind the camera, off the image or an extreme shape)")
