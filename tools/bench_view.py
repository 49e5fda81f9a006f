"""Viewer and render speed (issue 13): window frames at 1280x720 (the full mesh, textured when the scene has
a texture, the panel on, morphs changing every frame) under the current DISPLAY (e.g. Xvfb), and
`face3d render` MP4 frames at 512x512 including H.264 encoding. Targets: >= 30 fps and >= 30 frames/s.

    xvfb-run -a -s "-screen 0 1920x1080x24" nice .venv/bin/python tools/bench_view.py talk.glb [--repeat 3]

Medians of wall time and of process CPU time (llvmpipe's threads included: the figure a busy shared machine
does not inflate), with the load average printed before and after. ``--samples N`` draws with N-sample MSAA
(4 was the only path before issue 13's work; 0 draws with no anti-aliasing), the default with FXAA.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import machine, median_times  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("glb", type=Path, help="an animated face3d GLB (from `face3d animate --face FIT`: textured)")
    ap.add_argument("--frames", type=int, default=60, help="window frames timed (median per frame)")
    ap.add_argument("--repeat", type=int, default=3, help="MP4 renders timed (median)")
    ap.add_argument("--samples", type=int, default=None, help="MSAA samples (default: FXAA, no MSAA)")
    ap.add_argument("--skip-window", action="store_true")
    ap.add_argument("--skip-mp4", action="store_true")
    args = ap.parse_args()
    from face3d.formats.scene import read_scene
    from face3d.viewer.media import render_file
    from face3d.viewer.window import Viewer

    from face3d.viewer.draw import SceneRenderer

    scene = read_scene(args.glb)
    if not hasattr(SceneRenderer, "resolve"):  # a checkout from before issue 13's work: MSAA 4x only
        aa = "msaa 4x (the code before issue 13's work)"
    else:
        aa = "fxaa" if args.samples is None else (f"msaa {args.samples}x" if args.samples > 1 else "no aa")
    textured = "textured" if scene.texture is not None else "untextured"
    print(f"{args.glb.name}: {len(scene.positions)} vertices, {len(scene.triangles)} triangles, "
          f"{0 if scene.targets is None else len(scene.targets)} targets, {textured}; {aa}; {machine()}")
    if not args.skip_window:
        kw = {} if args.samples is None else {"samples": args.samples}
        with Viewer(scene, (1280, 720), **kw) as v:
            frame = iter(range(10 ** 9))

            def one() -> None:
                v.draw((next(frame) / 30) % max(scene.duration, 1e-6))
                v.gl.finish()

            wall, cpu = median_times(one, args.frames, warmup=3)
        print(f"viewer 1280x720: median {1 / wall:.1f} fps ({1e3 * wall:.1f} ms wall, {1e3 * cpu:.1f} ms CPU "
              f"per frame, {args.frames} frames); {machine()}")
    if not args.skip_mp4:
        n = int(round(scene.duration * scene.fps)) + 1
        kw = {} if args.samples is None else {"samples": args.samples}
        walls, cpus = [], []
        with tempfile.TemporaryDirectory() as d:
            for i in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                try:
                    render_file(args.glb, Path(d) / f"b{i}.mp4", size=512, progress=False, scene=scene, **kw)
                except TypeError:  # before issue 13's work render_file had no samples argument (MSAA 4x)
                    render_file(args.glb, Path(d) / f"b{i}.mp4", size=512, progress=False, scene=scene)
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(f"render 512x512 mp4: median {n / wall:.1f} frames/s ({n} frames in {wall:.2f} s wall, "
              f"{1e3 * cpu / n:.1f} ms CPU per frame, encoding included, {args.repeat} runs); {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
