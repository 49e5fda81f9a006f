"""Batch throughput: items per second for the local engine and for Ray with 1 and 2 workers, for fit,
animate and track, and Ray's own cost per item (a no-op item).

    nice .venv/bin/python tools/bench_batch.py [--faces N] [--clips N] [--videos N --seconds S] [--workers 1,2]
        [--work fit,animate,track,no-op]

Inputs: ``../shared/faces`` (photos), ``../shared/speech/arctic/slt`` (clips) and ``../shared/video``
(videos, each cut to its first ``--seconds``; tracked without the overlay video) or $FACE3D_SHARED. Each
Ray run gets a fresh local cluster of that many CPUs; its start-up is reported apart, the batch time
includes the workers loading their assets (once each). Outputs go to a temporary folder.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import ROOT, SHARED  # noqa: E402


def noop_item(source: str, dest: str, overwrite: bool = False) -> None:
    """A batch item that does nothing: what is left is the engine's own cost."""
    Path(dest).write_bytes(b"")


def batch_seconds(inputs, work, engine, options=None, suffix="") -> float:
    from face3d import batch

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        records = batch.run(inputs, work, Path(out) / "b", options=options, engine=engine, progress=False,
                            suffix=suffix)
        seconds = time.perf_counter() - t0
    failed = [r for r in records if r["status"] != "done"]
    assert not failed, failed[0]["error"]
    return seconds


def cut_videos(videos: list[Path], seconds: float, folder: Path) -> list[Path]:
    """The first ``seconds`` of each video (re-encoded with its sound, even frame size) in ``folder``."""
    from face3d.formats.video import open_video, read_audio, video_writer

    out = []
    for src in videos:
        info = open_video(src).info
        w, h = info.width // 2 * 2, info.height // 2 * 2
        audio = read_audio(src)
        if audio is not None:
            audio = (audio[0][:, :int(seconds * audio[1])], audio[1], audio[2])
        dest = folder / src.name
        writer = video_writer(dest, w, h, info.fps, audio)
        for t, rgb in open_video(src).frames():
            if t >= seconds:
                break
            writer.add(rgb[:h, :w], t)
        writer.close()
        out.append(dest)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=11)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0, help="length each video is cut to")
    ap.add_argument("--noop", type=int, default=200)
    ap.add_argument("--work", default="fit,animate,track,no-op", help="which batches to time")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    photos = sorted(p for p in (SHARED / "faces").iterdir() if p.suffix in (".jpg", ".png"))[:args.faces]
    clips = sorted((SHARED / "speech" / "arctic" / "slt").glob("*.wav"))[:args.clips]
    tmp = Path(tempfile.mkdtemp())
    dummies = [tmp / f"n{i:04d}.txt" for i in range(args.noop)]
    for d in dummies:
        d.write_text("")
    work = args.work.split(",")
    videos = sorted((SHARED / "video").glob("*.mp4"))[:args.videos] if "track" in work else []
    videos = cut_videos(videos, args.seconds, tmp)
    jobs = [("fit", photos, "face3d.pipeline:fit_item", {}, ""),
            ("animate", clips, "face3d.animate:animate_item", {}, ".glb"),
            ("track", videos, "face3d.track:track_item", {"overlay": False}, ""),
            ("no-op", dummies, "bench_batch:noop_item", {}, ".out")]
    jobs = [j for j in jobs if j[0] in work]
    rows = []
    for name, inputs, work, options, suffix in jobs:
        if name != "no-op":  # the local engine in a fresh process would load the assets once, as here
            s = batch_seconds(inputs, work, "local", options, suffix)
            rows.append((name, "local", len(inputs), s))
            print(f"{name:8s} local     {len(inputs):4d} items {s:7.1f} s {len(inputs) / s:7.2f} items/s", flush=True)
    import ray

    for n in (int(v) for v in args.workers.split(",")):
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=n, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "tools")}})
        print(f"ray cluster with {n} CPUs started in {time.perf_counter() - t0:.1f} s", flush=True)
        for name, inputs, work, options, suffix in jobs:
            s = batch_seconds(inputs, work, "ray", options, suffix)
            rows.append((name, f"ray x{n}", len(inputs), s))
            print(f"{name:8s} ray x{n}    {len(inputs):4d} items {s:7.1f} s {len(inputs) / s:7.2f} items/s"
                  + (f"  ({1000 * s / len(inputs):.1f} ms per item)" if name == "no-op" else ""), flush=True)
        ray.shutdown()
    print("\n| work | engine | items | seconds | items/s |\n|---|---|---|---|---|")
    for name, engine, k, s in rows:
        print(f"| {name} | {engine} | {k} | {s:.1f} | {k / s:.2f} |")


if __name__ == "__main__":
    main()
