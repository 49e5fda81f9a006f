"""Photometric geometry correction of a landmark fit (the ``refine`` stage's small pose, identity and
expression corrections, issue 12).

A photo with a per-texel albedo of its own explains itself on any geometry (de-lit photo = albedo), so the
photometric term needs an albedo prior to say anything about where the face lies: here the face's
left-right symmetry. The loss is that of a render with a mirror-symmetric albedo, written in model space
(inverse rendering): for each mirror pair of visible skin vertices (``FaceModel.mirror``) the photo is
sampled where the two project and de-lit by the first ``refine.observe``'s SH light at their normals; the
pair's residual is the difference of the two de-lit colours (the symmetric albedo is their mean, so this is
the render's residual at both, up to a factor). Geman-McClure robust, weighted by the skin mask and how
squarely the camera sees both. Plus the landmark reprojection loss at the landmark fit's weights, taken
relative to the fit (the model's correspondence points are held where the fit projected them, so the
correction moves only what the landmarks leave free or what the photo strongly asks for), and the fit's
priors (identity N(0, 1), expression pulled to the fit's and kept in [0, 1]).

Gauss-Newton with IRLS weights and a step halved until the energy drops, ``ITERATIONS`` steps, numpy
float64 throughout (deterministic, no threads involved); visibility and the pairs are fixed from the fit's
rasterised view (``refine.rasterize_view``, ``face3d.render``). The photo is sampled bilinearly from the
refinement's crop blurred by ``BLUR`` px (a wider basin first, then ``BLUR[-1]``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

ITERATIONS = (4, 4)  # Gauss-Newton steps per blur level
BLUR = (2.0, 1.0)  # Gaussian blur (crop px) of the photo per level
SIGMA_PHOTO = 0.04  # robust scale of a pair's de-lit difference (linear RGB)
PHOTO_WEIGHT = 2000.0  # the photometric term's weight (per unit mean robust residual over the pairs)
TIE = 1.0  # extra pull of the corrected identity towards the fit's (on top of the N(0, 1) prior)
MIN_PAIRS = 200  # fewer visible mirror pairs than this: no correction
FACING = 0.35  # both vertices of a pair must face the camera by this much (cos)
FREE = ("pose", "expression")  # what the correction may change (pose is always free)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def _skew(v: np.ndarray) -> np.ndarray:
    """[N, 3] -> [N, 3, 3] cross-product matrices."""
    z = np.zeros(len(v))
    return np.stack([np.stack([z, -v[:, 2], v[:, 1]], 1), np.stack([v[:, 2], z, -v[:, 0]], 1),
                     np.stack([-v[:, 1], v[:, 0], z], 1)], 1)


def _project(p: np.ndarray, cam) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space points [N, 3] -> pixels [N, 2] and d pixels / d point [N, 2, 3] (``camera.project``)."""
    z = np.maximum(-p[:, 2], 1e-6)
    f = cam.focal
    xy = np.stack([cam.cx + f * p[:, 0] / z, cam.cy - f * p[:, 1] / z], 1)
    zero = np.zeros(len(p))
    jac = np.stack([np.stack([f / z, zero, f * p[:, 0] / z ** 2], 1),
                    np.stack([zero, -f / z, -f * p[:, 1] / z ** 2], 1)], 1)
    return xy, jac


def _sample_grad(image: np.ndarray, grad: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of ``image [h, w, 3]`` and its gradient ``grad [h, w, 3, 2]`` at ``xy [N, 2]``."""
    h, w = image.shape[:2]
    x = np.clip(xy[:, 0], 0, w - 1.001)
    y = np.clip(xy[:, 1], 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = x - x0, y - y0

    def bil(im):
        e = (slice(None),) + (None,) * (im.ndim - 2)
        return ((im[y0, x0] * (1 - fx)[e] + im[y0, x0 + 1] * fx[e]) * (1 - fy)[e]
                + (im[y0 + 1, x0] * (1 - fx)[e] + im[y0 + 1, x0 + 1] * fx[e]) * fy[e])

    return bil(image), bil(grad)


@dataclasses.dataclass
class _Problem:
    """The corrections' least-squares problem: sample vertices and landmark points as linear models of the
    free coefficients (``basis`` over them, ``mean`` with the held ones at the fit's values)."""

    mean: np.ndarray       # [N, 3] unposed sample vertices at the free coefficients' zero
    basis: np.ndarray      # [N, 3, K] d vertex / d free coefficient
    normal0: np.ndarray    # [N, 3] camera-space normals at the fit
    pair: np.ndarray       # [P, 2] rows into the samples
    weight: np.ndarray     # [P]
    lm_mean: np.ndarray    # [L, 3]
    lm_basis: np.ndarray   # [L, 3, K]
    lm_weight: np.ndarray  # [L]: the fit's weights / (SIGMA * scale)^2
    lm_target: np.ndarray  # [L, 2] photo pixels where the fit projected them
    prior: np.ndarray      # [K] precision of each free coefficient's prior
    prior_mean: np.ndarray  # [K]
    bounded: np.ndarray    # [K] bool: kept in [0, 1] (expression weights)


def correct(rgb: np.ndarray, result, model, obs, identity: bool = True):
    """``result`` (a ``FitResult``) with its pose, identity (where ``FREE`` has it and ``identity``) and
    expression (where ``FREE`` has it) corrected against the photo ``rgb`` by the loss of the module
    docstring, given the first ``refine.observe`` ``obs`` (light, skin mask, crop) on the landmark fit. Its
    ``ibug68``, ``ibug68_3d`` and ``ibug68_3d_cm`` are re-projected from the corrected model. ``result``
    itself when too few mirror pairs are seen."""
    import torch
    from scipy.ndimage import gaussian_filter

    from . import refine as rf
    from .correspondence import load_correspondence
    from .fit import EXPRESSION_PRIOR, IDENTITY_PRIOR, LOOK_CHANNELS, SIGMA, mesh_vertices

    crop = obs.crop
    cam = crop.camera
    verts = mesh_vertices(model, result, posed=True)
    normals = model.vertex_normals(verts).astype(np.float32)
    view = rf.rasterize_view(model, verts, cam, normals)
    # Per-vertex weights: visible, facing the camera, on the skin mask (``observe``'s own test).
    _, wv = rf._surface_samples(verts, normals, crop, view, obs.skin, obs.sh)
    verts, normals = verts.astype(np.float64), normals.astype(np.float64)
    facing = (normals * -verts / np.linalg.norm(verts, axis=1, keepdims=True)).sum(1)
    skin_v = obs.vertex_w > 0  # observe's skin vertices
    mir = model.mirror
    v = np.flatnonzero((mir > np.arange(model.n_vertices)) & skin_v & (facing > FACING))
    v = v[skin_v[mir[v]] & (facing[mir[v]] > FACING)]
    pw = np.minimum(wv[v], wv[mir[v]])
    keep = pw > 0.2
    v, pw = v[keep], pw[keep]
    if len(v) < MIN_PAIRS:
        return result
    ids = np.concatenate([v, mir[v]])
    pair = np.stack([np.arange(len(v)), np.arange(len(v)) + len(v)], 1)

    n_id = len(result.identity)
    theta0 = np.concatenate([result.identity, result.expression]).astype(np.float64)
    free = np.zeros(len(theta0), bool)
    if identity and "identity" in FREE:
        free[:n_id] = True
    if "expression" in FREE:
        free[n_id:] = True
        free[n_id + LOOK_CHANNELS.numpy()] = False  # the gaze sets the eyeLook lids
    f = np.flatnonzero(free)

    def linear(mean, full):  # [N, 3], [N, 3, 153] -> mean with the held coefficients, basis of the free
        held = ~free
        return mean + full[..., held] @ theta0[held], np.ascontiguousarray(full[..., f])

    full = np.concatenate([model.identity_basis[:, ids].double().numpy(),
                           model.expression_basis[:, ids].double().numpy()]).transpose(1, 2, 0)
    mean, basis = linear(model.neutral[ids].double().numpy(), full)
    corr = load_correspondence(model)
    fixed = np.flatnonzero(corr.weights.numpy() > 0)
    fixed = fixed[~np.isin(fixed, corr.contour.numpy())]
    sub = corr.landmarks.rows(torch.from_numpy(fixed))
    lm_mean, lm_basis = linear(sub.mean.double().numpy(), sub.basis.double().numpy())
    lm_xy = result.mediapipe478[:468, :2].astype(np.float64)
    span = lm_xy.max(0) - lm_xy.min(0)
    scale = float(np.sqrt(span[0] * span[1]))
    rot0 = _rodrigues(np.asarray(result.rotation, np.float64))
    t0 = np.asarray(result.translation, np.float64)
    lm_target, _ = _project((lm_mean + lm_basis @ theta0[f]) @ rot0.T + t0, result.camera)
    prior = np.where(f < n_id, IDENTITY_PRIOR + TIE, EXPRESSION_PRIOR)
    # Identity: N(0, 1) and the tie to the fit's; expression: pulled to the fit's.
    prior_mean = np.where(f < n_id, theta0[f] * TIE / (IDENTITY_PRIOR + TIE), theta0[f])
    prob = _Problem(mean, basis, normals[ids], pair, pw, lm_mean, lm_basis,
                    corr.weights.numpy()[fixed].astype(np.float64) / (SIGMA * scale) ** 2, lm_target,
                    prior, prior_mean, f >= n_id)
    sh = np.asarray(obs.sh, np.float64)

    state = (np.zeros(3), t0.copy(), theta0[f].copy())  # (rotation increment, translation, free coefficients)
    for iterations, blur in zip(ITERATIONS, BLUR):
        img = gaussian_filter(crop.image.astype(np.float64), (blur, blur, 0), truncate=3.0)
        grad = np.stack([np.gradient(img, axis=1), np.gradient(img, axis=0)], -1)  # [h, w, 3, (x, y)]
        e, _ = _energy(prob, state, rot0, img, grad, cam, result.camera, sh)
        for _ in range(iterations):
            e, (h, g) = _energy(prob, state, rot0, img, grad, cam, result.camera, sh, True)
            step = -np.linalg.solve(h + 1e-9 * np.eye(len(h)), g)
            accepted = False
            for _ in range(4):
                cand = _apply(prob, state, step)
                ec, _ = _energy(prob, cand, rot0, img, grad, cam, result.camera, sh)
                if ec <= e:
                    state, e, accepted = cand, ec, True
                    break
                step = step / 2
            if not accepted:
                break
    w, t, coef = state
    theta = theta0.copy()
    theta[f] = coef
    from scipy.spatial.transform import Rotation

    out = dataclasses.replace(result, identity=theta[:n_id].astype(np.float32),
                              expression=theta[n_id:].astype(np.float32),
                              rotation=Rotation.from_matrix(_rodrigues(w) @ rot0).as_rotvec().astype(np.float32),
                              translation=t.astype(np.float32))
    return _reproject_landmarks(out, corr)


def _apply(prob: _Problem, state, step):
    w, t, coef = state
    # Left-multiplied rotation increments compose: exp(dw) exp(w) ~ exp(w + dw) for the small angles here.
    coef = coef + step[6:]
    coef = np.where(prob.bounded, np.clip(coef, 0, 1), coef)
    return (w + step[:3], t + step[3:6], coef)


def _energy(prob: _Problem, state, rot0, img, grad, cam, photo_cam, sh, want_jacobian=False):
    """The energy of ``state``, and (``want_jacobian``) its Gauss-Newton Hessian and gradient over
    (rotation increment, translation, free coefficients)."""
    import torch

    from .render import sh_basis

    w, t, coef = state
    rw = _rodrigues(w)
    rot = rw @ rot0
    local = prob.mean + prob.basis @ coef                                 # [N, 3]
    rp = local @ rot.T
    xy, jp = _project(rp + t, cam)
    col, dcol = _sample_grad(img, grad, xy)                               # [N, 3], [N, 3, 2]
    n = prob.normal0 @ rw.T
    shade = np.clip(sh_basis(torch.from_numpy(n)).numpy() @ sh, 0.05, None)  # [N, 3]
    delit = col / shade
    a, b = prob.pair[:, 0], prob.pair[:, 1]
    r = (delit[a] - delit[b]) / SIGMA_PHOTO                              # [P, 3]
    x2 = (r * r).sum(1)
    lam = PHOTO_WEIGHT / prob.weight.sum()
    e_photo = lam * float((prob.weight * x2 / (1 + x2)).sum())
    lp = (prob.lm_mean + prob.lm_basis @ coef) @ rot.T
    lxy, ljp = _project(lp + t, photo_cam)
    lr = lxy - prob.lm_target
    e_lm = float((prob.lm_weight * (lr * lr).sum(1)).sum())
    d = coef - prob.prior_mean
    e = e_photo + e_lm + float((prob.prior * d * d).sum())
    if not want_jacobian:
        return e, None
    k = 6 + len(coef)

    def pixel_jacobian(jac, points, basis):  # d pixels / d (rotation increment, translation, coefficients)
        jb = np.einsum("nxc,dc,ndk->nxk", jac, rot, basis, optimize=True)
        return np.concatenate([np.einsum("nxc,ncd->nxd", jac, -_skew(points)), jac, jb], 2)

    jcol = np.einsum("ncx,nxk->nck", dcol / shade[..., None], pixel_jacobian(jp, rp, prob.basis))
    jr = ((jcol[a] - jcol[b]) / SIGMA_PHOTO).reshape(-1, k)                # [3P, K]
    irls = np.repeat(prob.weight * lam / (1 + x2) ** 2, 3)                # Geman-McClure weights
    jw = jr * irls[:, None]
    h = jw.T @ jr
    g = jw.T @ r.reshape(-1)
    la = pixel_jacobian(ljp, lp, prob.lm_basis).reshape(-1, k)
    lw = np.repeat(prob.lm_weight, 2)[:, None]
    h += (la * lw).T @ la
    g += (la * lw).T @ lr.reshape(-1)
    h[6:, 6:] += np.diag(prob.prior)
    h[:6, :6] += np.eye(6) * 1e-6
    g[6:] += prob.prior * d
    return e, (h, g)


def _reproject_landmarks(result, corr):
    """``result`` with ``ibug68`` (jaw on the silhouette), ``ibug68_3d`` and ``ibug68_3d_cm`` of its model
    and pose, as ``fit.fit_detection`` makes them."""
    import torch

    from . import geometry
    from .camera import project
    from .fit import Pose, fixed_68, jaw_landmarks

    with torch.no_grad():
        theta = torch.from_numpy(np.concatenate([result.identity, result.expression]).astype(np.float32))
        rot = geometry.axis_angle_to_matrix(torch.from_numpy(np.asarray(result.rotation, np.float32))[None])[0]
        pose = Pose(rot, torch.from_numpy(np.asarray(result.translation, np.float32)))
        cam = result.camera
        lm = torch.from_numpy(result.mediapipe478[:468, :2].astype(np.float32))
        fixed68 = pose.apply(fixed_68(corr).points(theta))
        ibug = project(pose.apply(corr.ibug68.rows(torch.arange(17, 68)).points(theta)), cam)
        ibug = torch.cat([jaw_landmarks(corr, theta, pose, cam, lm[corr.outline]), ibug])
        return dataclasses.replace(result, ibug68=ibug.numpy(), ibug68_3d=project(fixed68, cam).numpy(),
                                   ibug68_3d_cm=fixed68.numpy())
