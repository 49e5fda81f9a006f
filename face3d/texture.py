"""The albedo atlas: ICT's UV tiles packed into one texture, texel rasterisation, fills and the
procedural textures of the eyes, teeth and mouth.

ICT-FaceKit lays its UVs out in UDIM-style tiles (u in [0, 7)): tile 0 the face (and, overlapping it, the
eyeballs and eye overlays), tile 1 the back of the head, neck, mouth and eye sockets, tile 2 gums and tongue,
tile 3 the teeth, tiles 4-5 the tear film, tile 6 the eyelashes. A single texture cannot hold overlapping
tiles, so the atlas keeps each tile's layout and places it in a cell of one ``ATLAS_H x ATLAS_W`` image:

    +-----------------------+-----------+-----+-----+
    |                       |  tile 1   |scl L|scl R|   face: 1024 x 1024 (ICT's tile 0 as it is)
    |   tile 0: the face    | head/neck +-----+-----+   tile 1: 512 x 512; eyes (sclera, iris per
    |       1024 x 1024     |           |irisL|irisR|   side; ICT's tile 0): 256 x 256 each
    |                       +-----+-----+-----+-----+   teeth, gums/tongue, eyelashes, hidden
    |                       |teeth|gums |  (spare)  |   overlays: 256 x 256
    |                       |lash |hide |           |
    +-----------------------+-----+-----+-----------+

Each eyeball is two shells with their own materials and overlapping UVs: the sclera (with the cornea's
bulge, not drawn) and, inside it, the iris shell (its flat front disc is the iris, seen through the hole the
undrawn cornea leaves). One texture cell cannot hold both, so the iris shells have cells of their own; and
the two eyes share ICT's UVs, so each eye has its own cells.

``atlas_uvs(model)`` gives every ICT UV its place in the atlas (OBJ convention, v = 0 at the bottom);
exporters use it for textured meshes.
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
import torch

ATLAS_W, ATLAS_H = 2048, 1024

# Region -> atlas cell (x0, y0, size) in texels, top-left origin. Regions not listed share "hidden".
_CELLS = {
    "face": (0, 0, 1024),
    "head_and_neck": (1024, 0, 512), "mouth_socket": (1024, 0, 512),
    "eye_socket_left": (1024, 0, 512), "eye_socket_right": (1024, 0, 512),
    "eyeball_left": (1536, 0, 256), "eyeball_right": (1792, 0, 256),
    "teeth": (1024, 512, 256), "gums_and_tongue": (1280, 512, 256),
    "eyelashes_left": (1024, 768, 256), "eyelashes_right": (1024, 768, 256),
    "hidden": (1280, 768, 256),
}
# The eyeballs' iris shells (``iris_triangles``). The eyes share ICT's UVs: in one cell each eye's photo
# pixels landed on the other's texels, mirrored (a square-edged iris, stripes on the white).
IRIS_CELLS = {"left": (1536, 256, 256), "right": (1792, 256, 256)}
EYE_CELLS = (1536, 0, 512)  # x0, y0, size of the square the four eye cells tile
IRIS_SPLIT = 770  # an eyeball's first 770 vertices are the sclera shell, the rest the iris shell (ICT README)
# Regions in the order of model.regions without the overlapping "narrow_face" (a part of "face").
REGION_NAMES = ("face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right",
                "gums_and_tongue", "teeth", "eyeball_left", "eyeball_right", "lacrimal_fluid_left",
                "lacrimal_fluid_right", "eye_blend_left", "eye_blend_right", "eye_occlusion_left",
                "eye_occlusion_right", "eyelashes_left", "eyelashes_right")
SKIN = ("face", "head_and_neck")
# Eye overlay shells: transparent shader effects upstream; never drawn, never textured.
HIDDEN = ("lacrimal_fluid_left", "lacrimal_fluid_right", "eye_blend_left", "eye_blend_right",
          "eye_occlusion_left", "eye_occlusion_right")


def triangle_regions(model) -> np.ndarray:
    """int64 [F]: index into ``REGION_NAMES`` of each triangle."""
    out = np.zeros(len(model.triangle_polygon), np.int64)
    for i, name in enumerate(REGION_NAMES):
        f0, f1 = model.regions[name][2:]
        out[(model.triangle_polygon >= f0) & (model.triangle_polygon < f1)] = i
    return out


def region_mask(model, names) -> np.ndarray:
    """bool [F]: triangles in any of the regions ``names``."""
    return np.isin(triangle_regions(model), [REGION_NAMES.index(n) for n in names])


def drawn_triangles(model) -> np.ndarray:
    """bool [F]: triangles a renderer draws (not the eye overlays, not the sclera's cornea bulge, whose
    vertex alpha is 0 in ``materials.vertex_colours``)."""
    from .materials import vertex_colours

    alpha = vertex_colours(model)[:, 3]
    tri = model.faces.cpu().numpy()
    return ~region_mask(model, HIDDEN) & (alpha[tri] > 0.5).all(1)


def iris_triangles(model) -> np.ndarray:
    """bool [F]: the triangles of the eyeballs' inner, iris shells."""
    tri = model.faces.cpu().numpy()
    out = np.zeros(len(tri), bool)
    for side in ("left", "right"):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        out |= ((tri >= e0 + IRIS_SPLIT) & (tri < e1)).all(1)
    return out & region_mask(model, ("eyeball_left", "eyeball_right"))


@functools.lru_cache(maxsize=4)
def _atlas_uvs(model) -> np.ndarray:
    regions = triangle_regions(model)
    uv = model.uvs.astype(np.float64)
    out = np.zeros_like(uv)
    # Each UV index belongs to one region (checked in tests), so the order of the writes does not matter.
    out[model.uv_faces.reshape(-1)] = np.repeat(regions, model.uv_faces.shape[1])[:, None] + 1
    cell_of = np.array([_CELLS.get(n, _CELLS["hidden"]) for n in REGION_NAMES], np.float64)
    reg = out[:, 0].astype(np.int64) - 1
    # A region's tile: the integer part of its UVs' median u (a UV on a tile's right edge stays in it).
    tile = np.zeros(len(REGION_NAMES))
    for r in range(len(REGION_NAMES)):
        if (reg == r).any():
            tile[r] = np.floor(np.median(uv[reg == r, 0]))
    x0, y0, size = cell_of[reg].T
    for side, cell in IRIS_CELLS.items():
        iris = np.zeros(len(uv), bool)
        iris[model.uv_faces[iris_triangles(model) & region_mask(model, (f"eyeball_{side}",))].reshape(-1)] = True
        x0[iris], y0[iris], size[iris] = cell
    fu, fv = np.clip(uv[:, 0] - tile[reg], 0, 1), np.clip(uv[:, 1], 0, 1)
    u = (x0 + fu * size) / ATLAS_W
    v = 1 - (y0 + (1 - fv) * size) / ATLAS_H
    return np.stack([u, v], 1).astype(np.float32)


def atlas_uvs(model) -> np.ndarray:
    """float32 [Vt, 2]: ``model.uvs`` moved into the atlas (OBJ/ICT convention: v = 0 at the bottom)."""
    return _atlas_uvs(model)


def split_atlas_uvs(model) -> np.ndarray:
    """float32 [N, 2]: ``atlas_uvs`` in the vertex order of ``materials.split_seams`` (glTF)."""
    tris = model.faces.cpu().numpy().reshape(-1)
    pairs = np.unique(np.stack([tris, model.uv_faces.reshape(-1)], 1), axis=0)
    return atlas_uvs(model)[pairs[:, 1]]


@dataclass(eq=False)  # hashed by identity: the procedural cache keys on it
class AtlasTexels:
    """The texels the mesh covers in the atlas. ``index [N]`` flat texel index (row * ATLAS_W + col),
    ``triangle [N]`` the model triangle, ``bary [N, 3]`` float32 barycentric weights of its corners,
    ``region [N]`` index into ``REGION_NAMES``; ``nearest [ATLAS_H * ATLAS_W]`` for every texel the
    position in these arrays of the nearest covered texel (bleeds charts outwards, so that bilinear lookups at
    chart borders never mix in unrelated colours; computed on first use)."""

    index: np.ndarray
    triangle: np.ndarray
    bary: np.ndarray
    region: np.ndarray
    step: int = 1

    @functools.cached_property
    def nearest(self) -> np.ndarray:
        from scipy import ndimage

        h, w = ATLAS_H // self.step, ATLAS_W // self.step
        covered = np.zeros(h * w, bool)
        covered[self.index] = True
        _, (ri, ci) = ndimage.distance_transform_edt(~covered.reshape(h, w), return_indices=True)
        lookup = np.full(h * w, -1, np.int64)
        lookup[self.index] = np.arange(len(self.index))
        return lookup[(ri * w + ci).reshape(-1)]


@functools.lru_cache(maxsize=4)
def atlas_texels(model, step: int = 1) -> AtlasTexels:
    """Rasterise the mesh in atlas space once per model (cached): see ``AtlasTexels``. ``step`` 2 gives
    the atlas at half resolution (``index`` then counts in that grid: ATLAS_W // step columns)."""
    from .render import rasterize
    from .refine import render_context

    uv = torch.from_numpy(atlas_uvs(model))
    keep = np.flatnonzero(~region_mask(model, HIDDEN))
    tri = torch.from_numpy(model.uv_faces[keep].astype(np.int32))
    pos = torch.cat([uv[:, :1] * 2 - 1, (1 - uv[:, 1:]) * 2 - 1, torch.zeros(len(uv), 1), torch.ones(len(uv), 1)], 1)
    h, w = ATLAS_H // step, ATLAS_W // step
    rast = rasterize(render_context(), pos[None], tri, (h, w))[0].reshape(-1, 4).numpy()
    index = np.flatnonzero(rast[:, 3] > 0)
    triangle = keep[rast[index, 3].round().astype(np.int64) - 1]
    u, v = rast[index, 0], rast[index, 1]
    bary = np.stack([u, v, 1 - u - v], 1).astype(np.float32)
    return AtlasTexels(index, triangle, bary, triangle_regions(model)[triangle], step)


def texel_values(model, texels: AtlasTexels, per_vertex: np.ndarray, sel: np.ndarray | None = None) -> np.ndarray:
    """Interpolate ``per_vertex [V, C]`` at the covered texels (``sel``: a subset, index array) -> [N, C]."""
    tri = model.faces.cpu().numpy()
    t = texels.triangle if sel is None else texels.triangle[sel]
    b = texels.bary if sel is None else texels.bary[sel]
    return np.einsum("nk,nkc->nc", b, per_vertex[tri[t]])


def to_image(texels: AtlasTexels, values: np.ndarray) -> np.ndarray:
    """Covered-texel ``values [N, C]`` -> the full atlas ``[ATLAS_H, ATLAS_W, C]``, every texel filled from
    the nearest covered one (no background texels)."""
    return values[texels.nearest].reshape(ATLAS_H // texels.step, ATLAS_W // texels.step, -1)


# ---------------------------------------------------------------------------------------------- fills

@functools.lru_cache(maxsize=2)
def _adjacency(model):
    import scipy.sparse as sp

    tri = model.faces.cpu().numpy()
    n = model.n_vertices
    i = np.concatenate([tri[:, 0], tri[:, 1], tri[:, 2], tri[:, 1], tri[:, 2], tri[:, 0]])
    j = np.concatenate([tri[:, 1], tri[:, 2], tri[:, 0], tri[:, 0], tri[:, 1], tri[:, 2]])
    a = sp.coo_matrix((np.ones(len(i), np.float32), (i, j)), shape=(n, n)).tocsr()
    a.data[:] = 1.0
    deg = np.asarray(a.sum(1)).reshape(-1)
    return sp.diags(1.0 / np.maximum(deg, 1)).dot(a).tocsr()


def diffuse_fill(model, values: np.ndarray, weight: np.ndarray, vertices: np.ndarray,
                 iterations: int = 150) -> np.ndarray:
    """Smooth fill over the mesh surface: ``values [V, C]`` are kept where ``weight [V]`` is 1 and blended
    towards the harmonic (neighbour-average) fill where it is less; only ``vertices`` (bool [V], the part
    being filled) take part. Unknown values start at the nearest known vertex's (so that a few Jacobi
    sweeps smooth them rather than carry colour across the head). Returns [V, C]."""
    from scipy.spatial import cKDTree

    sub = np.flatnonzero(vertices)
    p = _adjacency(model)[sub][:, sub]
    deg = np.asarray(p.sum(1)).reshape(-1)
    p = (p.multiply(1 / np.maximum(deg, 1e-9)[:, None])).tocsr()
    w = weight[sub].astype(np.float32)[:, None]
    known = w[:, 0] > 0.05
    x = values[sub].astype(np.float32)
    if known.any() and not known.all():
        pts = model.neutral.cpu().numpy()[sub]
        _, nn = cKDTree(pts[known]).query(pts[~known])
        x[~known] = x[known][nn]
    fixed = w * x
    for _ in range(iterations):  # Jacobi: each sweep spreads the known colours one ring further
        x = fixed + (1 - w) * (p @ x)
    out = values.astype(np.float32).copy()
    out[sub] = x
    return out


# ---------------------------------------------------------------------------------------------- procedural

IRIS_DEFAULT = (0.28, 0.18, 0.11)  # linear RGB brown
PUPIL = 0.36  # pupil radius / iris radius (a 4 mm pupil in a 11.5 mm iris)
SCLERA = np.array([0.80, 0.74, 0.70])
TEETH = np.array([0.78, 0.72, 0.58])
GUMS = np.array([0.55, 0.18, 0.18])
MOUTH = np.array([0.30, 0.08, 0.08])
LASHES = np.array([0.025, 0.02, 0.018])
SOCKET = np.array([0.45, 0.22, 0.20])


@functools.lru_cache(maxsize=8)
def eye_geometry(model, side: str) -> dict:
    """An eyeball's ``centre [3]`` (sphere fitted to its sclera shell), ``axis [3]`` (unit, the normal of the
    iris shell's flat front disc, outwards), ``iris_centre [3]`` and ``iris_radius`` (cm) of that disc, all
    measured on the neutral mesh."""
    v = model.neutral.cpu().numpy().astype(np.float64)
    e0, e1 = model.regions[f"eyeball_{side}"][:2]
    s = v[e0:e0 + IRIS_SPLIT]
    sol = np.linalg.lstsq(np.c_[2 * s, np.ones(len(s))], (s ** 2).sum(1), rcond=None)[0]
    centre = sol[:3]
    axis = s[np.argmax(s[:, 2])] - centre
    axis /= np.linalg.norm(axis)
    iris = v[e0 + IRIS_SPLIT:e1]
    for _ in range(2):  # the front disc (nearly flat; behind its rim the shell steps back 0.25 cm), its normal
        d = iris - centre
        disc = iris[d @ axis > (d @ axis).max() - 0.1]
        normal = np.linalg.svd(disc - disc.mean(0))[2][2]
        axis = normal if normal @ axis > 0 else -normal
    d = disc - disc.mean(0)
    radial = np.linalg.norm(d - (d @ axis)[:, None] * axis, axis=1)
    return {"centre": centre, "axis": axis, "iris_radius": float(radial.max()), "iris_centre": disc.mean(0)}


def procedural(model, texels: AtlasTexels, iris: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear-RGB albedo of the non-skin parts: eyeballs (sclera, ``iris [3]`` linear RGB, pupil), teeth,
    gums and tongue, mouth and eye sockets, eyelashes; darker deeper in the mouth. Returns ``(sel [M]``
    indices into the texel arrays, ``values [M, 3])``."""
    iris = np.asarray(IRIS_DEFAULT if iris is None else iris, np.float64)
    sel, base, gain = _procedural(model, texels)
    return sel, (base + gain * iris[None]).clip(0, 1)


@functools.lru_cache(maxsize=4)
def _procedural(model, texels: AtlasTexels):
    """``procedural`` is ``base [M, 3] + gain [M, 1] * iris``: both depend on the mesh only (cached)."""
    gain = None
    code = REGION_NAMES.index
    sel = np.flatnonzero(~np.isin(texels.region, [code(n) for n in SKIN]))
    neutral = model.neutral.cpu().numpy().astype(np.float64)
    p = texel_values(model, texels, neutral, sel)
    reg = texels.region[sel]
    out = np.zeros((len(sel), 3))
    # Depth into the mouth: the lips' front is at about z = 9 cm on the mean face, the throat 4-5 cm behind.
    front = neutral[model.landmarks68[48:68], 2].max()
    dark = np.clip(1 - (front - p[:, 2]) / 5.0, 0.15, 1.0)[:, None]
    for name, colour in (("teeth", TEETH), ("gums_and_tongue", GUMS), ("mouth_socket", MOUTH)):
        m = reg == code(name)
        out[m] = colour * dark[m] ** (0.6 if name == "teeth" else 1.5)
    iris_tri = iris_triangles(model)
    for side in ("left", "right"):
        out[reg == code(f"eye_socket_{side}")] = SOCKET
        out[reg == code(f"eyelashes_{side}")] = LASHES
        m = reg == code(f"eyeball_{side}")
        g = eye_geometry(model, side)
        d = p[m] - g["iris_centre"]  # off the axis through the iris's centre
        radial = np.linalg.norm(d - (d @ g["axis"])[:, None] * g["axis"], axis=1)
        r = radial / g["iris_radius"]  # 1 at the limbus, measured on the iris shell's front disc
        c = p[m] - g["centre"]
        ahead = c @ g["axis"] > 0
        angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(c, g["axis"]), axis=1), c @ g["axis"]))
        # Radial streaks around the eye axis make the iris read as an iris, not a painted disc.
        ref = np.cross(g["axis"], [0.0, 1.0, 0.0])
        ref /= np.linalg.norm(ref)
        phi = np.arctan2(d @ np.cross(g["axis"], ref), d @ ref)
        streak = 1 + 0.18 * np.sin(37 * phi) * np.sin(11 * phi + 3 * r)
        ring = np.clip((1.0 - r) / 0.15, 0, 1)  # darker limbal ring at the edge
        iris_gain = streak[:, None] * (0.55 + 0.45 * ring[:, None]) * (1.15 - 0.3 * r[:, None])
        pupil = np.clip((r - PUPIL) / 0.04, 0, 1)[:, None]
        # The iris shell's back half, inside the sclera's and seen only through the pupil's hole: as dark as
        # the pupil (all of it: its UV chart is small, and texture filtering mixes its texels).
        inside = ~ahead & iris_tri[texels.triangle[sel][m]]
        pupil[inside] = 0
        edge = (np.clip((r - 1.0) / 0.05, 0, 1) * ahead + (~ahead & ~inside))[:, None]  # soft iris/sclera border
        # The white: off-white over what the lids show, a little pinker only far round the back.
        vein = np.clip((angle - 75.0) / 60.0, 0, 1)[:, None]
        sclera = SCLERA * (1 - vein) + np.array([0.70, 0.52, 0.48]) * vein
        limbus = np.clip(1 - (r - 1.0) / 0.12, 0, 1)[:, None] * ahead[:, None]  # the white greys into the limbus
        sclera = sclera * (1 - 0.25 * limbus)
        out[m] = 0.015 * (1 - pupil) * (1 - edge) + sclera * edge
        gain_m = np.zeros((len(sel), 1))
        gain_m[m] = iris_gain * pupil * (1 - edge)
        gain = gain_m if gain is None else gain + gain_m
    return sel, out, gain


# ---------------------------------------------------------------------------------------------- colour

def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, np.float32), 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def to_uint8(linear: np.ndarray) -> np.ndarray:
    """Linear RGB [..., 3] -> sRGB uint8."""
    return (linear_to_srgb(linear) * 255 + 0.5).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """uint8 [H, W, 3] -> PNG file bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=4)
    return buf.getvalue()
