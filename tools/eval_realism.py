"""face3d's speech curves beside real capture statistics: mouth-channel values and velocities, head motion.

    .venv/bin/python tools/eval_realism.py [--weights assets/audio2face.pt] [--raw]

Sources (all under ``../shared``, read only):
- ``capture``: ``animation/livelink/MySlate_166_iPhone_cal.csv``, a real iPhone ARKit capture (~60 fps, no
  audio; its head columns are all 0, so it has no head statistics);
- ``hand``: the FACEGOOD hand-animated curves ``animation/*.arkit.csv`` (30 fps, Mandarin TTS), only over
  frames where the mouth moves at all (40 % of their frames are all-zero rest) and only the channels that
  carry data (README there); ``face3d hand-audio`` is face3d run on those same wav files;
- ``face3d``: face3d's streaming output at 30 fps (gate, closure, head; no emotion) on the LibriVox and
  ARCTIC evaluation clips (``speech/librivox``, ``speech/arctic``), over frames inside speech.

Per mouth channel: 50th / 95th / 99th percentile of the value, and of the speed |w(t + 1/30 s) - w(t)| * 30
(per second; the 60 fps capture is differenced over two frames so that every source is measured at the same
step). ``viseme targets``: the training-style targets (``training.visemes``) of the same LibriVox/ARCTIC
clips. Last columns: face3d's 95th-percentile value over the targets' and, on the FACEGOOD audio, over the
hand animation's: a channel far under 1 in both is a calibration candidate. (The iPhone capture is a
calibration take, mostly smiling with the jaw nearly shut, not speech: beside it for ranges only.) Head: range (5th-95th percentile, degrees) and median / 95th speed (deg/s).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402
from face3d.audio.features import load_audio  # noqa: E402
from face3d.formats.livelink import read_csv  # noqa: E402
from face3d.names import ICT_NAMES  # noqa: E402
from training.visemes import SILENCE, load_phones, normalize_phone, phones_to_weights  # noqa: E402

CHANNELS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile_L", "mouthSmile_R",
            "mouthStretch_L", "mouthStretch_R", "mouthRollLower", "mouthRollUpper", "mouthPress_L",
            "mouthPress_R", "mouthLowerDown_L", "mouthLowerDown_R", "mouthUpperUp_L", "mouthUpperUp_R")
IDX = [ICT_NAMES.index(c) for c in CHANNELS]
FPS = 30
TARGETS: list[dict] = []  # stats of the viseme targets of the last phone-timed ``face3d`` call


def stats(w: np.ndarray, v: np.ndarray) -> dict:
    """w [n, C] values, v [m, C] speeds -> per-channel percentiles."""
    return {"v50": np.percentile(w, 50, 0), "v95": np.percentile(w, 95, 0), "v99": np.percentile(w, 99, 0),
            "s50": np.percentile(v, 50, 0), "s95": np.percentile(v, 95, 0), "s99": np.percentile(v, 99, 0)}


def speed(w: np.ndarray, fps: float) -> np.ndarray:
    """[n, C] at fps -> [m, C] |change over 1/30 s| per second."""
    lag = max(1, int(round(fps / FPS)))
    return np.abs(w[lag:] - w[:-lag]) * fps / lag


def capture() -> tuple[dict, dict]:
    c = read_csv(SHARED / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv")
    fps = (len(c) - 1) / float(c.times[-1] - c.times[0])
    w = c.weights[:, IDX]
    return stats(w, speed(w, fps)), {"fps": fps, "head": c.head}


def hand() -> tuple[dict, list[tuple[Path, np.ndarray]]]:
    """Stats of the hand-animated curves, and (wav, moving-frame mask [T]) per clip."""
    man = json.loads((SHARED / "animation" / "manifest.json").read_text())
    ws, vs, wavs = [], [], []
    for clip in man:
        c = read_csv(SHARED / "animation" / clip["curves"])
        w = c.weights[:, IDX]
        moving = c.weights.max(1) > 0  # the all-zero rows are rest / silence
        v = speed(w, FPS)
        ws.append(w[moving]), vs.append(v[moving[1:] & moving[:-1]])
        wavs.append((SHARED / "animation" / clip["audio"], moving))
    w, v = np.concatenate(ws), np.concatenate(vs)
    carried = [ch for ch in CHANNELS if ch.replace("_L", "Left").replace("_R", "Right").lower()
               in {n.lower() for n in man[0]["arkit_channels_nonzero_in_clip"]}]
    s = stats(w, v)
    s["carried"] = np.array([ch in carried for ch in CHANNELS])
    return s, wavs


def speech_frames(phones: list[dict], n: int) -> np.ndarray:
    t = np.arange(n) / FPS
    inside = np.zeros(n, bool)
    for p in phones:
        if normalize_phone(p["phone"]) not in SILENCE:
            inside |= (t >= p["start"]) & (t <= p["end"])
    return inside


def face3d(model, wavs_phones, raw: bool) -> tuple[dict, np.ndarray]:
    """Stats over speech frames, and the head [n, 3] of all frames (rad)."""
    from face3d.audio.stream import Streamer

    ws, vs, heads, ts, tvs = [], [], [], [], []
    for wav, phones in wavs_phones:
        c = Streamer(model, fps=FPS, alive=False, vad=not raw, head=True).run_curves([load_audio(wav)])
        if not isinstance(phones, np.ndarray):  # the phone-timed clips: their training-style targets too
            tgt = phones_to_weights(phones, FPS, len(c))[:, IDX]
            inside = speech_frames(phones, len(c))
            ts.append(tgt[inside]), tvs.append(speed(tgt, FPS)[inside[1:] & inside[:-1]])
        if isinstance(phones, np.ndarray):  # a frame mask (the hand-animated clips' moving frames)
            keep = np.zeros(len(c), bool)
            keep[: len(phones)] = phones[: len(c)]
        else:
            keep = speech_frames(phones, len(c))
        w = c.weights[:, IDX]
        ws.append(w[keep]), vs.append(speed(w, FPS)[keep[1:] & keep[:-1]]), heads.append(c.head)
    TARGETS[:] = [stats(np.concatenate(ts), np.concatenate(tvs))] if ts else []
    return stats(np.concatenate(ws), np.concatenate(vs)), np.concatenate(heads)


def main(argv: list[str] | None = None) -> None:
    from face3d.audio.stream import WEIGHTS, load_default

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--raw", action="store_true", help="the model's output only (no gate / closure)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model = load_default(args.weights)
    cap, info = capture()
    hnd, wavs = hand()
    clips = []
    for name in ("librivox", "arctic"):
        for pj in sorted((SHARED / "speech" / name).rglob("*.phone.json")):
            clips.append((pj.with_name(pj.name.replace(".phone.json", ".wav")), load_phones(pj)))
    f3, head = face3d(model, clips, args.raw)
    tgt = TARGETS[0]
    f3h, _ = face3d(model, wavs, args.raw)  # over the frames the animator moved (the mask of ``hand``)
    print(f"capture {info['fps']:.1f} fps; face3d on {len(clips)} LibriVox/ARCTIC clips (speech frames) "
          f"and on the {len(wavs)} FACEGOOD wavs (animated frames); {'raw model' if args.raw else 'gate + closure'}")
    print("value p50/p95/p99 and speed p50/p95 (per s); '-': no data in that source")
    hdr = (f"{'channel':17s} {'capture':>22s} {'hand-animated':>22s} {'face3d':>22s} {'face3d hand-audio':>22s} "
           f"{'viseme targets':>22s}")
    print(hdr + f" {'p95 f3/tgt':>10s} {'f3/hand':>8s}")
    for k, ch in enumerate(CHANNELS):
        def cell(s, speedy=False, ok=True):
            if not ok:
                return f"{'-':>22s}"
            return f"{s['v50'][k]:6.3f}{s['v95'][k]:6.3f}{s['v99'][k]:6.3f} {'':3s}" if not speedy else \
                f"{s['s50'][k]:10.2f}{s['s95'][k]:9.2f}{'':3s}"
        r_t = f3["v95"][k] / max(tgt["v95"][k], 1e-3)
        r_h = f"{f3h['v95'][k] / max(hnd['v95'][k], 1e-3):8.2f}" if hnd["carried"][k] else f"{'-':>8s}"
        print(f"{ch:17s} {cell(cap)} {cell(hnd, ok=hnd['carried'][k])} {cell(f3)} {cell(f3h)} {cell(tgt)} "
              f"{r_t:10.2f} {r_h}")
        print(f"{'  speed':17s} {cell(cap, True)} {cell(hnd, True, hnd['carried'][k])} {cell(f3, True)} "
              f"{cell(f3h, True)} {cell(tgt, True)}")
    deg = np.degrees(head)
    dv = np.abs(np.diff(deg, axis=0)) * FPS
    print("head (deg): face3d range p5..p95 pitch/yaw/roll "
          + ", ".join(f"{np.percentile(deg[:, i], 5):+.1f}..{np.percentile(deg[:, i], 95):+.1f}" for i in range(3))
          + "; speed p50/p95 (deg/s) " + ", ".join(f"{np.median(dv[:, i]):.1f}/{np.percentile(dv[:, i], 95):.1f}"
                                                   for i in range(3)))
    h = info["head"]
    print("head (deg): capture " + ("has no head columns" if h is None or not np.abs(h).max() else
                                    f"range {np.ptp(np.degrees(h), 0)}"))


if __name__ == "__main__":
    main()
