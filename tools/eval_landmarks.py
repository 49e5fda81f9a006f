"""68-point landmark accuracy on the shared photos: raw MediaPipe (published 478 -> 68 table) vs. the fit.

NME = mean point-to-point error / sqrt(w * h) of the ground-truth 68-point box, in %, for all 68 points,
the inner 51 (18-68) and the jaw 17 (1-17). Ground truth: the iBUG ``.pts`` next to each photo (1-based
pixel origin: 1 is subtracted). Where a photo holds several faces, the detection that overlaps the
ground-truth box most is evaluated.

    FACE3D_HOME=... python tools/eval_landmarks.py [--faces ../shared/faces]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from face3d.camera import Camera, exif_focal_35mm  # noqa: E402
from face3d.correspondence import read_correspondence  # noqa: E402
from face3d.detect import Detector, load_image  # noqa: E402
from face3d.correspondence import load_correspondence  # noqa: E402
from face3d.fit import fit_detection  # noqa: E402
from face3d.model import load_model  # noqa: E402

GROUPS = {"all68": slice(0, 68), "inner51": slice(17, 68), "jaw17": slice(0, 17)}


def read_pts(path: Path) -> np.ndarray:
    """[68, 2] 0-based pixel coordinates from an iBUG .pts file."""
    lines = path.read_text().split("{")[1].split("}")[0].split()
    return np.array(lines, np.float64).reshape(-1, 2) - 1.0


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
                rows.append((pts.stem, None, None))
                continue
            box = np.concatenate([gt.min(0), gt.max(0)])
            face = max(found, key=lambda d: overlap(d.box, box))
            camera = Camera.for_image(rgb.shape[1], rgb.shape[0], exif_focal_35mm(image))
            fitted = fit_detection(face, camera, corr)
            rows.append((pts.stem, nme(face.landmarks[table, :2], gt), nme(fitted.ibug68, gt)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = Path(os.environ.get("FACE3D_SHARED", ROOT.parent / "shared"))
    ap.add_argument("--faces", type=Path, default=shared / "faces", help="folder of photos with .pts files")
    args = ap.parse_args()
    rows = evaluate(args.faces)
    cell = lambda r: " / ".join(f"{r[g]:.2f}" for g in GROUPS) if r else "no face"  # noqa: E731
    print("| photo | raw MediaPipe all68 / inner51 / jaw17 (%) | fit all68 / inner51 / jaw17 (%) |")
    print("|---|---|---|")
    for name, raw, fit in rows:
        print(f"| {name} | {cell(raw)} | {cell(fit)} |")
    ok = [(r, f) for _, r, f in rows if r]
    mean = lambda k: {g: float(np.mean([x[k][g] for x in ok])) for g in GROUPS}  # noqa: E731
    print(f"| **mean of {len(ok)}** | **{cell(mean(0))}** | **{cell(mean(1))}** |")


if __name__ == "__main__":
    main()
