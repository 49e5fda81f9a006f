"""Speed of ``face3d track`` at 640x480: end to end (decode + detection + fit, no overlay) in frames per
second, the per-frame fit alone (ms), and the overlay video's cost per frame apart.

    nice .venv/bin/python tools/bench_track.py [--clip ../shared/video/liveportrait_d3.mp4] [--seconds 5]

The clip is first re-encoded at 640x480 (H.264) so that decoding costs what a 640x480 file costs. Wall
time and process CPU time are both reported: on a shared machine the wall time also counts the other
processes' use of the cores.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED, machine  # noqa: E402


def make_clip(src: Path, dst: Path, seconds: float) -> int:
    from PIL import Image

    from face3d.formats.video import open_video, video_writer

    info = open_video(src).info
    w = video_writer(dst, 640, 480, info.fps, None)
    n = 0
    for t, rgb in open_video(src).frames():
        if t >= seconds:
            break
        w.add(np.asarray(Image.fromarray(rgb).resize((640, 480), Image.Resampling.BILINEAR)), t)
        n += 1
    w.close()
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default=str(SHARED / "video" / "liveportrait_d3.mp4"))
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args(argv)
    from face3d.correspondence import load_correspondence
    from face3d.model import load_model
    from face3d.track import track, write_overlay

    model = load_model()
    corr = load_correspondence(model)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "bench.mp4"
        n = make_clip(Path(args.clip), clip, args.seconds)
        track(clip, progress=False, model=model, correspondence=corr)  # warm-up: MediaPipe graph, caches
        wall, cpu = time.perf_counter(), time.process_time()
        r = track(clip, progress=False, model=model, correspondence=corr)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        ow = time.perf_counter()
        write_overlay(Path(tmp) / "overlay.mp4", r, clip, model, progress=False)
        ow = time.perf_counter() - ow
    fit = r.fit_ms[r.detected]
    print(f"640x480, {n} frames ({args.seconds:.1f} s of {Path(args.clip).name}), {machine()}")
    print(f"end to end (decode + detect + fit, no overlay): {n / wall:.1f} frames/s wall, {n / cpu:.1f} frames/s "
          f"of process CPU time")
    print(f"  decode + detect: {r.detect_s / n * 1000:.1f} ms/frame wall")
    cpu_fit = r.fit_cpu_ms[r.detected]
    print(f"per-frame fit: median {np.median(fit):.2f} ms wall, {np.median(cpu_fit):.2f} ms thread CPU; p90 "
          f"{np.percentile(fit, 90):.2f} ms wall")
    print(f"overlay video: {ow / n * 1000:.1f} ms/frame wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
