"""68-point landmark accuracy on the shared photos: raw MediaPipe (published 478 -> 68 table) vs. the fit.

Two sets, each scored in its own convention (both fit outputs are printed for each): ``faces/`` is 300-W
style (2D: jaw on the visible silhouette -> the fit's ``ibug68``), ``faces/aflw2000/`` is AFLW2000-3D
(3D: jaw points are fixed face points -> ``ibug68_3d``). ``ibug68_3d``'s jaw, brows and nose are defined
by AFLW2000-3D's own keypoints (the ``.mat`` files of these very photos, ``tools/build_correspondence.py``),
and its jaw then placed by these photos' re-annotated ``.pts`` (the ground truth scored here), so its
AFLW2000-3D figures are in sample; the "held out" column scores each photo with those points rebuilt from
the other photos' ``.mat`` and ``.pts`` files only (leave one photo out): the estimate for other photos. The head pose (yaw, pitch) is printed, fitted and
reference: the dataset's own (``Pose_Para`` of a 300W-LP / AFLW2000-3D ``.mat`` beside the photo; 3DDFA's
signs differ, only sizes are compared) or else MediaPipe's (its facial transformation matrix). The photos at
large pitch (>= 30 deg) or yaw (>= 45 deg) by the reference pose are averaged apart: it does not depend on
the fit being measured, so the row holds the same photos before and after a change to the fit.

NME = mean point-to-point error / sqrt(w * h) of the ground-truth 68-point box, in %, for all 68 points,
the inner 51 (18-68) and the jaw 17 (1-17). Ground truth: the iBUG ``.pts`` next to each photo (1-based
pixel origin: 1 is subtracted). Where a photo holds several faces, the detection that overlaps the
ground-truth box most is evaluated.

Last, the expression check of the sparsity prior over every photo of both folders (largest face): the fitted
channels above 0.1 that MediaPipe scores below 0.02. ``--renders N`` adds the expression error on N rendered
faces of known random expressions (1-3 channels at 0.3-1, mostly symmetric; identity 0.7 N(0,1); yaw up to
29 deg, pitch up to 14 deg; seeded): the mean |weight error| over the 45 non-gaze channels for the fit at
several ``fit.EXPRESSION_PRIOR`` values and for MediaPipe's scores alone (how ``EXPRESSION_PRIOR`` was set).

    FACE3D_HOME=... python tools/eval_landmarks.py [--faces ../shared/faces] [--renders 40] [--default-focal 2.0]
                                                   [--estimate-focal]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.io
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED, read_pts  # noqa: E402

from face3d.camera import Camera, exif_focal_35mm  # noqa: E402
from face3d.correspondence import read_correspondence  # noqa: E402
from face3d.detect import Detector, load_image  # noqa: E402
from face3d.correspondence import load_correspondence  # noqa: E402
from face3d.fit import fit_detection  # noqa: E402
from face3d.model import load_model  # noqa: E402
from face3d.names import ICT_NAMES, arkit_to_ict  # noqa: E402

GROUPS = {"all68": slice(0, 68), "inner51": slice(17, 68), "jaw17": slice(0, 17)}
ESTIMATE_FOCAL = False  # --estimate-focal: photos without EXIF have the fit estimate the focal length


def nme(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """NME (%) of ``pred [68, 2]`` against ``gt [68, 2]`` per group."""
    span = gt.max(0) - gt.min(0)
    err = np.linalg.norm(pred - gt, axis=1) / np.sqrt(span[0] * span[1])
    return {g: 100 * float(err[s].mean()) for g, s in GROUPS.items()}


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return iw * ih / (area(a) + area(b) - iw * ih)


def evaluate(faces: Path) -> list[tuple[str, dict, dict]]:
    table = read_correspondence()["mediapipe68"]
    rows = []
    corr = load_correspondence(load_model())
    with Detector("image") as det:
        for pts in sorted(faces.glob("*.pts")):
            image = next(p for p in sorted(faces.glob(pts.stem + ".*")) if p.suffix in (".jpg", ".png"))
            gt = read_pts(pts)
            rgb = load_image(image)
            found = det.detect(rgb)
            if not found:
                rows.append((pts.stem, None, None, None, None, None))
                continue
            box = np.concatenate([gt.min(0), gt.max(0)])
            face = max(found, key=lambda d: overlap(d.box, box))
            exif = exif_focal_35mm(image)
            camera = Camera.for_image(rgb.shape[1], rgb.shape[0], exif)
            fitted = fit_detection(face, camera, corr, estimate_focal=ESTIMATE_FOCAL and exif is None)
            from face3d.formats.fitdir import fit_params

            pitch, yaw, _ = fit_params(fitted)["pose"]["pitch_yaw_roll_deg"]
            mat = pts.with_suffix(".mat")
            if mat.is_file() and "Pose_Para" in {name for name, *_ in scipy.io.whosmat(str(mat))}:
                mp_pitch, mp_yaw = np.degrees(scipy.io.loadmat(str(mat))["Pose_Para"][0, :2])
            else:
                u, _, vt = np.linalg.svd(face.transform[:3, :3].astype(np.float64))
                mp_pitch, mp_yaw, _ = Rotation.from_matrix(u @ vt).as_euler("XYZ", degrees=True)
            rows.append((pts.stem, nme(face.landmarks[table, :2], gt), nme(fitted.ibug68, gt),
                         nme(fitted.ibug68_3d, gt), (yaw, pitch, mp_yaw, mp_pitch, fitted.camera.focal / max(rgb.shape[:2])),
                         (fitted, gt)))
    return rows


def held_out(folder: Path, rows: list) -> dict[str, dict[str, float]]:
    """Photo name -> NME (per group, and ``points`` [68]: each point's error, %) of ``ibug68_3d`` with AFLW2000-3D's keypoint rows rebuilt without that photo's
    ``.mat`` and ``.pts`` (leave one photo out: ``build_correspondence.with_keypoints`` over the other photos'
    carried keypoints, then ``with_annotated_jaw`` on the other photos' fits and ground truth), for each photo of ``rows`` (``evaluate``'s, whose fits are reused: the fit does not depend on
    those rows) that has a ``.mat`` with ``pt3d_68``."""
    import torch

    import build_correspondence as bc
    from face3d import geometry
    from face3d.camera import project
    from face3d.correspondence import make_correspondence

    model = load_model()
    arrays = read_correspondence()
    base = make_correspondence(model, bc.with_keypoints(model, arrays, []))  # ICT's brows and nose: the carry's
    fits = {r[0]: r[5] for r in rows if r[5]}
    carried = {image.stem: bc.carry_keypoints(model, base, bc.read_pt3d(mat), fits[image.stem][0])
               for image, mat in bc.aflw_photos(folder) if image.stem in fits}
    out = {}
    for name in carried:
        rows_without = bc.with_keypoints(model, arrays, [c for k, c in carried.items() if k != name])
        corr = make_correspondence(model, bc.with_annotated_jaw(model, rows_without, [fits[k] for k in carried
                                                                                      if k != name]))
        fitted, gt = fits[name]
        theta = torch.from_numpy(np.r_[fitted.identity, fitted.expression])
        rot = geometry.axis_angle_to_matrix(torch.from_numpy(fitted.rotation)[None].double())[0].float()
        y = corr.ibug68_3d.points(theta) @ rot.T + torch.from_numpy(fitted.translation)
        pred = project(y, fitted.camera).numpy()
        span = gt.max(0) - gt.min(0)
        out[name] = dict(nme(pred, gt), points=100 * np.linalg.norm(pred - gt, axis=1) / np.sqrt(span[0] * span[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=Path, default=SHARED / "faces", help="folder of photos with .pts files")
    ap.add_argument("--renders", type=int, default=0, help="also the expression error on this many renders")
    ap.add_argument("--default-focal", type=float, help="what-if: the focal length (units of the longer image "
                    "side) of photos without EXIF, instead of face3d.camera.DEFAULT_FOCAL (the in-sample column "
                    "keeps the shipped keypoints, defined on fits at the default; the held-out one follows)")
    ap.add_argument("--estimate-focal", action="store_true", help="what-if: photos without EXIF have the fit "
                    "estimate their focal length (fit_detection's estimate_focal; the photo pipeline keeps the "
                    "default focal length)")
    args = ap.parse_args()
    global ESTIMATE_FOCAL
    ESTIMATE_FOCAL = args.estimate_focal
    if args.default_focal:
        import face3d.camera

        face3d.camera.DEFAULT_FOCAL = args.default_focal
    cell = lambda r: " / ".join(f"{r[g]:.2f}" for g in GROUPS) if r else "no face"  # noqa: E731
    for title, folder, own in (("300-W style, 2D convention (scored: fit ibug68)", args.faces, 2),
                               ("AFLW2000-3D, 3D convention (scored: fit ibug68_3d)", args.faces / "aflw2000", 3)):
        if not folder.is_dir():
            continue
        rows = evaluate(folder)
        loo = held_out(folder, rows) if own == 3 else {}
        extra = " fit ibug68_3d held out (3D) |" if loo else ""
        print(f"\n### {title}\n")
        print(f"| photo | yaw / pitch (deg): fitted, reference; focal (longer sides) | raw MediaPipe | fit ibug68 (2D) | fit ibug68_3d (3D) |{extra}")
        print("|---|---|---|---|---|" + "---|" * bool(loo))
        for name, raw, f2, f3, pose, _ in rows:
            mark = lambda c, k: f"**{cell(c)}**" if k == own else cell(c)  # noqa: E731
            ang = f"{pose[0]:.0f} / {pose[1]:.0f}, {pose[2]:.0f} / {pose[3]:.0f}; {pose[4]:.2f}" if pose else "-"
            print(f"| {name} | {ang} | {cell(raw)} | {mark(f2, 2)} | {mark(f3, 3)} |"
                  + (f" **{cell(loo.get(name))}** |" if loo else ""))
        ok = [r for r in rows if r[1]]
        mean = lambda k: {g: float(np.mean([x[k][g] for x in ok])) for g in GROUPS}  # noqa: E731
        avg = lambda rs: {g: float(np.mean([loo[x[0]][g] for x in rs])) for g in GROUPS}  # noqa: E731
        loo_ok = loo and all(r[0] in loo for r in ok)
        print(f"| mean of {len(ok)} (all68 / inner51 / jaw17 %) | | {cell(mean(1))} | {mark(mean(2), 2)} | "
              f"{mark(mean(3), 3)} |" + (f" **{cell(avg(ok))}** |" if loo_ok else " - |" if loo else ""))
        hard = [r for r in ok if abs(r[4][2]) >= 45 or abs(r[4][3]) >= 30]
        if hard:
            print(f"| of which yaw >= 45 or pitch >= 30 (reference): {len(hard)} ({', '.join(r[0] for r in hard)}) | | "
                  f"{cell({g: float(np.mean([x[1][g] for x in hard])) for g in GROUPS})} | "
                  f"{cell({g: float(np.mean([x[2][g] for x in hard])) for g in GROUPS})} | "
                  f"{cell({g: float(np.mean([x[3][g] for x in hard])) for g in GROUPS})} |"
                  + (f" {cell(avg(hard))} |" if loo_ok else " - |" if loo else ""))
        if loo_ok:
            m3, mh = mean(3), avg(ok)
            print(f"\njaw17 / inner51: {m3['jaw17'] / m3['inner51']:.2f} in sample, "
                  f"{mh['jaw17'] / mh['inner51']:.2f} held out. In sample, the jaw, brows and nose of ibug68_3d "
                  f"were defined on these {len(loo)} photos' own AFLW2000-3D keypoints (.mat) and the jaw placed "
                  f"by their ground truth (.pts); held out, each photo is scored with them rebuilt from the other "
                  f"{len(loo) - 1} (the estimate for photos outside the set).")
            jaw = np.mean([loo[r[0]]["points"][:17] for r in ok], axis=0)
            print("held-out error of each jaw point 1-17 (mean over the photos, %): "
                  + " ".join(f"{e:.1f}" for e in jaw))
    n, found = unscored_channels([args.faces, args.faces / "aflw2000"])
    print(f"\nexpression: {len(found)} fitted channels above 0.1 that MediaPipe scores below 0.02, over {n} photos"
          + "".join(f"; {photo} {name} {w:.2f}" for photo, name, w in found))
    if args.renders:
        expression_on_renders(args.renders)

def unscored_channels(folders: list[Path]) -> tuple[int, list[tuple[str, str, float]]]:
    """(photos, [(photo, ICT channel, fitted weight)]) of the fitted channels above 0.1 that MediaPipe
    scores below 0.02, over the largest face of every photo in ``folders``."""
    corr = load_correspondence(load_model())
    photos = sorted(p for f in folders if f.is_dir() for p in f.iterdir() if p.suffix in (".jpg", ".png"))
    out = []
    with Detector("image") as det:
        for image in photos:
            rgb = load_image(image)
            found = det.detect(rgb)
            if not found:
                continue
            exif = exif_focal_35mm(image)
            fitted = fit_detection(found[0], Camera.for_image(rgb.shape[1], rgb.shape[0], exif), corr,
                                   estimate_focal=ESTIMATE_FOCAL and exif is None)
            scores = arkit_to_ict(found[0].blendshape_vector())
            out += [(image.name, ICT_NAMES[i], float(fitted.expression[i])) for i in range(len(ICT_NAMES))
                    if fitted.expression[i] > 0.1 and scores[i] < 0.02]
    return len(photos), out


def expression_on_renders(n: int, precisions=(5.0, 10.0, 20.0, 50.0)) -> None:
    """Print the expression error on ``n`` renders of known random expressions (see the module docstring)."""
    import importlib

    import torch
    from face3d.overlay import render_overlay

    fit = importlib.import_module("face3d.fit")
    model = load_model()
    corr = load_correspondence(model)
    rng = np.random.default_rng(0)
    pool = [k for k, name in enumerate(ICT_NAMES) if not name.startswith("eyeLook")]
    parts = ("face", "head_and_neck", "mouth_socket", "teeth", "gums_and_tongue", "eyeball_left", "eyeball_right")
    tris = np.concatenate([model.region_faces(p) for p in parts])
    camera = Camera.for_image(480, 480)
    cases = []
    with Detector("image") as det:
        for _ in range(n):
            identity = torch.from_numpy(0.7 * rng.standard_normal(100)).float()
            truth = np.zeros(len(ICT_NAMES), np.float32)
            for k in rng.choice(pool, size=rng.integers(1, 4), replace=False):
                truth[k] = rng.uniform(0.3, 1.0)
                name = ICT_NAMES[k]
                if name.endswith("_L") and rng.random() < 0.7:
                    truth[ICT_NAMES.index(name[:-2] + "_R")] = truth[k]
            rot = torch.tensor([rng.uniform(-0.25, 0.25), rng.uniform(-0.5, 0.5), rng.uniform(-0.1, 0.1)]).float()
            tr = torch.tensor([rng.uniform(-2, 2), rng.uniform(-2, 2), -60.0]).float()
            with torch.no_grad():
                v = model(identity[None], torch.from_numpy(truth)[None], rot[None], tr[None]).vertices[0].numpy()
            grey = np.full((camera.height, camera.width, 3), 90, np.uint8)
            image = np.asarray(render_overlay(None, grey, v, tris, camera, colour=(230, 190, 170), alpha=1.0))
            found = det.detect(image)
            if found:
                cases.append((found[0], truth))
    keep = np.array(pool)
    mp = np.mean([np.abs(np.clip(arkit_to_ict(d.blendshape_vector()), 0, 1) - t)[keep].mean() for d, t in cases])
    saved = fit.EXPRESSION_PRIOR
    errors = []
    for p in precisions:
        fit.EXPRESSION_PRIOR = p
        errors.append(np.mean([np.abs(fit_detection(d, camera, corr).expression - t)[keep].mean() for d, t in cases]))
    fit.EXPRESSION_PRIOR = saved
    print(f"\nexpression on {len(cases)} renders of known expressions (of {n}), mean |weight error|: "
          + ", ".join(f"{e:.4f} at EXPRESSION_PRIOR {p:g}" for p, e in zip(precisions, errors))
          + f"; MediaPipe's scores alone {mp:.4f} (the fit uses {saved:g})")


if __name__ == "__main__":
    main()
