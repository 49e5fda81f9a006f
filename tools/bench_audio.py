"""Speed and latency of speech -> face on this machine (medians of repeated runs).

    .venv/bin/python tools/bench_audio.py [--repeats 5]

One torch thread, as ``face3d animate`` uses (see ``face3d.animate.speech_weights``).

- offline: ``face3d.animate.speech_weights`` on a 60 s clip (the 20 ARCTIC slt utterances of
  ``../shared/speech/arctic`` joined; decoding, log-mel features, model, voice-activity gate, bilabial
  closure, head motion and procedural eyes/brows included, ``--emotion`` laid over), as a real-time factor
  (audio seconds per compute second); features alone, model alone, the voice-activity detector alone, and
  ``Streamer`` with and without the performance layer (gate, closure, emotion, head) on the decoded audio.
- streaming: ``Streamer.push`` fed 20 ms chunks: median and 99th-percentile compute per push, and the
  latency from a sample's arrival until the frame for its time is returned (algorithmic look-ahead + the
  wait for the push that completes it), measured by tracking which push returns each frame.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED, machine, median_s, median_times  # noqa: E402
from face3d.animate import speech_curves  # noqa: E402
from face3d.audio.model import PAD_SAMPLES  # noqa: E402
from face3d.audio.vad import VAD  # noqa: E402
from face3d.threads import one_thread  # noqa: E402
from face3d.audio.features import SAMPLE_RATE, load_audio  # noqa: E402
from face3d.audio.stream import Streamer, load_default  # noqa: E402



def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--emotion", default="happy", help="emotion of the offline run (default happy)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    clips = sorted((SHARED / "speech" / "arctic" / "slt").glob("*.wav"))
    audio = np.concatenate([load_audio(p) for p in clips])[: 60 * SAMPLE_RATE]
    seconds = len(audio) / SAMPLE_RATE
    model = load_default()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "bench.wav"
        sf.write(wav, audio, SAMPLE_RATE)
        run = lambda: speech_curves(wav, args.fps, progress=False, emotion=args.emotion)  # noqa: E731
        t_all, c_all = median_times(run, args.repeats)  # one warm-up call: imports, librosa caches
    t_feat = median_s(lambda: model.features(audio), args.repeats, warmup=0)
    mel = torch.from_numpy(model.features(audio))[None]
    with torch.inference_mode():
        t_model = median_s(lambda: model.step(mel, model.start()), args.repeats, warmup=0)
    det = VAD()
    padded = np.concatenate([np.zeros(PAD_SAMPLES, np.float32), audio])
    t_vad = median_s(lambda: det.step(model.features(padded), det.start()), args.repeats, warmup=0) - t_feat
    with one_thread():
        t_bare = median_s(lambda: Streamer(model, fps=args.fps, alive=False, vad=False, head=False).run([audio]),
                          args.repeats, warmup=0)
        t_full = median_s(lambda: Streamer(model, fps=args.fps, emotion=args.emotion).run_curves([audio]),
                          args.repeats, warmup=0)

    chunk = SAMPLE_RATE // 50
    s = Streamer(model, fps=args.fps)
    push_times, latencies, emitted = [], [], 0
    for i in range(0, len(audio) - chunk + 1, chunk):
        t = time.perf_counter()
        frames = s.push(audio[i: i + chunk])
        push_times.append(time.perf_counter() - t)
        arrived = (i + chunk) / SAMPLE_RATE  # audio time when this push returns
        for k in range(len(frames)):
            latencies.append(arrived - (emitted + k) / args.fps)
        emitted += len(frames)
    push_ms = np.array(push_times) * 1e3
    lat_ms = np.array(latencies) * 1e3

    print(f"1 torch thread, {seconds:.0f} s of speech, medians of {args.repeats} runs, "
          f"{machine()} (other jobs slow every figure here)")
    print(f"offline total (decode + features + model + VAD + perform + alive, {args.emotion}): "
          f"{t_all * 1e3:8.1f} ms  {seconds / t_all:7.0f}x real time (wall); CPU time {c_all * 1e3:.1f} ms, "
          f"{seconds / c_all:.0f}x")
    print(f"  Streamer, model only (no gate/closure/head/alive): {t_bare * 1e3:8.1f} ms  {seconds / t_bare:7.0f}x")
    print(f"  Streamer, everything on:                        {t_full * 1e3:8.1f} ms  {seconds / t_full:7.0f}x "
          f"(performance layer {(t_full - t_bare) * 1e3:.1f} ms)")
    print(f"  voice-activity detector only (after features):  {t_vad * 1e3:8.1f} ms  {seconds / max(t_vad, 1e-9):7.0f}x")
    print(f"  log-mel features only:                          {t_feat * 1e3:8.1f} ms  {seconds / t_feat:7.0f}x")
    print(f"  model only:                                     {t_model * 1e3:8.1f} ms  {seconds / t_model:7.0f}x")
    print(f"streaming, 20 ms pushes: compute per push median {np.median(push_ms):.2f} ms, "
          f"p99 {np.percentile(push_ms, 99):.2f} ms")
    print(f"streaming latency (frame time -> returned), audio clock: median {np.median(lat_ms):.0f} ms, "
          f"max {lat_ms.max():.0f} ms (+ compute per push)")


if __name__ == "__main__":
    main()
