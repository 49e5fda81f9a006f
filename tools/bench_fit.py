"""Time the photo -> mesh path on the shared photos: detection and fit (after detection), per face.

Each photo is detected once (largest face), then detection and fit are timed ``--repeat`` times each; the
table gives per-photo medians (wall clock and process CPU time) and the median over photos. Torch runs with
at most 2 threads.

    FACE3D_HOME=... python tools/bench_fit.py [--faces ../shared/faces] [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED, median_times  # noqa: E402

from face3d.camera import Camera  # noqa: E402
from face3d.detect import Detector, load_image  # noqa: E402
from face3d.correspondence import load_correspondence  # noqa: E402
from face3d.fit import fit_detection  # noqa: E402
from face3d.model import load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=Path, default=SHARED / "faces", help="folder of photos")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    photos = sorted(p for p in args.faces.iterdir() if p.suffix in (".jpg", ".png"))
    rows = []
    ms = lambda fn: tuple(1e3 * t for t in median_times(fn, args.repeat, warmup=0))  # noqa: E731  (wall, CPU)
    corr = load_correspondence(load_model())
    with Detector("image") as det:
        for photo in photos:
            rgb = load_image(photo)
            faces = det.detect(rgb)
            if not faces:
                print(f"{photo.name}: no face")
                continue
            camera = Camera.for_image(rgb.shape[1], rgb.shape[0])
            fit_detection(faces[0], camera, corr)  # warm-up (model and correspondence load once)
            rows.append((photo.name, ms(lambda: det.detect(rgb)), ms(lambda: fit_detection(faces[0], camera, corr))))
    print("| photo | detect wall / CPU (ms) | fit after detection wall / CPU (ms) |")
    print("|---|---|---|")
    for name, d, f in rows:
        print(f"| {name} | {d[0]:.1f} / {d[1]:.1f} | {f[0]:.1f} / {f[1]:.1f} |")
    med = lambda k, i: float(np.median([r[k][i] for r in rows]))  # noqa: E731
    print(f"| **median of {len(rows)}** | **{med(1, 0):.1f} / {med(1, 1):.1f}** | **{med(2, 0):.1f} / {med(2, 1):.1f}** |")


if __name__ == "__main__":
    main()
