"""The ``refine`` stage: lighting and albedo by analysis by synthesis, after the landmark fit.

    result = refine(rgb, result, model)                  # FitResult with albedo [H,W,3] and lighting [9,3]
    results = refine_same_person([rgb_a, rgb_b], [fit_a, fit_b], model)   # one albedo, light per photo

Per photo (all deterministic, no iterative optimiser):
1. the face's box is cut from the photo at up to ``WORK`` pixels and the fitted mesh rasterised over it
   (``face3d.render``): per-pixel triangle, normal and depth;
2. a skin mask: a Gaussian colour model (chromaticity) fitted robustly inside the face and re-estimated
   after the lighting is known, plus a shading residual test, so hair, beards, glasses and hands drop out;
3. lighting: second-order SH (9 x RGB) by iteratively re-weighted least squares (Cauchy weights) on the
   skin pixels, first against a uniform albedo, then twice against a smooth, mirror-symmetric per-vertex
   albedo (symmetry separates side light from albedo);
4. albedo: every skin texel of the atlas (``face3d.texture``) seen by the photo takes photo / shading;
   unseen or masked texels take their mirror texel (``FaceModel.mirror``), the rest a smooth fill over the
   mesh surface from the nearest skin; eyes (iris colour from MediaPipe's iris landmarks), teeth, gums and
   mouth are procedural. Colours are linear RGB inside, sRGB in ``albedo``.

Lighting convention (``lighting.json``): ``sh [9, 3]`` linear-RGB irradiance coefficients in camera space
(camera looking down -z, y up) for ``face3d.render.shading.sh_basis``'s order ``(1, y, z, x, xy, yz,
3z^2-1, xz, x^2-y^2)`` with the clamped-cosine band factors folded into the basis: a surface of linear
albedo ``a`` and unit normal ``n`` shows ``a * (sh_basis(n) @ sh)``. The scale is set so that the mean
irradiance over the face's skin is 1.
"""
from __future__ import annotations

import dataclasses
import functools
import threading

import numpy as np
import torch

from . import texture as tx
from .camera import Camera, project
from .fit import FitResult, mesh_vertices

WORK = 512  # longest side (px) of the face crop the refinement works on
MAX_SAMPLES = 15000  # skin pixels used for the lighting fit
OBSERVE_STEP = 2  # photos are sampled on a half-resolution atlas (the crop has at most WORK px anyway)
LIGHT_ROUNDS = 2  # lighting fits against the smooth, mirror-symmetric albedo
SMOOTH_ITERATIONS, SMOOTH_KEEP = 20, 0.5  # its smoothing: Jacobi sweeps, weight kept by the known vertices (< 1: blurred too)
DARK = 0.08  # lighting samples darker than this times the skin's median are left out (deep shadow, nostrils)
BRIGHTEST = 0.95  # de-lit samples lose their weight from BRIGHTEST - 0.15 to BRIGHTEST (linear, any channel)
SHADOW = 0.5  # albedo samples lit by less than this (irradiance; the skin's mean is 1) lose weight
LIGHT_SEARCH = 3000  # samples the light direction search uses
LUMA = np.array([0.2126, 0.7152, 0.0722])  # linear RGB -> luminance (Rec. 709)
LIGHT_FREE = 0.3  # how much of the free SH fit's departure from ambient + one distant light is kept
SKIN_FULL, SKIN_ZERO = 6.0, 12.0  # skin colour weight 1 within Mahalanobis distance^2 SKIN_FULL, 0 beyond SKIN_ZERO
ERODE = 5  # outside the narrow face the skin mask is eroded by this window (crop px)
CAUCHY = 0.08  # robust scale of the photometric residual (linear RGB)
# Non-skin parts textured from the photo where it sees them (the procedural texture elsewhere).
INTERIOR = ("eyeball_left", "eyeball_right", "teeth", "gums_and_tongue", "mouth_socket", "eyelashes_left",
            "eyelashes_right")
DRAW_LASHES = False  # the opaque renderer draws the upper lash cards (never the lower ones); viewers draw all, alpha-blended
# The photo's eye pixels textured into the eyeballs (off: procedural, the photo's iris colour and a white
# tinted by the photo's; real face PSNR 22.35 dB against 22.96 on, by eye both plausible).
EYE_SPLAT = True
EYE_BLUR = 1.5  # their splats' blur (grid cells of SPLAT_STEP texels): a photo's eye, ~40 px, spread thin over the cells left a dotted white
SCLERA_LUM = (0.45, 0.75)  # the tinted white's linear luminance is held in this range
SHARPNESS = 0.5  # several photos: each texel's photos weighted by trust * confidence ** SHARPNESS (2 before 2026-12-04: a softer blend re-renders every frame better, 6 clips of 6)
TRUST = True
SPLAT_STEP, SPLAT_FILL, SPLAT_FULL = 4, 4, 0.6  # their atlas grid, hole-closing levels, weight seen in full
LASH_ROOT, LASH_SKIN = (0.08, 0.3), 1.0  # lash cards dark within 0.08 cm of the skin, the skin they lie over beyond 0.3 cm
MIRROR_TOLERANCE = 0.3  # cm: a texel's mirror texel lies this close to its mirrored surface point
COHERENT = 5  # atlas window (half-resolution texels) over which a texel's photo weight is averaged: full below 0.5
LID_RATIO = (0.5, 0.8)  # a triangle's area open / closed lids below which its photo samples lose all (to full) weight
GEOMETRY = False  # photometric correction of the fit's pose and expression (refine_geometry): off, it gained ~0.1 dB
# iBUG ranges (brows, eyes, lips, nostrils) and radius (cm): their dark or non-skin colours belong to the albedo
# (the nostrils' darkness is the mouth of a cavity the SH shading cannot model; left to the skin test they were
# dropped, filled pale, and in several photos taken from a misregistered one).
# The brows' centre is 0.4 cm below ICT's brow landmarks: in fitted albedos the brow hair lies in the lower half
# of a region round them, and its upper half took a fringe's ends as "brow" (a dark strip at the hairline).
FEATURES = ((17, 27, 0.9, -0.4), (36, 48, 0.9, 0.0), (48, 68, 1.0, 0.0), (31, 36, 0.6, 0.0))

_LOCAL = threading.local()


def render_context():
    """The calling thread's ``RenderContext`` (created on first use; GL contexts are per thread)."""
    from .render import RenderContext

    ctx = getattr(_LOCAL, "ctx", None)
    if ctx is None:
        ctx = _LOCAL.ctx = RenderContext()
    return ctx


# ---------------------------------------------------------------------------------------------- atlas data

ATLAS_CACHE = "refine_atlas.npz"  # in face3d.assets.home(): the mesh-only atlas data below, built once


@dataclasses.dataclass
class AtlasData:
    """What the refinement needs of the atlas that depends on the mesh only: ``texels`` (``OBSERVE_STEP``
    grid), ``skin`` (positions of its skin texels), ``mirror`` (per skin texel the position in ``skin`` of
    its mirror texel or -1), and the procedural parts at full resolution: flat atlas index ``proc_index
    [M]``, ``proc_base [M, 3]``, ``proc_gain [M, 1]`` (value = base + gain * iris)."""

    texels: tx.AtlasTexels
    skin: np.ndarray
    mirror: np.ndarray
    proc_index: np.ndarray
    proc_base: np.ndarray
    proc_gain: np.ndarray
    lash: np.ndarray | None = None  # positions in proc_index of the eyelash texels
    lash_vertex: np.ndarray | None = None  # per lash texel the nearest skin vertex (the lid margin at the root)
    lash_root: np.ndarray | None = None  # per lash texel its distance from that vertex (cm)


def _interior_codes() -> list[int]:
    return [tx.REGION_NAMES.index(n) for n in INTERIOR]


def atlas_data(model) -> AtlasData:
    """``AtlasData`` of ``model``: in memory once per model, on disk (``ATLAS_CACHE``) once per model and
    version of the code that builds it (rasterising the full atlas costs seconds; loading it milliseconds)."""
    cached = getattr(model, "_refine_atlas", None)
    if cached is None:
        cached = _load_atlas_data(model)
        object.__setattr__(model, "_refine_atlas", cached)
    return cached


def _atlas_key(model) -> str:
    import hashlib
    import inspect

    from .render import rasterize as rasterize_module

    h = hashlib.sha256()
    for a in (model.faces.cpu().numpy(), model.uv_faces, model.uvs, model.neutral.cpu().numpy(), model.mirror,
              model.triangle_polygon, np.asarray(model.landmarks68)):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(sorted(model.regions.items())).encode())
    for module in (tx, rasterize_module):
        h.update(inspect.getsource(module).encode())
    h.update(inspect.getsource(_build_atlas_data).encode() + inspect.getsource(_mirror_texels).encode())
    h.update(f"{OBSERVE_STEP} {MIRROR_TOLERANCE}".encode())
    return h.hexdigest()


def _load_atlas_data(model) -> AtlasData:
    from .formats.modelcache import derived_cache

    def build() -> dict[str, np.ndarray]:
        data = _build_atlas_data(model)
        t = data.texels
        return dict(index=t.index.astype(np.int32), triangle=t.triangle.astype(np.int32), bary=t.bary,
                    region=t.region.astype(np.int8), nearest=t.nearest.astype(np.int32),
                    skin=data.skin.astype(np.int32), mirror=data.mirror.astype(np.int32),
                    proc_index=data.proc_index.astype(np.int32), proc_base=data.proc_base, proc_gain=data.proc_gain,
                    lash=data.lash.astype(np.int32), lash_vertex=data.lash_vertex.astype(np.int32),
                    lash_root=data.lash_root.astype(np.float32))

    z = derived_cache(ATLAS_CACHE, _atlas_key(model), build)
    t = tx.AtlasTexels(z["index"].astype(np.int64), z["triangle"].astype(np.int64), z["bary"],
                       z["region"].astype(np.int64), OBSERVE_STEP)
    t.__dict__["nearest"] = z["nearest"].astype(np.int64)  # the cached_property, filled
    return AtlasData(t, z["skin"].astype(np.int64), z["mirror"].astype(np.int64), z["proc_index"].astype(np.int64),
                     z["proc_base"], z["proc_gain"], z["lash"].astype(np.int64), z["lash_vertex"].astype(np.int64),
                     z["lash_root"])


def _build_atlas_data(model) -> AtlasData:
    texels = tx.atlas_texels(model, OBSERVE_STEP)
    skin = _skin_texels(model, texels)
    fine = tx.atlas_texels(model)
    psel, base, gain = tx._procedural(model, fine)
    from scipy.spatial import cKDTree

    codes = [tx.REGION_NAMES.index(n) for n in ("eyelashes_left", "eyelashes_right")]
    lash = np.flatnonzero(np.isin(fine.region[psel], codes))
    neutral = model.neutral.cpu().numpy()
    tri = model.faces.cpu().numpy()
    skin_v = np.unique(tri[tx.region_mask(model, ("face",))].reshape(-1))
    d, nn = cKDTree(neutral[skin_v]).query(tx.texel_values(model, fine, neutral, psel[lash]))
    return AtlasData(texels, skin, _mirror_texels(model, texels, skin), fine.index[psel],
                     base.astype(np.float32), gain.astype(np.float32), lash, skin_v[nn], d.astype(np.float32))


# ---------------------------------------------------------------------------------------------- views

@dataclasses.dataclass
class Crop:
    """A box of a photo resampled to ``camera``'s size: ``image [h, w, 3]`` linear RGB float32, ``valid
    [h, w]`` (inside the photo), ``box (x0, y0, x1, y1)`` in photo pixels, ``scale`` crop px per photo px."""

    image: np.ndarray
    valid: np.ndarray
    camera: Camera
    box: tuple[float, float, float, float]
    scale: float


def face_crop(rgb: np.ndarray, result: FitResult, work: int = WORK, margin: float = 0.35) -> Crop:
    """The fitted face's box (landmarks widened by ``margin``) from ``rgb [H, W, 3]`` uint8, at most
    ``work`` px on its longer side (never upsampled)."""
    from PIL import Image

    pts = np.concatenate([result.ibug68, result.mediapipe478[:468, :2]])
    lo, hi = pts.min(0), pts.max(0)
    c, half = (lo + hi) / 2, (hi - lo).max() * (0.5 + margin)
    x0, y0 = np.floor(c - half).astype(int)
    side = int(np.ceil(2 * half))
    s = min(1.0, work / side)
    n = max(8, int(round(side * s)))
    s = n / side
    img = Image.fromarray(rgb).crop((x0, y0, x0 + side, y0 + side))  # PIL pads outside the photo with black
    mask = Image.fromarray(np.full(rgb.shape[:2], 255, np.uint8)).crop((x0, y0, x0 + side, y0 + side))
    img = np.asarray(img.resize((n, n), Image.Resampling.BOX if s < 1 else Image.Resampling.BILINEAR))
    valid = np.asarray(mask.resize((n, n), Image.Resampling.BOX)) > 250
    cam = result.camera
    camera = Camera(cam.focal * s, (cam.cx - x0 + 0.5) * s - 0.5, (cam.cy - y0 + 0.5) * s - 0.5, n, n)
    return Crop(tx.srgb_to_linear(img / 255.0).astype(np.float32), valid, camera,
                (float(x0), float(y0), float(x0 + side), float(y0 + side)), s)


@dataclasses.dataclass
class View:
    """The fitted mesh rasterised over a crop: per pixel ``triangle [h, w]`` (model triangle, -1 none),
    ``normal [h, w, 3]`` unit camera-space, ``point [h, w, 3]`` camera space (cm)."""

    triangle: np.ndarray
    normal: np.ndarray
    point: np.ndarray


def lower_lash_triangles(model) -> np.ndarray:
    """bool [F]: the lower lids' lash cards (those whose tips point down from their root on the lid)."""
    from .materials import lower_lash_vertices

    lash = tx.region_mask(model, ("eyelashes_left", "eyelashes_right"))
    return lash & lower_lash_vertices(model)[model.faces.cpu().numpy()].all(1)


def _drawn(model) -> tuple[np.ndarray, torch.Tensor]:
    """The triangles ``render`` and ``rasterize_view`` draw: ``tx.drawn_triangles`` without the lash cards
    (``DRAW_LASHES``). Drawn opaque, without the viewers' alpha, the lower cards stood off the lower lid as a
    grey shelf and the upper ones, on a closed eye, hung under the lid as a wide band; the photo's own lash
    line on the lid's skin reads better."""
    key = "_refine_drawn"
    cached = getattr(model, key, None)
    if cached is None:
        lashes = tx.region_mask(model, ("eyelashes_left", "eyelashes_right")) if not DRAW_LASHES else lower_lash_triangles(model)
        keep = np.flatnonzero(tx.drawn_triangles(model) & ~lashes)
        cached = (keep, torch.from_numpy(model.faces.cpu().numpy()[keep].astype(np.int32)))
        object.__setattr__(model, key, cached)
    return cached


def rasterize_view(model, vertices: np.ndarray, camera: Camera, normals: np.ndarray | None = None) -> View:
    """Rasterise the drawn triangles of ``vertices [V, 3]`` (camera space) in ``camera``'s image;
    ``normals [V, 3]``: the vertex normals when already known (``model.vertex_normals(vertices)``)."""
    from .render import interpolate, rasterize, to_clip

    keep, tri = _drawn(model)
    v = torch.from_numpy(np.asarray(vertices, np.float32))[None]
    rast = rasterize(render_context(), to_clip(v, camera), tri, (camera.height, camera.width), cull_backfaces=True)
    if normals is None:
        normals = model.vertex_normals(vertices)
    attr = torch.cat([torch.from_numpy(np.asarray(normals, np.float32))[None], v], 2)
    vals = interpolate(attr, rast, tri)[0].numpy()
    ids = rast[0, ..., 3].round().long().numpy() - 1
    triangle = np.where(ids >= 0, keep[ids.clip(0)], -1)
    n = vals[..., :3] / np.linalg.norm(vals[..., :3], axis=-1, keepdims=True).clip(1e-9)
    return View(triangle, n.astype(np.float32), vals[..., 3:])


def sh_basis_np(n: np.ndarray) -> np.ndarray:
    """``face3d.render.shading.sh_basis`` on numpy normals ``[..., 3]`` -> ``[..., 9]``."""
    from .render import sh_basis

    return sh_basis(torch.from_numpy(np.asarray(n, np.float32))).numpy()


# ---------------------------------------------------------------------------------------------- skin

def chroma(lin: np.ndarray) -> np.ndarray:
    """[..., 3] linear RGB -> [..., 2] chromaticity (r, g) / (r + g + b)."""
    s = lin.sum(-1, keepdims=True).clip(1e-4)
    return lin[..., :2] / s


def colour_model(samples: np.ndarray, rounds: int = 4, keep: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """A robust Gaussian over chromaticities ``samples [N, 2]``: mean [2] and inverse covariance [2, 2]
    re-estimated on the samples within Mahalanobis distance² ``keep`` (starting from the median/MAD)."""
    mean = np.median(samples, 0)
    mad = np.median(np.abs(samples - mean), 0) * 1.4826 + 1e-4
    inv = np.diag(1 / mad ** 2)
    for _ in range(rounds):
        d = samples - mean
        inside = np.einsum("ni,ij,nj->n", d, inv, d) < keep
        if inside.sum() < 20:
            break
        mean = samples[inside].mean(0)
        cov = np.cov(samples[inside].T) + np.eye(2) * 1e-6
        inv = np.linalg.inv(cov)
    return mean, inv


def skin_weight(lin: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Soft skin probability [...] in [0, 1] of linear-RGB pixels ``lin [..., 3]``."""
    d = chroma(lin) - mean
    m = np.einsum("...i,ij,...j->...", d, inv, d)
    return np.clip((SKIN_ZERO - m) / (SKIN_ZERO - SKIN_FULL), 0, 1)


def feature_vertices(model) -> tuple[np.ndarray, np.ndarray]:
    """float32 [V] in [0, 1] twice: (keep) near the brows, eyes, lips and nostrils, where non-skin colours
    belong to the albedo; (avoid) that and round ICT's brow landmarks too, left out of the skin colour model
    and the lighting samples (cached on the model)."""
    cached = getattr(model, "_refine_features", None)
    if cached is None:
        keep = _feature_vertices(model, True)
        cached = keep, np.maximum(keep, _feature_vertices(model, False))
        object.__setattr__(model, "_refine_features", cached)
    return cached


def _feature_vertices(model, shifted: bool) -> np.ndarray:
    neutral = model.neutral.cpu().numpy()
    out = np.zeros(model.n_vertices, np.float32)
    face_v = np.zeros(model.n_vertices, bool)
    face_v[: model.regions["face"][1]] = True
    for a, b, radius, dy in FEATURES:
        centres = neutral[model.landmarks68[a:b]] + np.array([0.0, dy if shifted else 0.0, 0.0], np.float32)
        d = np.linalg.norm(neutral[:, None] - centres[None], axis=2).min(1)
        out = np.maximum(out, np.clip((radius * 1.3 - d) / (radius * 0.3), 0, 1))
    return np.where(face_v, out, 0)


# ---------------------------------------------------------------------------------------------- lighting

def fit_sh(basis: np.ndarray, colour: np.ndarray, albedo: np.ndarray, weight: np.ndarray, rounds: int = 4
           ) -> np.ndarray:
    """SH [9, 3] minimising a Cauchy-robust ``|colour - albedo * (basis @ sh)|`` over samples: ``basis
    [N, 9]``, ``colour``/``albedo [N, 3]`` linear RGB, ``weight [N]`` prior weights (skin). A small ridge
    keeps the second band tame where few normals are seen."""
    sh = np.zeros((9, 3))
    w = weight.astype(np.float64).copy()
    ridge = np.array([0, 1, 1, 1, 4, 4, 4, 4, 4], np.float64) * 1e-3
    for _ in range(rounds):
        for c in range(3):
            a = basis * albedo[:, c:c + 1]
            h = (a * w[:, None]).T @ a
            h += np.diag(ridge) * np.trace(h) / 9
            sh[:, c] = np.linalg.solve(h + 1e-9 * np.eye(9), (a * w[:, None]).T @ colour[:, c])
        r = np.linalg.norm(colour - albedo * (basis @ sh), axis=1)
        w = weight / (1 + (r / CAUCHY) ** 2)
    return sh


def _directions(n: int = 600) -> np.ndarray:
    """[n, 3] unit vectors spread evenly over the sphere (Fibonacci lattice; deterministic)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (3 - np.sqrt(5)) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


@functools.lru_cache(maxsize=1)
def _cap() -> np.ndarray:
    """[~150, 3] the directions of a 20000-point lattice within 10 degrees of +z (1.4 degrees apart)."""
    d = _directions(20000)
    return d[d[:, 2] > np.cos(np.radians(10))]


def _directional_sh(dirs: np.ndarray) -> np.ndarray:
    """[K, 9] SH of a unit distant light towards each of ``dirs [K, 3]`` (``face3d.lighting.directional``
    with ambient 0, diffuse 1)."""
    from .lighting import C0, C1, C2, C20, C22

    x, y, z = dirs.T
    return np.pi * np.stack([np.full_like(x, C0), C1 * y, C1 * z, C1 * x, C2 * x * y, C2 * y * z,
                             C20 * (3 * z * z - 1), C2 * x * z, C22 * (x * x - y * y)], 1)


def fit_light(basis: np.ndarray, colour: np.ndarray, albedo: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """SH [9, 3] of ``fit_sh``'s problem with a physical prior: a coloured ambient plus one coloured distant
    light (direction searched on a sphere lattice, then on a finer one around the best; non-negative
    strengths), the free fit's Cauchy weights; then the free 9 x 3 fit's departure from it, shrunk by
    ``LIGHT_FREE`` (second-order SH fitted to the half of the sphere a face shows trades its constant, its
    z and its 3z^2-1 terms off against each other; the parametric light cannot)."""
    from .lighting import C0

    sh_free = fit_sh(basis, colour, albedo, weight)
    r = np.linalg.norm(colour - albedo * (basis @ sh_free), axis=1)
    w = (weight / (1 + (r / CAUCHY) ** 2)).astype(np.float64)
    step = max(1, len(basis) // LIGHT_SEARCH)  # the search on a deterministic subset of the samples
    bs, w = basis[::step].astype(np.float64), w[::step]
    amb = bs[:, 0] / C0                                                 # [N] irradiance of ambient 1
    a, y = albedo[::step].astype(np.float64), colour[::step].astype(np.float64)  # [N, 3]
    best = None
    dirs = _directions()
    for _ in range(2):
        e = np.einsum("ni,ki->nk", bs, _directional_sh(dirs))            # [N, K]
        # Per channel c the 2 x 2 normal equations of colour ~ albedo * (p * amb + q * e_k), all k at once.
        wa2, way = w[:, None] * a * a, w[:, None] * a * y
        suu, suy, syy = (wa2 * (amb ** 2)[:, None]).sum(0), (way * amb[:, None]).sum(0), (w[:, None] * y * y).sum(0)
        # (einsum: BLAS is ~40x slower on these thin products)
        suv = np.einsum("nc,nk->ck", wa2 * amb[:, None], e)               # [3, K]
        svv, svy = np.einsum("nc,nk->ck", wa2, e * e), np.einsum("nc,nk->ck", way, e)
        suu, suy, syy = suu[:, None], suy[:, None], syy[:, None]
        det = np.maximum(suu * svv - suv ** 2, 1e-12)
        p = np.clip((svv * suy - suv * svy) / det, 0, None)
        q = np.clip((suu * svy - suv * suy) / det, 0, None)
        # Clamped to >= 0: each one alone where the other hit 0.
        p = np.where(q <= 0, np.clip(suy / np.maximum(suu, 1e-12), 0, None), p)
        q = np.where(p <= 0, np.clip(svy / np.maximum(svv, 1e-12), 0, None), q)
        cost = (syy - 2 * p * suy - 2 * q * svy + p * p * suu + 2 * p * q * suv + q * q * svv).sum(0)
        coef = np.stack([p, q], -1).transpose(1, 0, 2)                   # [K, 3, 2]
        k = int(np.argmin(cost))
        best = (dirs[k], coef[k])
        # A finer lattice within ~10 degrees of the best direction.
        fine = _cap()
        z = dirs[k]
        t = np.cross(z, [0.0, 1.0, 0.0] if abs(z[1]) < 0.9 else [1.0, 0.0, 0.0])
        t /= np.linalg.norm(t)
        dirs = fine @ np.stack([t, np.cross(z, t), z])
    d, ab = best
    sh_par = np.outer(np.eye(9)[0] / C0, ab[:, 0]) + np.outer(_directional_sh(d[None])[0], ab[:, 1])
    return sh_par + LIGHT_FREE * (sh_free - sh_par)


def light_direction(sh: np.ndarray) -> np.ndarray:
    """Unit [3] dominant light direction (camera space, surface to light) of ``sh [9, 3]``: the first band
    ``(y, z, x)`` of the luminance."""
    lum = sh @ LUMA
    d = np.array([lum[3], lum[1], lum[2]])
    return d / max(np.linalg.norm(d), 1e-12)


# ---------------------------------------------------------------------------------------------- observe

@dataclasses.dataclass
class Observation:
    """What one photo says about the albedo: ``texel [N, 3]`` linear albedo of the atlas's skin texels
    (``skin_texels``) with confidence ``texel_w [N]``, and the same per vertex ``vertex [V, 3]``,
    ``vertex_w [V]``; ``sh [9, 3]``; ``skin [h, w]`` the mask over ``crop``; ``iris [3] | None``;
    ``interior [G, 3]`` / ``interior_w [G]`` the photo's eyes and mouth (``_interior_splat``); ``trust``
    the weight of the photo among several (``harmonise``)."""

    texel: np.ndarray
    texel_w: np.ndarray
    vertex: np.ndarray
    vertex_w: np.ndarray
    sh: np.ndarray
    skin: np.ndarray
    crop: Crop
    iris: np.ndarray | None
    interior: np.ndarray | None = None
    interior_w: np.ndarray | None = None
    trust: float = 1.0


def _skin_texels(model, texels) -> np.ndarray:
    return np.flatnonzero(np.isin(texels.region, [tx.REGION_NAMES.index(n) for n in tx.SKIN]))


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image [h, w, C]`` at pixel positions ``xy [N, 2]`` (edges clamped) -> [N, C]."""
    h, w = image.shape[:2]
    x = np.clip(xy[:, 0], 0, w - 1.001)
    y = np.clip(xy[:, 1], 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = image.reshape(h, w, -1)
    return ((im[y0, x0] * (1 - fx) + im[y0, x0 + 1] * fx) * (1 - fy)
            + (im[y0 + 1, x0] * (1 - fx) + im[y0 + 1, x0 + 1] * fx) * fy)


def _surface_samples(points: np.ndarray, normals: np.ndarray, crop: Crop, view: View, skin: np.ndarray,
                     sh: np.ndarray):
    """De-lit colours and confidences of camera-space surface ``points [N, 3]`` with unit ``normals``."""
    cam = crop.camera
    xy = project(torch.from_numpy(points.astype(np.float32)), cam).numpy()
    inside = (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] <= cam.width - 1) & (xy[:, 1] <= cam.height - 1)
    xi = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, cam.width - 1)
    yi = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, cam.height - 1)
    front = view.point[yi, xi, 2]
    # Visible: nothing nearer at that pixel (depth within 2% of the distance, ~1 cm at arm's length).
    visible = inside & (view.triangle[yi, xi] >= 0) & (points[:, 2] >= front - 0.02 * np.abs(front))
    facing = (normals * -points / np.linalg.norm(points, axis=1, keepdims=True)).sum(1)
    # Only the visible samples that face the camera can have weight: the rest stay 0 (albedo 0, weight 0).
    i = np.flatnonzero(visible & (facing > 0.15))
    xy = xy[i]
    shade = (sh_basis_np(normals[i]) @ sh).clip(0.05)
    colour = _sample(crop.image, xy)
    albedo = np.zeros((len(points), 3), np.float32)
    w = np.zeros(len(points), np.float32)
    delit = colour / shade
    albedo[i] = delit.clip(0, 1)
    w[i] = np.clip((facing[i] - 0.15) / 0.35, 0, 1) * _sample(skin[..., None], xy)[:, 0] \
        * _sample(crop.valid[..., None].astype(np.float32), xy)[:, 0]
    if SHADOW > 0:  # de-lit shadow is noise and model error amplified: the mirror side, if lit, does better
        w[i] *= np.clip(shade.mean(1) / SHADOW, 0, 1)
    # No skin is white: a sample de-lit to near 1 is a highlight, teeth past the lips or a shading the SH model
    # gets wrong (under the nose, inside the lips); kept, such samples were spread white by the fills.
    w[i] *= np.clip((BRIGHTEST - delit.max(1)) / 0.15, 0, 1)
    return albedo, w


def _interior_splat(model, verts: np.ndarray, crop: Crop, view: View, sh: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The photo's de-lit colours of the pixels that show an ``INTERIOR`` part (eyes, mouth, lashes),
    splatted into the atlas at ``SPLAT_STEP``: (weighted colour sums [gh * gw, 3], weights [gh * gw]).
    Forward, pixel to texel: the eyeball's layers share their UVs, so only the layer the photo sees can
    say which texels it shows."""
    cam = crop.camera
    t_all = view.triangle
    px_region = np.where(t_all >= 0, tx.triangle_regions(model)[t_all.clip(0)], -1)
    ys, xs = np.nonzero(np.isin(px_region, _interior_codes()) & crop.valid)
    gh, gw = tx.ATLAS_H // SPLAT_STEP, tx.ATLAS_W // SPLAT_STEP
    acc, wsum = np.zeros((gh * gw, 3), np.float64), np.zeros(gh * gw, np.float64)
    if len(ys) == 0:
        return acc.astype(np.float32), wsum.astype(np.float32)
    tri = model.faces.cpu().numpy()
    t = t_all[ys, xs]
    b = _bary_at(view, ys, xs, tri, verts, cam)
    uv = np.einsum("nk,nkc->nc", b, tx.atlas_uvs(model)[model.uv_faces[t]])
    n = view.normal[ys, xs]
    p = view.point[ys, xs]
    facing = (n * -p / np.linalg.norm(p, axis=1, keepdims=True).clip(1e-9)).sum(1)
    w = np.clip((facing - 0.05) / 0.3, 0, 1)
    colour = (crop.image[ys, xs] / (sh_basis_np(n) @ sh).clip(0.05)).clip(0, 1)
    gx, gy = uv[:, 0] * gw - 0.5, (1 - uv[:, 1]) * gh - 0.5
    x0, y0 = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    fx, fy = gx - x0, gy - y0
    for dx, dy, k in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        cell = np.clip(y0 + dy, 0, gh - 1) * gw + np.clip(x0 + dx, 0, gw - 1)
        np.add.at(wsum, cell, w * k)
        np.add.at(acc, cell, colour * (w * k)[:, None])
    return acc.astype(np.float32), wsum.astype(np.float32)


def _iris_colour(rgb: np.ndarray, result: FitResult, sh: np.ndarray) -> np.ndarray | None:
    """Linear-RGB iris albedo [3] from the photo's pixels inside MediaPipe's iris circles (468-477), or
    None when the irises are too small to see."""
    lm = result.mediapipe478
    if len(lm) < 478:
        return None
    cols = []
    h, w = rgb.shape[:2]
    for c in (468, 473):
        centre = lm[c, :2]
        r = np.linalg.norm(lm[c + 1:c + 5, :2] - centre, axis=1).mean()
        if r < 2.5:
            continue
        yy, xx = np.mgrid[max(0, int(centre[1] - r)):min(h, int(centre[1] + r) + 1),
                          max(0, int(centre[0] - r)):min(w, int(centre[0] + r) + 1)]
        d = np.hypot(xx - centre[0], yy - centre[1]) / r
        ring = (d > 0.45) & (d < 0.8)  # between the pupil and the limbus, away from the eyelids' shadow
        if ring.sum() < 6:
            continue
        px = tx.srgb_to_linear(rgb[yy[ring], xx[ring]] / 255.0)
        lum = px.sum(1)
        px = px[lum <= np.quantile(lum, 0.8)]  # drop the catch-light
        cols.append(np.median(px, 0))
    if not cols:
        return None
    front = float((sh_basis_np(np.array([0.0, 0.0, 1.0])) @ sh).mean())
    return np.clip(np.mean(cols, 0) / max(front, 0.2) * 1.4, 0.005, 0.6)  # irises sit in the lids' shade


def observe(rgb: np.ndarray, result: FitResult, model) -> Observation:
    """Lighting, skin mask and de-lit albedo samples of one photo ``rgb [H, W, 3]`` uint8 (see the module
    docstring, steps 1-4)."""
    crop = face_crop(rgb, result)
    verts = mesh_vertices(model, result, posed=True)
    normals = model.vertex_normals(verts).astype(np.float32)
    view = rasterize_view(model, verts, crop.camera, normals)
    regions = tx.triangle_regions(model)
    face_px = (view.triangle >= 0) & crop.valid
    face_px &= regions[view.triangle.clip(0)] == tx.REGION_NAMES.index("face")
    tri = model.faces.cpu().numpy()
    # Per-pixel feature weights: the triangle's mean (brows, eyes, lips are not held to the skin colour).
    feat_px, avoid_px = (np.where(view.triangle >= 0, f[tri[view.triangle.clip(0)]].mean(-1), 0)
                         for f in feature_vertices(model))
    facing = (view.normal * -view.point / np.linalg.norm(view.point, axis=-1, keepdims=True).clip(1e-9)).sum(-1)

    img = crop.image
    core = face_px & (avoid_px < 0.01) & (facing > 0.3)
    if core.sum() < 50:
        core = face_px
    mean, inv = colour_model(chroma(img[core]))
    skin = skin_weight(img, mean, inv) * face_px
    lum = img.mean(-1)
    med = float(np.median(lum[core])) if core.any() else 0.2
    skin *= (lum > 0.03 * med) & (lum < 6 * med)

    # Lighting samples: skin pixels that face the camera, a deterministic stride down to MAX_SAMPLES.
    f0, f1 = model.regions["narrow_face"][2:]
    narrow = np.zeros(len(regions), bool)
    narrow[(model.triangle_polygon >= f0) & (model.triangle_polygon < f1)] = True
    inner = narrow[view.triangle.clip(0)] & (view.triangle >= 0)
    ys, xs = np.nonzero((skin > 0.5) & (avoid_px < 0.5) & (facing > 0.1) & inner & (lum > DARK * med) & (lum < 4 * med))
    step = max(1, len(ys) // MAX_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    colour, basis = img[ys, xs], sh_basis_np(view.normal[ys, xs])
    sw = skin[ys, xs]
    flat = np.median(colour, 0)
    sh = fit_light(basis, colour, np.broadcast_to(flat, colour.shape), sw)
    # White light first: the photo's colour goes to the albedo, only the shading's shape to the light.
    grey = sh.mean(1, keepdims=True)
    sh = np.repeat(grey * flat.mean(), 3, 1)
    sh /= max(float((basis @ sh).mean()), 1e-6)

    skin_v = np.zeros(model.n_vertices, bool)
    skin_v[np.unique(tri[np.isin(regions, [tx.REGION_NAMES.index(n) for n in tx.SKIN])])] = True
    for _ in range(LIGHT_ROUNDS):
        # Smooth, mirror-symmetric albedo per vertex; the lighting is re-fitted against it.
        av, wv = _surface_samples(verts, normals, crop, view, skin, sh)
        mir = np.where(model.mirror >= 0, model.mirror, np.arange(model.n_vertices))
        sym = (av * wv[:, None] + av[mir] * wv[mir, None]) / (wv + wv[mir]).clip(1e-6)[:, None]
        known = np.clip((wv + wv[mir]) / 0.5, 0, 1)
        smooth = tx.diffuse_fill(model, sym, known * SMOOTH_KEEP, skin_v, iterations=SMOOTH_ITERATIONS)
        a_px = np.einsum("nk,nkc->nc", _bary_at(view, ys, xs, tri, verts, crop.camera), smooth[tri[view.triangle[ys, xs]]])
        sh = fit_light(basis, colour, a_px.clip(0.01), sw)
        sh /= max(float((basis @ sh).mean()), 1e-6)
        # The skin mask learns from the fit: pixels that the shaded smooth albedo cannot explain drop out.
        mean, inv = colour_model(chroma(colour / (basis @ sh).clip(0.05)))
    # The colour model is of de-lit colours: it is tested on the de-lit image (a coloured light shifts
    # the photo's chromaticity off it; the raw photo's skin then fell out of the mask).
    shade_px = np.clip(sh_basis_np(view.normal) @ sh, 0.05, None)
    skin = skin_weight(img / shade_px, mean, inv) * face_px * ((lum > 0.03 * med) & (lum < 6 * med))
    # De-lit brightness far from the skin's (hair, collars, highlights) leaves the albedo too.
    delit = img.mean(-1) / shade_px.mean(-1)
    # Its reference: the lighting samples' (skin of the narrow face; ``core`` spans the mesh's whole face
    # region, scalp and neck too, and where hair covers the scalp its median was the hair's).
    ref = float(np.median(delit[ys, xs])) if len(ys) else float(np.median(delit[core])) if core.any() else 0.2
    skin *= np.clip(1.5 - np.abs(np.log(np.clip(delit, 1e-4, None) / ref)) / 0.5, 0, 1)
    if ERODE > 1:
        # Pixels beside an occluder are mixed with it or in its shadow (a collar's dark edge on the neck):
        # outside the narrow face (scalp, ears, neck) each pixel keeps the least skin weight around it.
        from scipy.ndimage import minimum_filter

        skin = np.where(inner, skin, minimum_filter(skin, size=ERODE, mode="nearest"))
    skin = np.maximum(skin, np.where(face_px, feat_px, 0))  # brows, eyes, lips stay in the albedo

    atlas = atlas_data(model)
    texels, sel = atlas.texels, atlas.skin
    lid = lid_quality(model, result)                                       # [F]
    pts = tx.texel_values(model, texels, verts, sel)
    nrm = tx.texel_values(model, texels, normals, sel)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True).clip(1e-9)
    av, wv = _surface_samples(verts, normals, crop, view, skin, sh)
    at, wt = _surface_samples(pts, nrm, crop, view, skin, sh)
    if COHERENT > 1:
        # A texel sample counts in full only among seen neighbours (atlas window ``COHERENT``): isolated
        # samples, a collar's edge or a shadow line passing the mask here and there, left dotted lines.
        from scipy.ndimage import uniform_filter

        grid = np.zeros(tx.ATLAS_H // texels.step * (tx.ATLAS_W // texels.step), np.float32)
        grid[texels.index[sel]] = wt
        grid = uniform_filter(grid.reshape(tx.ATLAS_H // texels.step, -1), COHERENT, mode="constant")
        wt = wt * np.clip(grid.reshape(-1)[texels.index[sel]] / 0.5, 0, 1)
    if lid is not None:
        wt = wt * lid[texels.triangle[sel]]
        lid_v = np.ones(model.n_vertices, np.float32)
        np.minimum.at(lid_v, tri.reshape(-1), np.repeat(lid, 3))
        wv = wv * lid_v
    ai, wi = _interior_splat(model, verts, crop, view, sh)
    return Observation(at, wt, av, wv * skin_v, sh.astype(np.float32), skin.astype(np.float32), crop,
                       _iris_colour(rgb, result, sh), ai, wi)


def lid_quality(model, result: FitResult) -> np.ndarray | None:
    """float32 [F] in [0, 1]: how well a photo of ``result``'s expression can show each triangle's skin for
    the eyes closed: the ratio of its area in the fitted expression to its area with ``eyeBlink_L/R`` = 1
    (the upper lid, folded under the crease and seen edge-on when the eye is open, stretches 2-3 times when
    it closes: its few pixels, the lash line and the fold's shadow, were smeared over the closed lid),
    mapped from ``LID_RATIO`` (0) to 1; 1 for triangles the blink does not move. None: no eyeBlink shapes."""
    names = list(getattr(model, "expression_names", []))
    if "eyeBlink_L" not in names or "eyeBlink_R" not in names or result.expression is None:
        return None
    e = np.array(result.expression, np.float32).copy()
    e[names.index("eyeBlink_L")] = e[names.index("eyeBlink_R")] = 1.0
    tri = model.faces.cpu().numpy()
    v0 = mesh_vertices(model, result)
    v1 = mesh_vertices(model, dataclasses.replace(result, expression=e))
    area = lambda v: np.linalg.norm(np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]), axis=1)  # noqa: E731
    ratio = area(v0) / np.maximum(area(v1), 1e-12)
    lo, hi = LID_RATIO
    return np.clip((ratio - lo) / (hi - lo), 0, 1).astype(np.float32)


def _bary_at(view: View, ys, xs, tri, verts, camera) -> np.ndarray:
    """Barycentrics [N, 3] of the pixels ``(ys, xs)`` on their triangles (from the interpolated points)."""
    p = view.point[ys, xs].astype(np.float64)
    c = verts[tri[view.triangle[ys, xs]]].astype(np.float64)  # [N, 3, 3]
    e0, e1, d = c[:, 1] - c[:, 0], c[:, 2] - c[:, 0], p - c[:, 0]
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (d * e0).sum(1), (d * e1).sum(1)
    den = np.where(np.abs(d00 * d11 - d01 ** 2) < 1e-12, 1e-12, d00 * d11 - d01 ** 2)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    return np.stack([1 - v - w, v, w], 1).clip(0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------- albedo

def compose_albedo(model, observations: list[Observation], sharpness: float | None = None) -> np.ndarray:
    """One linear-RGB albedo atlas ``[ATLAS_H, ATLAS_W, 3]`` float32 from one or more photos' observations:
    each texel weighted by ``confidence ** sharpness`` (the photos that see it best win), then its mirror
    texel, then the smooth surface fill; procedural eyes, teeth and mouth."""
    atlas = atlas_data(model)
    texels, sel = atlas.texels, atlas.skin
    p = SHARPNESS if sharpness is None else sharpness

    a = _blend(observations, "texel", p)
    w = np.max([o.texel_w for o in observations], 0)
    av = _blend(observations, "vertex", p)
    wv = np.max([o.vertex_w for o in observations], 0)

    # Mirror: per vertex, then per texel through the vertices' mirrored UVs.
    mir = model.mirror
    has = mir >= 0
    wm = np.where(has, wv[np.where(has, mir, 0)], 0) * (1 - wv)
    av = (av * wv[:, None] + np.where(has[:, None], av[np.where(has, mir, 0)], 0) * wm[:, None]) / (wv + wm).clip(1e-6)[:, None]
    known = np.clip((wv + wm) / 0.4, 0, 1)
    skin_v = np.zeros(model.n_vertices, bool)
    tri = model.faces.cpu().numpy()
    skin_v[np.unique(tri[texels.triangle[sel]])] = True
    base_v = tx.diffuse_fill(model, av, known, skin_v)
    base = tx.texel_values(model, texels, base_v, sel)

    m_idx = atlas.mirror
    ok = m_idx >= 0
    a_m = np.where(ok[:, None], a[m_idx.clip(0)], 0)
    w_m = np.where(ok, w[m_idx.clip(0)], 0) * (1 - w)
    comb = (a * w[:, None] + a_m * w_m[:, None]) / (w + w_m).clip(1e-6)[:, None]
    alpha = np.clip((w + w_m) / 0.4, 0, 1)[:, None]
    values = np.zeros((len(texels.index), 3), np.float32)
    values[sel] = comb * alpha + base * (1 - alpha)
    small = tx.to_image(texels, values)
    full = small
    for _ in range(OBSERVE_STEP // 2):
        full = upsample2(full)
    iris = [o.iris for o in observations if o.iris is not None]
    iris = np.asarray(np.median(iris, 0) if iris else tx.IRIS_DEFAULT, np.float32)
    flat = full.reshape(-1, 3)
    proc = (atlas.proc_base + atlas.proc_gain * iris[None]).clip(0, 1)  # tx.procedural
    seen = [o for o in observations if o.interior is not None]
    if seen:
        # The eyes and mouth where a photo sees them: its de-lit colours, blended into the procedural rest.
        gh, gw = tx.ATLAS_H // SPLAT_STEP, tx.ATLAS_W // SPLAT_STEP
        # Each photo's splats closed on their own, then per texel the photos that see it best (its own
        # gaze and mouth: a blend of several would match none).
        filled = [_pull_push(_soften_eyes(np.concatenate([o.interior, o.interior_w[:, None]], -1).reshape(gh, gw, 4)))
                  for o in seen]
        if len(filled) == 1:
            img = filled[0]
        else:
            # Confidence: coverage times how much of the eyes and mouth the photo shows (pixels, facing).
            seen_px = np.array([float(o.interior_w.sum()) for o in seen])
            k = [(f[..., 3:] * q) ** (2 * p) * o.trust for f, q, o in zip(filled, seen_px / max(seen_px.max(), 1e-9), seen)]
            colour = sum(f[..., :3] * kk for f, kk in zip(filled, k)) / np.maximum(sum(k), 1e-12)
            img = np.concatenate([colour, np.max([f[..., 3:] for f in filled], 0)], -1).astype(np.float32)
        for _ in range(SPLAT_STEP // 2):
            img = upsample2(img)
        up = img.reshape(-1, 4)[atlas.proc_index]
        cover = up[:, 3:].clip(0, 1)
        seen_colour = up[:, :3]
        x0, y0, size = tx.EYE_CELLS
        col, row = atlas.proc_index % tx.ATLAS_W, atlas.proc_index // tx.ATLAS_W
        eyes = (col >= x0) & (row >= y0) & (row < y0 + size)  # the eyeball and iris cells
        white_px = eyes & (atlas.proc_gain[:, 0] == 0) & (atlas.proc_base.mean(1) > 0.2)  # procedural white
        if not EYE_SPLAT:
            cover[eyes] = 0
        else:
            # The iris shells' ring outside the iris, seen in a thin gap round it: its UV chart is thin, its
            # splats streaked the white beside the iris; procedural (the tinted white) there.
            cover[white_px & (row >= tx.IRIS_CELLS["left"][1])] = 0
        white = _sclera_colour(seen)
        if white is not None:  # the procedural white (where no photo sees it) tinted by the photo's
            proc[white_px] *= (white / tx.SCLERA)[None]
        if atlas.lash is not None:
            # The photo's pixels over a lash card mix lid, lashes and the eye's white: no brighter than the
            # skin under the card (a closed eye showed the white as a pale band under the lid).
            seen_colour[atlas.lash] = np.minimum(seen_colour[atlas.lash], base_v[atlas.lash_vertex])
        proc = proc * (1 - cover) + seen_colour * cover
    if atlas.lash is not None:
        # Lashes the photo does not show: dark at the root along the lid margin, the rest of the card the
        # colour of the skin under it (opaque cards all dark: a closed eye showed a black bar under the lid).
        t = np.clip((atlas.lash_root - LASH_ROOT[0]) / (LASH_ROOT[1] - LASH_ROOT[0]), 0, 1)[:, None]
        c = cover[atlas.lash] if seen else 0
        fallback = tx.LASHES * (1 - t) + base_v[atlas.lash_vertex] * LASH_SKIN * t
        proc[atlas.lash] = proc[atlas.lash] * c + fallback * (1 - c)
    flat[atlas.proc_index] = proc.clip(0, 1)
    return full


def _soften_eyes(x: np.ndarray) -> np.ndarray:
    """Splat sums and weights ``x [gh, gw, 4]`` with the eyeball and iris cells' blurred (normalised:
    sums and weights alike) by ``EYE_BLUR`` grid cells: a photo's eye, ~40 px, is spread thin over the
    eyes' 256-texel cells, and its sparse splats left a dotted white."""
    if not EYE_BLUR:
        return x
    from scipy.ndimage import gaussian_filter

    x = x.copy()
    cells = [tx._CELLS["eyeball_left"], tx._CELLS["eyeball_right"], *tx.IRIS_CELLS.values()]
    for x0, y0, size in cells:  # each cell on its own
        a, b, n = x0 // SPLAT_STEP, y0 // SPLAT_STEP, size // SPLAT_STEP
        x[b:b + n, a:a + n] = gaussian_filter(x[b:b + n, a:a + n], (EYE_BLUR, EYE_BLUR, 0), mode="constant")
    return x


def _sclera_colour(observations: list[Observation]) -> np.ndarray | None:
    """Linear-RGB white of the eyes [3] from the photos' splats on the sclera cell: the brighter half of its
    seen cells (lids, lashes and shadow are darker), its chroma halfway to ``tx.SCLERA``'s, its luminance in
    ``SCLERA_LUM``; None when no photo sees the eyes' whites."""
    gh, gw = tx.ATLAS_H // SPLAT_STEP, tx.ATLAS_W // SPLAT_STEP
    cols, ws = [], []
    for o in observations:
        for side in ("left", "right"):
            x0, y0, size = tx._CELLS[f"eyeball_{side}"]
            a, b, n = x0 // SPLAT_STEP, y0 // SPLAT_STEP, size // SPLAT_STEP
            acc = o.interior.reshape(gh, gw, 3)[b:b + n, a:a + n].reshape(-1, 3)
            w = o.interior_w.reshape(gh, gw)[b:b + n, a:a + n].reshape(-1)
            ok = w > 0.05
            cols.append(acc[ok] / w[ok, None])
            ws.append(w[ok] * o.trust)
    c, w = np.concatenate(cols), np.concatenate(ws)
    if w.sum() < 2:
        return None
    lum = c @ LUMA
    bright = lum >= np.quantile(lum, 0.5)
    white = (c[bright] * w[bright, None]).sum(0) / w[bright].sum()
    ref = tx.SCLERA / (tx.SCLERA @ LUMA)
    white = 0.5 * white / max(float(white @ LUMA), 1e-6) + 0.5 * ref
    return (white * np.clip(float(c[bright] @ LUMA @ w[bright]) / w[bright].sum(), *SCLERA_LUM)).astype(np.float32)


def _blend(observations: list[Observation], kind: str, p: float) -> np.ndarray:
    """Per texel (``kind`` "texel") or vertex ("vertex") the photos' values weighted by ``trust *
    confidence ** p`` (one photo: its values)."""
    if len(observations) == 1:
        return getattr(observations[0], kind)
    k = [o.trust * getattr(o, kind + "_w").astype(np.float64) ** p for o in observations]
    total = sum(k)
    out = sum(getattr(o, kind) * kk[:, None] for o, kk in zip(observations, k)) / np.maximum(total, 1e-300)[:, None]
    return np.where(total[:, None] > 0, out, 0).astype(np.float32)


def _pull_push(x: np.ndarray) -> np.ndarray:
    """Splatted colour sums and weights ``x [h, w, 4]`` -> colour and coverage ``[h, w, 4]`` with the holes
    between the splats closed from ``SPLAT_FILL`` coarser levels (a coarse cell fills its fine cells where
    a quarter of it is seen; no colour spreads far beyond what the photo saw)."""
    pyramid = [x.astype(np.float32)]
    for _ in range(SPLAT_FILL):
        y = pyramid[-1]
        pyramid.append(y.reshape(y.shape[0] // 2, 2, y.shape[1] // 2, 2, 4).sum((1, 3)))
    out = None
    for k in range(SPLAT_FILL, -1, -1):
        level = pyramid[k]
        w = level[..., 3:]
        a = np.clip(w / (SPLAT_FULL * (4 ** k / 4 if k else 1)), 0, 1)
        c = level[..., :3] / np.maximum(w, 1e-9)
        if out is not None:
            up = upsample2(out)
            a_up = up[..., 3:] * (1 - a)
            c = (c * a + up[..., :3] * a_up) / np.maximum(a + a_up, 1e-9)
            a = a + a_up
        out = np.concatenate([c, a], -1).astype(np.float32)
    return out


def upsample2(x: np.ndarray) -> np.ndarray:
    """``[h, w, C]`` -> ``[2h, 2w, C]`` bilinear (pixel centres, edges clamped: torch's ``interpolate(...,
    align_corners=False)``), in numpy: torch's CPU kernel gives other bits on 1 and on 2 threads."""
    def double(y, ax):  # along axis ``ax`` (0 or 1)
        shape = list(y.shape)
        shape[ax] *= 2
        out = np.empty(shape, np.float32)
        at = (lambda sl: (sl,)) if ax == 0 else (lambda sl: (slice(None), sl))  # noqa: E731
        q = 0.25 * y
        np.multiply(y, 0.75, out=out[at(slice(0, None, 2))])
        np.multiply(y, 0.75, out=out[at(slice(1, None, 2))])
        out[at(slice(2, None, 2))] += q[at(slice(None, -1))]
        out[at(slice(1, -1, 2))] += q[at(slice(1, None))]
        out[at(slice(0, 1))] += q[at(slice(0, 1))]
        out[at(slice(-1, None))] += q[at(slice(-1, None))]
        return out

    return double(double(np.asarray(x, np.float32), 0), 1)


def _mirror_texels(model, texels, sel: np.ndarray) -> np.ndarray:
    """For the texels ``sel``, the position (in ``sel``) of their mirror texel, or -1."""
    tri, uvt = model.faces.cpu().numpy(), model.uv_faces
    uv = tx.atlas_uvs(model)
    vert_uv = np.zeros((model.n_vertices, 2), np.float32)
    skin_tris = np.unique(texels.triangle[sel])
    vert_uv[tri[skin_tris].reshape(-1)] = uv[uvt[skin_tris].reshape(-1)]
    corners = tri[texels.triangle[sel]]                                    # [N, 3]
    mc = model.mirror[corners]
    ok = (mc >= 0).all(1)
    muv = np.einsum("nk,nkc->nc", texels.bary[sel], vert_uv[mc.clip(0)])
    h, w = tx.ATLAS_H // texels.step, tx.ATLAS_W // texels.step
    col = np.clip((muv[:, 0] * w).astype(np.int64), 0, w - 1)
    row = np.clip(((1 - muv[:, 1]) * h).astype(np.int64), 0, h - 1)
    in_sel = np.full(len(texels.index), -1, np.int64)
    in_sel[sel] = np.arange(len(sel))
    found = np.where(ok, in_sel[texels.nearest[row * w + col]], -1)
    # A triangle across a UV seam mixes its corners' mirrored UVs from two charts (one UV per vertex above):
    # its texels' "mirror" landed anywhere (the back-of-head seam took the forehead's colour, a bright line).
    # Kept only where the mirror texel lies at the mirrored surface point.
    pos = tx.texel_values(model, texels, model.neutral.cpu().numpy(), sel)
    far = np.linalg.norm(pos[found.clip(0)] * np.array([-1.0, 1.0, 1.0]) - pos, axis=1) > MIRROR_TOLERANCE
    return np.where(far, -1, found)


# ---------------------------------------------------------------------------------------------- driver

def refine(rgb: np.ndarray, result: FitResult, model) -> FitResult:
    """Lighting and albedo of one fitted photo ``rgb [H, W, 3]`` uint8: ``result`` with ``albedo``
    (uint8 [ATLAS_H, ATLAS_W, 3] sRGB atlas), ``lighting`` (float32 [9, 3]) and ``skin`` (uint8 [H, W]
    the skin mask over the photo, 0 = left out) filled in."""
    return refine_same_person([rgb], [result], model)[0]


def refine_same_person(rgbs: list[np.ndarray], results: list[FitResult], model) -> list[FitResult]:
    """Several photos of one person: one albedo (each texel from the photos that see it best), lighting
    and skin mask per photo. (The results should share one identity: ``face3d.pipeline`` fits them so.)"""
    with torch.no_grad():
        obs = [observe(rgb, r, model) for rgb, r in zip(rgbs, results)]
        if GEOMETRY:
            # Small pose, identity (one photo only: several share the fitted one) and expression
            # corrections by the photometric loss (``face3d.refine_geometry``), then observed again.
            from .refine_geometry import correct

            results = [correct(rgb, r, model, o, identity=len(rgbs) == 1) for rgb, r, o in zip(rgbs, results, obs)]
            obs = [observe(rgb, r, model) for rgb, r in zip(rgbs, results)]
        obs = harmonise(obs)
        albedo = _to_uint8(compose_albedo(model, obs))
    return [dataclasses.replace(r, albedo=albedo, lighting=o.sh, skin=_photo_mask(o, rgb.shape[:2]))
            for r, o, rgb in zip(results, obs, rgbs)]


def harmonise(observations: list[Observation], reference: int | None = None) -> list[Observation]:
    """Several photos of one person: a photo alone cannot tell its light's colour and strength from its
    albedo's, so each photo's albedo is brought to the best-seeing photo's by one per-channel gain (least
    squares over the skin texels both see well) and its lighting divided by it: every photo's re-render
    stays as it was, and the photos' albedos can be blended. ``reference``: the photo whose albedo the others
    are brought to (default: the one that sees the most skin)."""
    if len(observations) < 2:
        return observations
    if reference is None:
        reference = int(np.argmax([o.texel_w.sum() for o in observations]))
    ref = observations[reference]
    out, spread = [], []
    for o in observations:
        both = np.minimum(o.texel_w, ref.texel_w)
        m = both > 0.5
        if o is ref or m.sum() < 200:
            out.append(o)
            spread.append(None if o is not ref else 0.0)
            continue
        x, y, k = o.texel[m].astype(np.float64), ref.texel[m].astype(np.float64), both[m, None]
        g = np.clip((k * x * y).sum(0) / np.maximum((k * x * x).sum(0), 1e-12), 0.5, 2.0)
        # How far this photo's de-lit skin is from the reference's (relative): misregistration, mostly.
        spread.append(float((k * np.abs(x * g - y)).sum() / max((k * y).sum(), 1e-12)))
        g = g.astype(np.float32)
        out.append(dataclasses.replace(
            o, texel=o.texel * g, vertex=o.vertex * g, sh=(o.sh / g).astype(np.float32),
            iris=None if o.iris is None else o.iris * g,
            interior=None if o.interior is None else o.interior * g))
    # Trust: inverse variance of that spread, the reference as trusted as the closest other photo.
    known = [d for d in spread if d]
    if TRUST and known:
        floor = min(known)
        out = [dataclasses.replace(o, trust=float((floor / max(d, floor)) ** 2) if d is not None else 1.0)
               for o, d in zip(out, spread)]
    return out


_SRGB_LUT = []


def _to_uint8(linear: np.ndarray) -> np.ndarray:
    """``tx.to_uint8`` through a 16-bit lookup table (4x faster on the 2048 x 1024 atlas; the same
    within one level)."""
    if not _SRGB_LUT:
        _SRGB_LUT.append(tx.to_uint8(np.arange(65536, dtype=np.float32) / 65535))
    idx = (np.clip(linear, 0, 1) * 65535 + 0.5).astype(np.int32)
    return _SRGB_LUT[0][idx]


def _photo_mask(o: Observation, shape) -> np.ndarray:
    """The crop's skin mask as uint8 [H, W] over the whole photo (0 outside the crop)."""
    from PIL import Image

    x0, y0, x1, y1 = (int(round(v)) for v in o.crop.box)
    side = x1 - x0
    m = Image.fromarray((o.skin * 255).astype(np.uint8)).resize((side, side), Image.Resampling.BILINEAR)
    full = Image.new("L", (shape[1], shape[0]))
    full.paste(m, (x0, y0))
    return np.asarray(full)


# ---------------------------------------------------------------------------------------------- rendering

def render(model, vertices: np.ndarray, camera: Camera, albedo: np.ndarray, sh: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Render the textured mesh: ``vertices [V, 3]`` camera space, ``albedo`` uint8 sRGB atlas, ``sh [9, 3]``
    -> (linear RGB [h, w, 3], coverage [h, w] in [0, 1]), antialiased silhouettes."""
    from .render import antialias, edge_topology, interpolate, rasterize, texture, to_clip, vertex_normals

    keep, tri = _drawn(model)
    uv_tri = torch.from_numpy(model.uv_faces[keep].astype(np.int32))
    topo = getattr(model, "_refine_topology", None)
    if topo is None:
        topo = edge_topology(tri)
        object.__setattr__(model, "_refine_topology", topo)
    v = torch.from_numpy(np.asarray(vertices, np.float32))[None]
    pos = to_clip(v, camera)
    rast = rasterize(render_context(), pos, tri, (camera.height, camera.width), cull_backfaces=True)
    uv = torch.from_numpy(tx.atlas_uvs(model))
    uvp = interpolate(torch.stack([uv[:, 0], 1 - uv[:, 1]], 1), rast, uv_tri)
    tex = torch.from_numpy(tx.srgb_to_linear(albedo / 255.0).astype(np.float32))[None]
    col = texture(tex, uvp)
    n = interpolate(vertex_normals(v, model.faces), rast, tri)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    shade = (torch.from_numpy(sh_basis_np(n.numpy())) @ torch.from_numpy(np.asarray(sh, np.float32))).clamp_min(0)
    cover = (rast[..., 3:] > 0).float()
    img = torch.cat([col * shade * cover, cover], -1)
    img = antialias(img, rast, pos, tri, topo)[0].numpy()
    return img[..., :3], img[..., 3].clip(0, 1)


def neutral_light() -> np.ndarray:
    """[9, 3] the 'neutral' studio light of ``views.png``: ambient plus a key light above the camera."""
    from .render import sh_directional

    return sh_directional([0.25, 0.35, 1.0], ambient=0.45, diffuse=0.75).numpy()


def turntable_camera(vertices: np.ndarray, yaw_deg: float, size: int = 384) -> tuple[np.ndarray, Camera]:
    """The unposed head ``vertices [V, 3]`` turned by ``yaw_deg`` in front of a camera framing it."""
    from scipy.spatial.transform import Rotation

    centre = vertices[:9409].mean(0)  # the face region
    r = Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix()
    v = (vertices - centre) @ r.T
    dist = 75.0
    cam = Camera(size * dist / 30.0, (size - 1) / 2, (size - 1) / 2, size, size)
    return (v + [0, 0, -dist]).astype(np.float32), cam


def views_image(rgb: np.ndarray, result: FitResult, model, size: int = 384) -> np.ndarray:
    """uint8 [size, 6 * size, 3]: the photo | the re-render under the fitted light | the skin mask | the
    face under neutral light from the front, 3/4 and the side."""
    from PIL import Image

    crop = face_crop(rgb, result, work=size)
    posed = mesh_vertices(model, result, posed=True)
    img, cov = render(model, posed, crop.camera, result.albedo, result.lighting)
    photo = crop.image
    rerender = img + photo * (1 - cov[..., None])
    x0, y0, x1, y1 = (int(round(v)) for v in crop.box)
    mask = np.asarray(Image.fromarray(result.skin).crop((x0, y0, x1, y1)).resize((crop.camera.width,) * 2)) / 255.0
    masked = photo * (0.25 + 0.75 * mask[..., None])
    masked[..., 0] = np.maximum(masked[..., 0], (1 - mask) * 0.25 * (cov > 0.5))  # left-out face pixels go red
    panels = [photo, rerender, masked]
    unposed = mesh_vertices(model, result, posed=False)
    light = neutral_light()
    for yaw in (0, 40, 80):
        v, cam = turntable_camera(unposed, yaw, crop.camera.width)
        im, c = render(model, v, cam, result.albedo, light)
        panels.append(im + 0.9 * (1 - c[..., None]))
    out = np.concatenate([tx.to_uint8(p) for p in panels], 1)
    if out.shape[0] != size:
        out = np.asarray(Image.fromarray(out).resize((out.shape[1] * size // out.shape[0], size)))
    return out


def textured_overlay(rgb: np.ndarray, result: FitResult, model, alpha: float = 0.85):
    """The photo with the textured re-render (fitted light) blended over it and the 68 landmarks (PIL)."""
    from PIL import Image, ImageDraw

    crop = face_crop(rgb, result, work=1024)
    verts = mesh_vertices(model, result, posed=True)
    img, cov = render(model, verts, crop.camera, result.albedo, result.lighting)
    x0, y0, x1, y1 = (int(round(v)) for v in crop.box)
    side = x1 - x0
    if result.skin is not None:
        # The face (forehead to chin, eyes and mouth) is drawn in full; the rest of the mesh (scalp, ears,
        # neck) only where the photo shows skin there, not over the hair or a collar.
        view = rasterize_view(model, verts, crop.camera)
        face = face_pixels(model, view, crop, np.ones_like(cov))
        mask = np.asarray(Image.fromarray(result.skin).crop((x0, y0, x1, y1)).resize(
            (crop.camera.width, crop.camera.height), Image.Resampling.BILINEAR)) / 255.0
        cov = cov * np.where(face, 1.0, mask)
    patch = Image.fromarray(tx.to_uint8(img)).resize((side, side), Image.Resampling.BILINEAR)
    cover = Image.fromarray((cov * 255 * alpha).astype(np.uint8)).resize((side, side), Image.Resampling.BILINEAR)
    out = Image.fromarray(rgb).copy()
    out.paste(patch, (x0, y0), cover)
    d = ImageDraw.Draw(out)
    span = result.ibug68.max(0) - result.ibug68.min(0)
    r = max(1.2, 0.008 * float(np.sqrt(span[0] * span[1])))
    for x, y in result.ibug68 + 0.5:
        d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 60, 40))
    return out


def face_pixels(model, view: View, crop: Crop, cover: np.ndarray, scalp_and_neck: bool = False) -> np.ndarray:
    """bool [h, w]: the pixels of the face in ``view`` (fully covered, inside the photo): ICT's
    ``narrow_face`` (forehead to chin, cheek to cheek) and the eyes, teeth, mouth and lashes seen through
    it; ``scalp_and_neck``: the mesh's whole ``face`` region instead (scalp, ears and the front of the neck
    too, which hair and collars cover in most photos; no eyes or mouth)."""
    t = view.triangle.clip(0)
    m = (view.triangle >= 0) & crop.valid & (cover > 0.99)
    if scalp_and_neck:
        return m & (tx.triangle_regions(model)[t] == tx.REGION_NAMES.index("face"))
    f0, f1 = model.regions["narrow_face"][2:]
    narrow = (model.triangle_polygon >= f0) & (model.triangle_polygon < f1)
    return m & (narrow[t] | np.isin(tx.triangle_regions(model)[t], _interior_codes()))


def reprojection_scores(rgb: np.ndarray, result: FitResult, model, scalp_and_neck: bool = False
                        ) -> tuple[float, float]:
    """Face PSNR (dB) and SSIM of the re-render against the photo, on the crop the refinement used
    (``face_pixels``, sRGB in [0, 1])."""
    crop = face_crop(rgb, result)
    verts = mesh_vertices(model, result, posed=True)
    img, cov = render(model, verts, crop.camera, result.albedo, result.lighting)
    m = face_pixels(model, rasterize_view(model, verts, crop.camera), crop, cov, scalp_and_neck)
    a, b = tx.linear_to_srgb(img), tx.linear_to_srgb(crop.image)
    mse = float(((a - b) ** 2)[m].mean())
    psnr = 10 * np.log10(1 / max(mse, 1e-12))
    return psnr, float(ssim_map(a, b).mean(-1)[m].mean())


def ssim_map(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Per-pixel SSIM [h, w, C] of images ``a``, ``b`` [h, w, C] in [0, 1] (Gaussian window, Wang et al.)."""
    from scipy.ndimage import gaussian_filter

    g = lambda x: gaussian_filter(x, (sigma, sigma, 0), truncate=3.5)  # noqa: E731
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ma, mb = g(a), g(b)
    va, vb, cab = g(a * a) - ma ** 2, g(b * b) - mb ** 2, g(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
