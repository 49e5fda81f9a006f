"""Build assets/correspondence.npz: where each MediaPipe face-mesh landmark lies on the ICT-FaceKit surface.

MediaPipe's canonical face mesh (468 points, same cm units and axes as ICT) is registered to the ICT
neutral mesh: a similarity transform from the 51 inner iBUG-68 points (MediaPipe's published 68-point
index table <-> ICT's Multi-PIE landmark vertices), then a non-rigid deformation (closest points on the
ICT face surface, with the 51 inner points anchored, smoothed by the MediaPipe mesh's graph Laplacian
with decreasing stiffness). Each deformed point is finally embedded in its closest ICT triangle.

Then the embedding is refined on real faces: MediaPipe landmarks of frames of the shared videos and of the
shared photos (detections only; no ground-truth annotation is read) are fitted, and each point is moved by
the 3D offset that best explains its mean 2D residual over all faces (a small least-squares problem per
point; the many head poses pin down all three axes). This removes systematic differences between where
MediaPipe puts a point and where the canonical-mesh registration put it.

    FACE3D_HOME=... python tools/build_correspondence.py [--shared ../shared] [-o assets/correspondence.npz]
                                                         [--keypoints-only assets/correspondence.npz]

(About 3 minutes on 2 cores: it decodes the videos and fits ~250 faces three times. Deterministic.
``--keypoints-only`` redoes only the last step, the AFLW2000-3D keypoints, on an existing file.)

Stored arrays (468 = MediaPipe mesh points; the 10 iris points are not used by the fit):
    triangles int32 [468, 3]       ICT vertex ids of the triangle each point lies in
    barycentric float32 [468, 3]   its barycentric coordinates there
    weights float32 [468]          fitting weight of each point (0 = unused)
    contour int32 [C]              MediaPipe ids of the lower face outline (silhouette points)
    outline int32 [K]              MediaPipe ids of the face outline from temple to temple through the chin,
                                   in order (a polyline: where the iBUG jaw points are placed)
    mediapipe68 int32 [68]         MediaPipe ids of the iBUG-68 points (published table, raw baseline)
    jaw_candidates int32 [J]       ICT vertex ids that can form the jaw silhouette
    ibug68_triangles int32 [68, 3], ibug68_barycentric float32 [68, 3]
                                   the 68 iBUG points on the ICT surface: ICT's Multi-PIE vertices for the
                                   jaw and nose, the brows from AFLW2000-3D's keypoints (with_ibug68_3d; ICT's
                                   Multi-PIE brows without them); the eyes and lips (36-67) are the embedded MediaPipe
                                   points of the published table, because MediaPipe tracks the eyelid and
                                   lip contours that these points sit on
    ibug68_3d_triangles int32 [68, 3], ibug68_3d_barycentric float32 [68, 3]
                                   the 68 points of the 3D (AFLW2000-3D) convention: jaw, brows and nose are
                                   the Basel Face Model keypoints of AFLW2000-3D's pt3d_68 carried onto the ICT
                                   surface, eyes and lips as in ibug68 (``with_ibug68_3d``; that step also
                                   gives ibug68 its brows); the jaw then moved on the surface to where the
                                   benchmark's re-annotated points (.pts) put it (``with_annotated_jaw``)

The inner lip points are embedded on their own lip (``embed_lips``): ICT's neutral mouth is closed, so the
closest triangle alone puts some lower-lip points (14 among them) on the upper lip.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import ROOT, SHARED, read_pts  # noqa: E402
from face3d.formats.atomic import atomic_file  # noqa: E402

# MediaPipe -> iBUG 68 (the table widely published with MediaPipe Face Mesh examples).
MEDIAPIPE_68 = [
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw 0-16
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,  # brows 17-26
    168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose 27-35
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes 36-47
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87,  # lips 48-67
]
# MediaPipe's FACEMESH_FACE_OVAL, as a loop starting at the top of the forehead.
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
OUTLINE = FACE_OVAL[6:31]  # 389 (temple) ... 152 (chin) ... 162 (other temple)
CONTOUR_FROM_Y = 1.0  # cm (canonical mesh): oval points below this height are silhouette (cheek/jaw) points
OVAL_WEIGHT = 0.3  # the upper oval runs along the hairline, which MediaPipe places loosely
IBUG68_FROM_MEDIAPIPE = slice(36, 68)  # eyes and lips
# From AFLW2000-3D's keypoints (with_ibug68_3d): the brows of both conventions (closer than ICT's Multi-PIE
# brow vertices to the 300-W markup too: 300-W 2D brow NME 5.16 -> 4.84 %), and the jaw, brows and nose of
# the 3D one (300-W's nose is ICT's: 2.00 vs. 2.63 %; AFLW2000-3D's is the keypoints': 1.78 vs. 2.41 %).
IBUG68_FROM_BFM = np.r_[17:27]
IBUG68_3D_FROM_BFM = np.r_[0:36]
ANNOTATED_JAW = np.r_[0:17]  # with_annotated_jaw: the 3D convention's jaw rows placed by the re-annotated points
IBUG68_MIRROR = np.array([*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
                          45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
                          54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65])
JAW_BAND = (-12.0, 3.0)  # cm (ICT neutral y): vertices of the narrow face that can form the jaw silhouette
# MediaPipe's inner lip contour without the corners (78, 308): upper and lower halves. ICT's neutral mouth is
# closed, so the closest triangle of a point on the lip line can lie on either lip; each half is embedded on
# its own lip (otherwise the lower inner lip, 14 included, follows the upper lip when the mouth opens).
INNER_LIP_UPPER = [191, 80, 81, 82, 13, 312, 311, 310, 415]
INNER_LIP_LOWER = [95, 88, 178, 87, 14, 317, 402, 318, 324]
LIP_RADIUS = 0.3  # cm: the lip line's neighbourhood in which the two lips are told apart


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: scale s, rotation R [3,3], translation t [3] minimising |s R src + t - dst|^2."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    s = float((sig * np.diag(d)).sum() / (a ** 2).sum())
    return s, r, md - s * r @ ms


def closest_on_mesh(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray, k: int = 24
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Closest surface point of each of ``points [N,3]`` on a triangle mesh -> (triangle id [N], point [N,3])."""
    tri = vertices[triangles]
    _, cand = cKDTree(tri.mean(1)).query(points, k=k)  # [N,k] nearby triangles by centroid
    flat = cand.reshape(-1)
    q = trimesh.triangles.closest_point(tri[flat], np.repeat(points, k, axis=0)).reshape(len(points), k, 3)
    best = np.linalg.norm(q - points[:, None], axis=2).argmin(1)
    rows = np.arange(len(points))
    return cand[rows, best], q[rows, best]


def graph_laplacian(n: int, faces: np.ndarray) -> sparse.csr_matrix:
    """Uniform graph Laplacian [n, n] of a triangle mesh."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    a = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    a = ((a + a.T) > 0).astype(float)
    deg = np.asarray(a.sum(1)).ravel()
    return (sparse.diags(deg) - a).tocsr()


def register(points: np.ndarray, faces: np.ndarray, target_v: np.ndarray, target_t: np.ndarray,
             anchor_ids: np.ndarray, anchor_pos: np.ndarray, stiffness=(30.0, 10.0, 3.0, 1.0, 0.3)) -> np.ndarray:
    """Non-rigid ICP: deform ``points [N,3]`` (a mesh with ``faces``) onto the target surface.

    Each round pulls every point to its closest target point and the anchors to ``anchor_pos``, regularised
    by |L d|^2 on the displacement d, with the stiffness decreasing over rounds. Returns the deformed [N,3].
    """
    lap = graph_laplacian(len(points), faces)
    reg = (lap.T @ lap).tocsr()
    x = points.copy()
    for lam in stiffness:
        for _ in range(3):
            _, target = closest_on_mesh(x, target_v, target_t)
            w = np.ones(len(points))
            target[anchor_ids] = anchor_pos
            w[anchor_ids] = 10.0
            a = (sparse.diags(w) + lam * reg).tocsc()
            d = spsolve(a, w[:, None] * (target - points))
            x = points + d
    return x


def embed(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric embedding of ``points [N,3]`` in their closest triangles -> (triangles [N,3], bary [N,3])."""
    tid, q = closest_on_mesh(points, vertices, triangles)
    tri = triangles[tid]
    bary = trimesh.triangles.points_to_barycentric(vertices[tri], q)
    bary = np.clip(bary, 0.0, 1.0)
    return tri.astype(np.int32), (bary / bary.sum(1, keepdims=True)).astype(np.float32)


def embed_lips(model, points: np.ndarray, tri: np.ndarray, bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-embed the inner lip points (INNER_LIP_UPPER / _LOWER) of ``points [468, 3]`` on their own lip:
    among the narrow-face triangles within LIP_RADIUS, the lower lip is the half that jawOpen moves down
    more than the midpoint of the range there, the upper lip the rest; the closest of those wins.
    ``tri [468, 3]``, ``bary [468, 3]`` are the plain embedding (copied, then updated)."""
    from face3d.names import ICT_NAMES

    v = model.neutral.numpy().astype(np.float64)
    faces = model.region_faces("narrow_face")
    down = model.expression_basis[ICT_NAMES.index("jawOpen")].numpy().astype(np.float64)[:, 1][faces].mean(1)
    tri, bary = tri.copy(), bary.copy()
    for ids, lower in ((INNER_LIP_LOWER, True), (INNER_LIP_UPPER, False)):
        for i in ids:
            q = trimesh.triangles.closest_point(v[faces], np.repeat(points[i:i + 1], len(faces), axis=0))
            dist = np.linalg.norm(q - points[i], axis=1)
            near = dist < LIP_RADIUS
            mid = 0.5 * (down[near].min() + down[near].max())
            side = np.flatnonzero(near & ((down < mid) if lower else (down >= mid)))
            k = side[np.argmin(dist[side])]
            b = np.clip(trimesh.triangles.points_to_barycentric(v[faces[k:k + 1]], q[k:k + 1])[0], 0.0, 1.0)
            tri[i], bary[i] = faces[k], b / b.sum()
    return tri.astype(np.int32), bary.astype(np.float32)


def jaw_candidates(model) -> np.ndarray:
    """Narrow-face vertices in the jaw/cheek band that lie outside the inner face (the silhouette can run
    through any of them as the head turns)."""
    v = model.neutral.numpy()[: model.regions["narrow_face"][1]]
    inner = model.landmarks68[17:]
    centre_x = np.abs(v[inner, 0]).max()  # outer eye/brow corners
    band = (v[:, 1] > JAW_BAND[0]) & (v[:, 1] < JAW_BAND[1])
    outer = (np.abs(v[:, 0]) > 0.5 * centre_x) | (v[:, 1] < v[model.landmarks68[57], 1])
    return np.flatnonzero(band & outer).astype(np.int32)


def sample_faces(shared: Path, per_video: int = 30) -> list:
    """(Detection, Camera) for evenly spaced frames of every shared video and for every shared photo."""
    import av
    from face3d.camera import Camera
    from face3d.detect import Detector

    images = []
    for video in sorted((shared / "video").glob("*.mp4")):
        with av.open(str(video)) as box:
            frames = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
        images += frames[:: max(1, len(frames) // per_video)]
    images += sorted(p for p in (shared / "faces").iterdir() if p.suffix in (".jpg", ".png"))
    out = []
    with Detector("image") as det:
        for image in images:
            for d in det.detect(image):
                w, h = d.image_size
                out.append((d, Camera.for_image(w, h)))
    return out


def refine(model, arrays: dict[str, np.ndarray], faces: list, rounds: int = 3, ridge: float = 2e-4
           ) -> dict[str, np.ndarray]:
    """Move each non-contour point by the model-space offset o minimising sum_f |A_f o - r_f|^2 + ridge |o|^2
    over the fitted faces f (r_f: 2D residual / face size, A_f: d projection / d model point / face size),
    then re-embed it on the neutral surface."""
    import torch
    from face3d.camera import project, project_jacobian
    from face3d.correspondence import make_correspondence
    from face3d.fit import face_scale, fit_detection, Pose
    from face3d import geometry

    ict_v = model.neutral.numpy().astype(np.float64)
    ict_t = model.region_faces("narrow_face")
    movable = np.setdiff1d(np.arange(len(arrays["weights"])), arrays["contour"])
    for k in range(rounds):
        corr = make_correspondence(model, arrays)
        ata = np.zeros((len(movable), 3, 3))
        atr = np.zeros((len(movable), 3))
        total = []
        for det, cam in faces:
            res = fit_detection(det, cam, corr)
            theta = torch.from_numpy(np.r_[res.identity, res.expression])
            rot = geometry.axis_angle_to_matrix(torch.from_numpy(res.rotation)[None].double())[0].float()
            pose = Pose(rot, torch.from_numpy(res.translation))
            y = pose.apply(corr.landmarks.points(theta))[movable]
            lm = torch.from_numpy(det.landmarks[movable, :2])
            s = face_scale(lm)
            r = ((lm - project(y, cam)) / s).double().numpy()  # [P, 2]
            a = ((project_jacobian(y, cam) @ rot) / s).double().numpy()  # [P, 2, 3]
            inlier = np.linalg.norm(r, axis=1) < 0.08  # occluded or mistracked points do not vote
            ata += inlier[:, None, None] * np.einsum("pki,pkj->pij", a, a)
            atr += inlier[:, None] * np.einsum("pki,pk->pi", a, r)
            total.append(np.median(np.linalg.norm(r, axis=1)))
        offset = np.linalg.solve(ata + ridge * len(faces) * np.eye(3), atr[..., None])[..., 0]
        points = (arrays["barycentric"][:, :, None] * ict_v[arrays["triangles"]]).sum(1)
        points[movable] += offset
        tri, bary = embed_lips(model, points, *embed(points, ict_v, ict_t))
        arrays = dict(arrays, triangles=tri, barycentric=bary)
        print(f"refine round {k + 1}: median residual {100 * np.median(total):.2f} % of face size, "
              f"mean offset {np.linalg.norm(offset, axis=1).mean():.3f} cm")
    return arrays


def build(shared: Path) -> dict[str, np.ndarray]:
    from face3d.model import load_model

    model = load_model()
    canon = np.load(shared / "mediapipe" / "canonical_face_model.npz")
    mp_v, mp_f = canon["vertices"].astype(np.float64), canon["faces"]
    ict_v = model.neutral.numpy().astype(np.float64)
    ict_t = model.region_faces("narrow_face")

    inner_mp = np.array(MEDIAPIPE_68[17:])
    inner_ict = model.landmarks68[17:]
    s, r, t = similarity(mp_v[inner_mp], ict_v[inner_ict])
    aligned = s * mp_v @ r.T + t
    deformed = register(aligned, mp_f, ict_v, ict_t, inner_mp, ict_v[inner_ict])
    triangles, bary = embed_lips(model, deformed, *embed(deformed, ict_v, ict_t))

    oval = np.array(FACE_OVAL)
    contour = oval[mp_v[oval, 1] < CONTOUR_FROM_Y]
    weights = np.ones(len(mp_v), np.float32)
    weights[oval] = OVAL_WEIGHT
    weights[contour] = 1.0
    err = np.linalg.norm(deformed - (bary[:, :, None] * ict_v[triangles]).sum(1), axis=1)
    anchor_err = np.linalg.norm(deformed[inner_mp] - ict_v[inner_ict], axis=1)
    print(f"similarity scale {s:.3f}; surface gap median {np.median(err):.3f} cm, max {err.max():.3f} cm; "
          f"anchor error median {np.median(anchor_err):.3f} cm, max {anchor_err.max():.3f} cm")
    arrays = dict(triangles=triangles, barycentric=bary, weights=weights, contour=contour.astype(np.int32),
                  outline=np.array(OUTLINE, np.int32),
                  mediapipe68=np.array(MEDIAPIPE_68, np.int32), jaw_candidates=jaw_candidates(model))
    arrays = refine(model, with_ibug68(model, arrays), sample_faces(shared))
    return with_ibug68_3d(model, arrays, shared / "faces" / "aflw2000")


def with_ibug68(model, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the iBUG-68 embedding: ICT's Multi-PIE vertices, except the eyes and lips, which take the
    embedded MediaPipe points of the published table."""
    lm = model.landmarks68.astype(np.int32)
    tri = np.stack([lm, lm, lm], 1)
    bary = np.tile(np.array([1.0, 0.0, 0.0], np.float32), (68, 1))
    src = np.array(MEDIAPIPE_68)[IBUG68_FROM_MEDIAPIPE]
    tri[IBUG68_FROM_MEDIAPIPE] = arrays["triangles"][src]
    bary[IBUG68_FROM_MEDIAPIPE] = arrays["barycentric"][src]
    return dict(arrays, ibug68_triangles=tri, ibug68_barycentric=bary)


def aflw_photos(folder: Path) -> list[tuple[Path, Path]]:
    """(photo, .mat) of each AFLW2000-3D photo in ``folder`` whose ``.mat`` holds ``pt3d_68``."""
    import scipy.io

    mats = sorted(p for p in folder.glob("*.mat") if "pt3d_68" in {name for name, *_ in scipy.io.whosmat(str(p))})
    return [(next(p for p in sorted(folder.glob(m.stem + ".*")) if p.suffix in (".jpg", ".png")), m) for m in mats]


def read_pt3d(mat: Path) -> np.ndarray:
    """AFLW2000-3D's ``pt3d_68`` of a ``.mat``: [68, 3] x, y (pixels), depth."""
    import scipy.io

    return scipy.io.loadmat(str(mat))["pt3d_68"].T.astype(np.float64)


def carry_keypoints(model, corr, pts: np.ndarray, result) -> np.ndarray:
    """AFLW2000-3D's 68 keypoints of one photo carried onto ICT's neutral face: ``pts [68, 3]``
    (``read_pt3d``) are the Basel Face Model's keypoint vertices under the dataset's own 3DMM fit of the
    photo, ``result`` the ``FitResult`` of the same face with ``corr`` (whose ``ibug68`` must be
    ``with_ibug68``'s: ICT's Multi-PIE brows and nose, the embedded MediaPipe eyes and lips). The 68 points
    are registered to the fitted face by the 51 inner ones (a similarity: the scaled-orthographic projection
    keeps x, y and depth up to one scale; the depth's sign is not documented, so the better of both is
    taken), and each point is taken to the nearest vertex of the fitted face (narrow face). Returns the
    neutral positions [68, 3] of those vertices."""
    import torch

    theta = torch.from_numpy(np.r_[result.identity, result.expression]).float()
    n_face = model.regions["narrow_face"][1]
    with torch.no_grad():
        face = model(theta[None, :100], theta[None, 100:]).vertices[0].numpy()[:n_face]
    inner = corr.ibug68.points(theta)[17:].double().numpy()
    best = None
    for depth_sign in (1.0, -1.0):  # image y is down
        q = pts * [1.0, -1.0, depth_sign]
        s, r, t = similarity(q[17:], inner)
        err = np.linalg.norm(s * q[17:] @ r.T + t - inner, axis=1).mean()
        if np.linalg.det(r) > 0 and (best is None or err < best[0]):
            best = (err, s * q @ r.T + t)
    pick = np.linalg.norm(face[None] - best[1][:, None], axis=2).argmin(1)
    return model.neutral.numpy().astype(np.float64)[pick]


def aflw_keypoints(model, arrays: dict[str, np.ndarray], folder: Path) -> dict[str, tuple[np.ndarray, object]]:
    """Photo name -> (``carry_keypoints`` [68, 3], the ``FitResult``) for each AFLW2000-3D photo in ``folder``
    (``aflw_photos``) that a face is found in (the detection that holds most of its ``pt3d_68``), fitted with
    ``arrays``' correspondence as the photo pipeline fits (EXIF focal length or the default)."""
    from face3d.camera import Camera, exif_focal_35mm
    from face3d.correspondence import make_correspondence
    from face3d.detect import Detector, load_image
    from face3d.fit import fit_detection

    corr = make_correspondence(model, with_ibug68(model, arrays))
    out = {}
    with Detector("image") as det:
        for image, mat in aflw_photos(folder):
            pts = read_pt3d(mat)
            rgb = load_image(image)
            found = det.detect(rgb)
            if not found:
                continue
            inside = lambda d: float(np.mean((pts[:, 0] >= d.box[0]) & (pts[:, 0] <= d.box[2]) &  # noqa: E731
                                             (pts[:, 1] >= d.box[1]) & (pts[:, 1] <= d.box[3])))
            res = fit_detection(max(found, key=inside), Camera.for_image(rgb.shape[1], rgb.shape[0],
                                                                         exif_focal_35mm(image)), corr)
            out[image.stem] = carry_keypoints(model, corr, pts, res), res
    return out


def with_keypoints(model, arrays: dict[str, np.ndarray], carried: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` with the rows of ``ibug68`` (IBUG68_FROM_BFM) and ``ibug68_3d`` (IBUG68_3D_FROM_BFM) taken
    from AFLW2000-3D's keypoints carried onto ICT (``carried``: one [68, 3] per photo, ``carry_keypoints``):
    averaged over the photos, made left-right symmetric and embedded on the neutral surface; the other rows
    of ``ibug68_3d`` are ``with_ibug68``'s. Without photos, ``ibug68_3d`` is left out (the fit then uses
    ``ibug68`` with a frontal-silhouette jaw)."""
    arrays = with_ibug68(model, {k: v for k, v in arrays.items() if not k.startswith("ibug68")})
    if not len(carried):
        return arrays
    ict_v = model.neutral.numpy().astype(np.float64)
    mean = np.mean(carried, axis=0)  # [68, 3]
    mean = 0.5 * (mean + mean[IBUG68_MIRROR] * [-1.0, 1.0, 1.0])  # ICT's neutral is symmetric about x = 0
    tri, bary = embed(mean, ict_v, model.region_faces("narrow_face"))
    out = dict(arrays)
    for name, rows in (("ibug68", IBUG68_FROM_BFM), ("ibug68_3d", IBUG68_3D_FROM_BFM)):
        t, b = arrays["ibug68_triangles"].copy(), arrays["ibug68_barycentric"].copy()
        t[rows], b[rows] = tri[rows], bary[rows]
        out[f"{name}_triangles"], out[f"{name}_barycentric"] = t, b
    return out


def with_annotated_jaw(model, arrays: dict[str, np.ndarray], annotated: list, rounds: int = 2,
                       ridge: float = 1e-3) -> dict[str, np.ndarray]:
    """``arrays`` with the jaw rows (ANNOTATED_JAW) of ``ibug68_3d`` moved on ICT's neutral surface to where
    the 3D convention's annotators put them: ``annotated`` holds (``FitResult``, ground truth [68, 2] pixels)
    of AFLW2000-3D photos fitted with ``arrays``' correspondence (the re-annotated 68 points that the
    benchmark scores: they differ from the ``pt3d_68`` keypoints of the dataset's own 3DMM fit, which place
    the jaw, by up to 15 % of the face at the ears). Each point moves by the model-space offset o minimising
    sum_f |A_f o - r_f|^2 + ridge * F |o|^2 over the photos f (r_f: its 2D residual / face size, A_f:
    d projection / d model point / face size; a point and its mirror image share one offset, mirrored),
    then is re-embedded on the neutral surface (which pins its depth, that near-frontal views leave loose);
    ``rounds`` times. ``annotated`` empty: ``arrays`` unchanged."""
    import torch
    from face3d import geometry
    from face3d.camera import project, project_jacobian
    from face3d.correspondence import make_correspondence

    if not annotated:
        return arrays
    ict_v = model.neutral.numpy().astype(np.float64)
    faces = model.region_faces("narrow_face")
    flip = np.diag([-1.0, 1.0, 1.0])
    for _ in range(rounds):
        corr = make_correspondence(model, arrays)
        ata, atr = np.zeros((68, 3, 3)), np.zeros((68, 3))
        for fitted, gt in annotated:
            theta = torch.from_numpy(np.r_[fitted.identity, fitted.expression]).float()
            rot = geometry.axis_angle_to_matrix(torch.from_numpy(fitted.rotation)[None].double())[0].float()
            y = corr.ibug68_3d.points(theta) @ rot.T + torch.from_numpy(fitted.translation)
            span = gt.max(0) - gt.min(0)
            s = float(np.sqrt(span[0] * span[1]))
            r = (gt - project(y, fitted.camera).double().numpy()) / s  # [68, 2]
            a = (project_jacobian(y, fitted.camera) @ rot).double().numpy() / s  # [68, 2, 3]
            for k in ANNOTATED_JAW:
                m = IBUG68_MIRROR[k]
                am = a[m] @ flip  # the mirror point's offset is this one's, mirrored
                ata[k] += a[k].T @ a[k] + am.T @ am
                atr[k] += a[k].T @ r[k] + am.T @ r[m]
        offset = np.linalg.solve(ata + ridge * 2 * len(annotated) * np.eye(3), atr[..., None])[..., 0]
        points = (arrays["ibug68_3d_barycentric"][:, :, None] * ict_v[arrays["ibug68_3d_triangles"]]).sum(1)
        points[ANNOTATED_JAW] += offset[ANNOTATED_JAW]
        tri, bary = embed(points[ANNOTATED_JAW], ict_v, faces)
        t, b = arrays["ibug68_3d_triangles"].copy(), arrays["ibug68_3d_barycentric"].copy()
        t[ANNOTATED_JAW], b[ANNOTATED_JAW] = tri, bary
        arrays = dict(arrays, ibug68_3d_triangles=t, ibug68_3d_barycentric=b)
    return arrays


def with_ibug68_3d(model, arrays: dict[str, np.ndarray], folder: Path) -> dict[str, np.ndarray]:
    """Add ``ibug68_3d_triangles`` / ``ibug68_3d_barycentric`` [68, 3]: the 68 points of the 3D convention
    as AFLW2000-3D defines them. Its ``pt3d_68`` are the Basel Face Model's 68 keypoint vertices under the
    dataset's own 3DMM fit of each photo (fixed vertices: the convention itself); each photo in ``folder``
    is fitted and its keypoints carried onto ICT (``aflw_keypoints``), then combined (``with_keypoints``):
    the jaw, brows and nose (IBUG68_3D_FROM_BFM) take these points; the eyes and lips keep ``ibug68``'s,
    which follow the lids and lips as MediaPipe tracks them. ``ibug68`` (2D) takes the brows too
    (IBUG68_FROM_BFM). ``tools/eval_landmarks.py`` scores each photo also with the points rebuilt without
    it (held out). Then the jaw moves to where the benchmark's re-annotated 68 points (the ``.pts`` beside
    each photo) put it (``with_annotated_jaw``): these photos' own ground truth, so ``eval_landmarks``'s held-out
    column rebuilds this step without the photo it scores too."""
    carried = aflw_keypoints(model, arrays, folder)
    if carried:
        print(f"brows (both conventions), 3D-convention jaw and nose from {len(carried)} AFLW2000-3D fits")
    arrays = with_keypoints(model, arrays, [c for c, _ in carried.values()])
    annotated = [(res, read_pts(folder / f"{name}.pts")) for name, (_, res) in carried.items()
                 if (folder / f"{name}.pts").is_file()]
    if annotated and "ibug68_3d_triangles" in arrays:
        print(f"3D-convention jaw placed by the re-annotated points of {len(annotated)} AFLW2000-3D photos")
        arrays = with_annotated_jaw(model, arrays, annotated)
    return arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "assets" / "correspondence.npz")
    ap.add_argument("--keypoints-only", type=Path, metavar="NPZ",
                    help="keep this file's MediaPipe embedding and redo only the AFLW2000-3D keypoint rows "
                         "(with_ibug68_3d: the last step, which the others do not depend on; seconds)")
    args = ap.parse_args()
    if args.keypoints_only:
        from face3d.correspondence import read_correspondence
        from face3d.model import load_model

        arrays = with_ibug68_3d(load_model(), read_correspondence(args.keypoints_only),
                                args.shared / "faces" / "aflw2000")
    else:
        arrays = build(args.shared)
    with atomic_file(args.output) as tmp:
        np.savez_compressed(tmp, **arrays)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
