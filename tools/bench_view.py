"""Viewer and render speed: window frames at 1280x720 (full mesh, MSAA 4x, morphs changing every frame) under
the current DISPLAY (e.g. Xvfb), and `face3d render` MP4 frames at 512x512 including H.264 encoding.

    DISPLAY=:99 nice .venv/bin/python tools/bench_view.py talk.glb
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("glb", type=Path, help="an animated face3d GLB")
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    from face3d.formats.scene import read_scene
    from face3d.viewer.media import render_file
    from face3d.viewer.window import Viewer

    scene = read_scene(args.glb)
    with Viewer(scene, (1280, 720)) as v:
        v.draw(0.0)
        times = []
        for i in range(args.frames):
            t0 = time.perf_counter()
            v.draw((i / 30) % max(scene.duration, 1e-6))
            v.gl.finish()
            times.append(time.perf_counter() - t0)
    print(f"viewer 1280x720: median {1 / statistics.median(times):.1f} fps over {args.frames} frames")
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        render_file(args.glb, Path(d) / "b.mp4", size=512, progress=False, scene=scene)
        dt = time.perf_counter() - t0
    n = int(round(scene.duration * scene.fps)) + 1
    print(f"render 512x512 mp4: {n / dt:.1f} frames/s ({n} frames in {dt:.1f} s, encoding included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
