"""Photometric term of the per-frame track (analysis by synthesis on surface samples, no rasteriser).

    crop = face_crop(rgb, landmarks)                       # per frame, in the detection pass: uint8 [S, S, 3]
    photo = PhotoTerm(model, identity)                     # sample points of the face, identity baked in
    photo.estimate_albedo([crops...], [(rot, t, e)...], camera)   # the clip's own albedo, from keyframes
    term = photo.frame(crop, camera)                       # callable for FrameSolver.solve(extra=term)

Between landmarks the face shows what they cannot: where a lid's edge lies on the eye, how far a lip has
rolled, a brow's crease. Each frame is compared with the model's prediction at ``SAMPLES`` points of the
face's surface (eyes, lids, brows, lips and nose densely, the rest sparsely): the point's clip albedo
times its SH shading against the blurred, linear-RGB face crop at the point's projection. The residual's
Jacobian is the image gradient there times the projection's Jacobian, the same one the landmark rows use,
so the photometric rows join ``FrameSolver``'s Gauss-Newton system (pose + expression): a few ms per
frame, no rendering. (A rasterise + autograd step of ``face3d.render`` costs tens of ms per step on this
CPU; the sample form is the classic direct tracker's, cf. Face2Face's sparse photometric term.)

- albedo: per sample, the median over the keyframes that see it (facing the camera) of colour / shading,
  the lighting fitted by ``refine.fit_sh`` (robust SH) first against a uniform albedo, then twice more;
- lighting: refitted per frame on the samples at the landmark fit's pose (``refine.fit_sh``, two robust
  rounds), so a light that changes over the clip is followed;
- visibility: samples facing away from the camera are dropped; occlusions (the nose at a turned head, a
  hand, hair) are left to Cauchy weights on the residual;
- the crop: MediaPipe's landmark box widened by MARGIN, resampled to CROP px (BOX filter), kept as
  uint8 per frame (~50 kB); blurred by BLUR px before sampling (a wider basin for the gradient).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

CROP = 128  # side of the per-frame face crop (px)
MARGIN = 0.2  # the landmark box widened by this fraction on each side
BLUR = 1.2  # Gaussian sigma (crop px) before sampling
# Blur levels of the photometric steps (step k uses level min(k, last)); a coarse first level (3 px, then
# 1.2) was tried for a wider basin and scored worse on the synthetic clip (blink r 0.87 -> 0.77).
BLURS = (BLUR,)
SAMPLES = 1600  # surface sample points
SPARSE = 6  # every SPARSE-th vertex of the narrow face away from the features
SIGMA = 0.04  # photometric noise (linear RGB) of one sample
CAUCHY = 0.08  # robust scale of the photometric residual (linear RGB)
WEIGHT = 0.5  # the photometric rows' weight against the landmark rows (samples are correlated)
FACING = 0.25  # samples whose normal faces the camera less than this (cosine) are dropped


@dataclasses.dataclass
class FaceCrop:
    """A face box resampled to ``CROP`` px: ``image [S, S, 3]`` uint8 sRGB, ``x0``, ``y0`` frame pixels of
    its corner, ``scale`` crop px per frame px."""

    image: np.ndarray
    x0: float
    y0: float
    scale: float

    def to_crop(self, px: np.ndarray) -> np.ndarray:
        """Frame pixels [..., 2] -> crop pixels (pixel centres at integers, as ``refine.face_crop``)."""
        return (px - np.array([self.x0, self.y0]) + 0.5) * self.scale - 0.5


def face_crop(rgb: np.ndarray, landmarks: np.ndarray, size: int = CROP, margin: float = MARGIN) -> FaceCrop:
    """The box of MediaPipe's ``landmarks [478, 2+]`` (frame px) widened by ``margin``, from ``rgb [H, W, 3]``
    uint8, resampled to ``size`` px square (PIL BOX filter: deterministic; black outside the frame)."""
    from PIL import Image

    lm = np.asarray(landmarks[:468, :2], np.float64)
    lo, hi = lm.min(0), lm.max(0)
    c, half = (lo + hi) / 2, (hi - lo).max() * (0.5 + margin)
    x0, y0 = int(math.floor(c[0] - half)), int(math.floor(c[1] - half))
    side = max(int(math.ceil(2 * half)), 8)
    img = Image.fromarray(rgb).crop((x0, y0, x0 + side, y0 + side))
    f = Image.Resampling.BOX if side > size else Image.Resampling.BILINEAR
    return FaceCrop(np.asarray(img.resize((size, size), f)), float(x0), float(y0), size / side)


_LINEAR = None


def linear_crop(crop: FaceCrop, blur: float = None) -> np.ndarray:
    """float32 [S, S, 9]: the crop in linear RGB, blurred by ``blur`` px (default BLUR), then its x and y
    gradients (per px)."""
    import cv2

    global _LINEAR
    if _LINEAR is None:
        from .texture import srgb_to_linear

        _LINEAR = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
    img = _LINEAR[crop.image]
    img = cv2.GaussianBlur(img, (0, 0), BLUR if blur is None else blur, borderType=cv2.BORDER_REPLICATE)
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[:, 1:-1] = (img[:, 2:] - img[:, :-2]) * 0.5
    gy[1:-1] = (img[2:] - img[:-2]) * 0.5
    return np.concatenate([img, gx, gy], 2)


def bilinear(planes: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``planes [H, W, C]`` at float pixel positions ``xy [P, 2]`` -> (values [P, C], inside [P] bool)."""
    h, w = planes.shape[:2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1.001) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1.001)
    x = np.clip(xy[:, 0], 0, w - 1.001)
    y = np.clip(xy[:, 1], 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    flat = planes.reshape(h * w, -1)
    i = y0 * w + x0
    top = flat[i] * (1 - fx) + flat[i + 1] * fx
    bottom = flat[i + w] * (1 - fx) + flat[i + w + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float64), inside


def sample_vertices(model) -> np.ndarray:
    """Vertex ids of the samples: the narrow face's vertices near the brows, eyes and lips (``refine``'s
    feature weight > 0.5) and along the nose, and every SPARSE-th of the others; at most SAMPLES, evenly
    thinned (deterministic)."""
    from .refine import feature_vertices

    n = model.regions["narrow_face"][1]
    feat = feature_vertices(model)[:n] > 0.5
    neutral = model.neutral.cpu().numpy()[:n]
    nose = neutral[model.landmarks68[27:36]]
    near_nose = np.linalg.norm(neutral[:, None] - nose[None], axis=2).min(1) < 0.8
    dense = np.flatnonzero(feat | near_nose)
    sparse = np.setdiff1d(np.arange(0, n, SPARSE), dense)
    if len(dense) + len(sparse) > SAMPLES:
        keep = max(SAMPLES - len(sparse), SAMPLES // 2)
        dense = dense[np.linspace(0, len(dense) - 1, keep).round().astype(np.int64)]
        sparse = sparse[np.linspace(0, len(sparse) - 1, SAMPLES - len(dense)).round().astype(np.int64)]
    return np.unique(np.concatenate([dense, sparse]))


class PhotoTerm:
    """The photometric rows for ``FrameSolver`` (see the module docstring) for one identity."""

    def __init__(self, model, identity: np.ndarray):
        import torch

        from .track import N_EXP, N_ID

        self.ids = sample_vertices(model)
        ident = torch.from_numpy(np.asarray(identity, np.float32))[None].to(model.neutral.dtype)
        with torch.no_grad():
            v = model.blend(ident)[0].double().numpy()
        self.mean = v[self.ids]
        self.normal = model.vertex_normals(v)[self.ids].astype(np.float64)
        self.exp = np.ascontiguousarray(model.expression_basis.cpu().numpy()[:, self.ids].astype(np.float64)
                                        .transpose(1, 2, 0))  # [P, 3, 53]
        self.exp32 = self.exp.astype(np.float32)
        assert self.exp.shape[2] == N_EXP and len(identity) == N_ID
        self.levels = None

    # -------------------------------------------------------------------------------------- geometry
    def points(self, e: np.ndarray) -> np.ndarray:
        return self.mean + (self.exp.reshape(-1, self.exp.shape[2]) @ e).reshape(-1, 3)

    def observe(self, planes: np.ndarray, crop: FaceCrop, camera, rot, t, e):
        """Colour [P, 3] and gradient [P, 3, 2] at the samples' projections, the camera-space points
        [P, 3], the normals [P, 3] and the usable mask [P]."""
        from .track import project

        x = self.points(e)
        y = x @ rot.T + t
        px = crop.to_crop(project(y, camera))
        vals, inside = bilinear(planes, px)
        n = self.normal @ rot.T
        view = -y / np.linalg.norm(y, axis=1, keepdims=True)
        ok = inside & ((n * view).sum(1) > FACING)
        grad = np.stack([vals[:, 3:6], vals[:, 6:9]], 2)
        return vals[:, :3], grad, y, x, n, ok

    # -------------------------------------------------------------------------------------- albedo
    def estimate_albedo(self, crops: list[FaceCrop], states: list[tuple], camera) -> None:
        """The clip's albedo per sample and blur level (``BLURS``) from keyframes ``crops`` with their fitted
        ``states`` (rot, t, e)."""
        self.levels = [self._albedo(crops, states, camera, b) for b in BLURS]

    def _albedo(self, crops, states, camera, blur):
        from .refine import fit_sh, sh_basis_np

        obs = []
        for crop, (rot, t, e) in zip(crops, states):
            colour, _, _, _, n, ok = self.observe(linear_crop(crop, blur), crop, camera, rot, t, e)
            obs.append((colour, sh_basis_np(n).astype(np.float64), ok))
        skin = np.median(np.concatenate([c[ok] for c, _, ok in obs]), 0)
        albedo = np.broadcast_to(skin, (len(self.ids), 3)).copy()
        for _ in range(3):
            shs = [fit_sh(b[ok], c[ok], albedo[ok], np.ones(int(ok.sum())), rounds=3) for c, b, ok in obs]
            est = np.full((len(obs), len(self.ids), 3), np.nan)
            for k, ((c, b, ok), sh) in enumerate(zip(obs, shs)):
                shade = b @ sh
                good = ok & (shade.min(1) > 0.05)
                est[k, good] = c[good] / shade[good]
            seen = np.isfinite(est[..., 0]).any(0)
            if seen.any():
                albedo[seen] = np.nanmedian(est[:, seen], 0)
        return np.clip(albedo, 0, 2), seen, shs[0]

    # -------------------------------------------------------------------------------------- per frame
    def frame(self, crop: FaceCrop, camera):
        """The term of one frame: ``f(rot, t, e) -> (h [59, 59], g [59])`` with ``g = -J' W r`` at that state
        (``FrameSolver.solve``'s ``extra``)."""
        from .refine import fit_sh, sh_basis_np
        from .track import N_EXP, project_jacobian

        planes = [linear_crop(crop, b) for b in BLURS]
        s = crop.scale
        state = {"sh": None, "fitted": False, "calls": 0}

        def term(rot, t, e):
            level = min(state["calls"], len(BLURS) - 1)
            state["calls"] += 1
            albedo, known, _ = self.levels[level]
            colour, grad, y, x, n, ok = self.observe(planes[level], crop, camera, rot, t, e)
            ok &= known
            if ok.sum() < 50:
                return None
            basis = sh_basis_np(n[ok]).astype(np.float64)
            if not state["fitted"]:  # the frame's lighting, once (at the landmark fit's pose)
                state["sh"] = fit_sh(basis, colour[ok], albedo[ok], np.ones(int(ok.sum())), rounds=2)
                state["fitted"] = True
            sh = state["sh"]
            pred = albedo[ok] * (basis @ sh)
            r = (colour[ok] - pred).astype(np.float32)  # [Q, 3]: d r / d params = grad @ d px / d params
            rp = x[ok] @ rot.T
            jp = project_jacobian(y[ok], camera) * s  # crop px per cm of camera space [Q, 2, 3]
            gc = np.einsum("qcx,qxk->qck", grad[ok], jp)  # colour per cm [Q, 3, 3]
            j = np.empty((len(rp), 3, 6 + N_EXP), np.float32)
            j[:, :, :3] = np.cross(rp[:, None, :], gc)  # per rotation increment (as FrameSolver's rows)
            j[:, :, 3:6] = gc
            gm = (gc @ rot).astype(np.float32)  # per cm of model space
            ex = self.exp32[ok]
            j[:, :, 6:] = gm[:, :, 0, None] * ex[:, None, 0] + gm[:, :, 1, None] * ex[:, None, 1] \
                + gm[:, :, 2, None] * ex[:, None, 2]
            j = j.reshape(-1, 6 + N_EXP)
            res = r.reshape(-1)
            w = (WEIGHT / SIGMA ** 2) / (1 + (res / CAUCHY) ** 2)
            jw = j * w[:, None]
            return (jw.T @ j).astype(np.float64), -(jw.T @ res).astype(np.float64)

        term.state = state
        return term
