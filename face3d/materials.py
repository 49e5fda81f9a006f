"""How the ICT mesh looks outside the fit: per-vertex UVs for formats that need one UV per vertex (seam
splitting), material colours, and vertex colours with alpha that hides the eye overlay shells.

Exporters, the renderer and the viewer all take these from here.
"""
from __future__ import annotations

import numpy as np

# Diffuse colours of the ICT materials (from ICTFaceModelMaterial.mtl), softened to skin/eye tones.
MATERIAL_COLOURS = {
    "M_Face": (0.80, 0.62, 0.52), "M_BackHead": (0.80, 0.62, 0.52), "M_GumsTongue": (0.62, 0.25, 0.28),
    "M_Teeth": (0.92, 0.90, 0.84), "M_ScleraLeft": (0.95, 0.95, 0.93), "M_ScleraRight": (0.95, 0.95, 0.93),
    "M_IrisLeft": (0.25, 0.18, 0.12), "M_IrisRight": (0.25, 0.18, 0.12), "M_EyeLashes": (0.08, 0.06, 0.05),
}



def split_seams(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """glTF needs one UV per vertex: split vertices along UV seams.

    Returns ``source [N]`` (model vertex of each output vertex), ``uv [N,2]`` and ``triangles [F,3]``
    indexing the output vertices. Every model vertex appears at least once.
    """
    tris = model.faces.cpu().numpy().reshape(-1)
    uv_tris = model.uv_faces.reshape(-1)
    pairs, inverse = np.unique(np.stack([tris, uv_tris], 1), axis=0, return_inverse=True)
    return pairs[:, 0], model.uvs[pairs[:, 1]], inverse.reshape(-1, 3).astype(np.uint32)


def vertex_colours(model) -> np.ndarray:
    """[V,4] linear RGBA per model vertex from the material of the polygons that use it.

    Alpha is 0 on the eye overlays (occlusion, blend, lacrimal fluid) and on the cornea bulge of the sclera:
    upstream these are transparent shader effects, drawn opaque they hide the eyes. The material's alpha
    mask discards them while every vertex stays in the mesh.
    """
    colours = np.array([MATERIAL_COLOURS.get(n, (0.5, 0.5, 0.5)) for n in model.material_names], np.float32)
    out = np.ones((model.n_vertices, 4), np.float32)
    polys = model.polygons
    for k in range(4):
        ok = polys[:, k] >= 0
        out[polys[ok, k], :3] = colours[model.polygon_materials[ok]]
    out[:, :3] **= 2.2  # glTF vertex colours are linear
    for region in ("lacrimal_fluid_left", "lacrimal_fluid_right", "eye_blend_left", "eye_blend_right",
                   "eye_occlusion_left", "eye_occlusion_right"):
        v0, v1 = model.regions[region][:2]
        out[v0:v1, 3] = 0
    out[_cornea(model), 3] = 0
    return out


def _cornea(model) -> np.ndarray:
    """Sclera vertices in front of the iris (the transparent cornea bulge)."""
    v = model.neutral.cpu().numpy()
    out = []
    for side in ("left", "right"):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        split = e0 + 770  # the first 770 eyeball vertices are the sclera, the rest the iris (ICT README)
        iris_front = v[split:e1, 2].max()
        out.append(np.arange(e0, split)[v[e0:split, 2] > iris_front - _CORNEA_DEPTH])
    return np.concatenate(out)


_CORNEA_DEPTH = 0.15  # cm




def eyelash_alpha(model) -> np.ndarray:
    """[V] alpha of the eyelash cards (-1 on every other vertex): opaque-ish at the lid, fading to the tip,
    so that alpha-blended cards read as lashes rather than as dark crescents."""
    store = model.__dict__.setdefault("_face3d_derived", {})
    if "eyelash_alpha" not in store:
        store["eyelash_alpha"] = _eyelash_alpha(model)
    return store["eyelash_alpha"].copy()


def _eyelash_alpha(model) -> np.ndarray:
    from scipy.spatial import cKDTree

    v = model.neutral.detach().cpu().numpy()
    out = np.full(model.n_vertices, -1, np.float32)
    f0, f1 = model.regions["face"][:2]
    skin = cKDTree(v[f0:f1])
    lower = lower_lash_vertices(model)
    for side in ("left", "right"):
        a, b = model.regions[f"eyelashes_{side}"][:2]
        gap = skin.query(v[a:b])[0]  # the root of a lash touches the lid; its tip stands off it
        t = np.clip((gap - gap.min()) / max(np.ptp(gap), 1e-6), 0, 1)
        out[a:b] = _LASH_ROOT_ALPHA * (1 - t) ** 2
    # Lower lashes are sparse and short: ICT's lower cards as dense as the upper ones drew a dark crescent
    # under each eye in three.js.
    out[lower] *= _LOWER_LASH_ALPHA
    return out


def lower_lash_vertices(model) -> np.ndarray:
    """bool [V]: vertices of the lower lids' lash cards (cards whose tip hangs below their root on the lid)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    v = model.neutral.detach().cpu().numpy()
    n = model.n_vertices
    ids = np.concatenate([np.arange(*model.regions[f"eyelashes_{s}"][:2]) for s in ("left", "right")])
    tri = model.faces.cpu().numpy()
    t = tri[np.isin(tri, ids).all(1)]
    adj = sp.coo_matrix((np.ones(t.size), (np.repeat(t[:, 0], 3), t.reshape(-1))), shape=(n, n))
    _, label = connected_components(adj + adj.T)
    f0, f1 = model.regions["face"][:2]
    gap = cKDTree(v[f0:f1]).query(v[ids])[0]
    lower = np.zeros(n, bool)
    for card in np.unique(label[ids]):
        k = label[ids] == card
        root, tip = v[ids[k][np.argmin(gap[k])]], v[ids[k][np.argmax(gap[k])]]
        lower[ids[k]] = tip[1] < root[1]
    return lower


_LASH_ROOT_ALPHA = 0.5
_LOWER_LASH_ALPHA = 0.3
