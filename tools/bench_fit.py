"""Time the photo -> mesh path on the shared photos: detection, fit (after detection) and refine (after the
fit), per face.

Each photo is detected once (largest face), then detection, the landmark fit and the refinement (lighting
and albedo, ``face3d.refine``) are timed ``--repeat`` times each; the table gives per-photo medians (wall
clock and process CPU time) and the median over photos. The process's first refinement, which builds the
mesh-only caches (GL context, atlas data: from disk after the first run), is timed apart. Torch runs with
at most 2 threads. The load line says how busy the machine was.

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
from common import SHARED, machine, median_times  # noqa: E402

from face3d.camera import Camera  # noqa: E402
from face3d.detect import Detector, load_image  # noqa: E402
from face3d.correspondence import load_correspondence  # noqa: E402
from face3d.fit import fit_detection  # noqa: E402
from face3d.model import load_model  # noqa: E402
from face3d.refine import refine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=Path, default=SHARED / "faces", help="folder of photos")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    photos = sorted(p for p in args.faces.iterdir() if p.suffix in (".jpg", ".png"))
    rows = []
    ms = lambda fn, repeat=None: tuple(1e3 * t for t in median_times(fn, repeat or args.repeat, warmup=0))  # noqa: E731  (wall, CPU)
    model = load_model()
    corr = load_correspondence(model)
    first = None
    with Detector("image") as det:
        for photo in photos:
            rgb = load_image(photo)
            faces = det.detect(rgb)
            if not faces:
                print(f"{photo.name}: no face")
                continue
            camera = Camera.for_image(rgb.shape[1], rgb.shape[0])
            fitted = fit_detection(faces[0], camera, corr)  # warm-up (model and correspondence load once)
            if first is None:
                first = ms(lambda: refine(rgb, fitted, model), repeat=1)
            rows.append((photo.name, ms(lambda: det.detect(rgb)), ms(lambda: fit_detection(faces[0], camera, corr)),
                         ms(lambda: refine(rgb, fitted, model))))
    print(machine())
    print("| photo | detect wall / CPU (ms) | fit after detection wall / CPU (ms) | refine after fit wall / CPU (ms) |")
    print("|---|---|---|---|")
    for name, d, f, r in rows:
        print(f"| {name} | {d[0]:.1f} / {d[1]:.1f} | {f[0]:.1f} / {f[1]:.1f} | {r[0]:.0f} / {r[1]:.0f} |")
    med = lambda k, i: float(np.median([r[k][i] for r in rows]))  # noqa: E731
    print(f"| **median of {len(rows)}** | **{med(1, 0):.1f} / {med(1, 1):.1f}** | **{med(2, 0):.1f} / {med(2, 1):.1f}** "
          f"| **{med(3, 0):.0f} / {med(3, 1):.0f}** |")
    if first is not None:
        print(f"first refine of the process (cold caches): {first[0]:.0f} / {first[1]:.0f} ms wall / CPU")
    print(machine())


if __name__ == "__main__":
    main()
