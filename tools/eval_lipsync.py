"""Lip-sync quality of the shipped speech model on real speech with true phone timings.

    .venv/bin/python tools/eval_lipsync.py [--weights assets/audio2face.pt] [--fps 30]

Sets: ``../shared/speech/librivox`` (7 real read-speech clips) and ``../shared/speech/arctic`` (40 CMU
ARCTIC utterances, 2 speakers); neither is used in training. Predictions are the streaming path at
``--fps`` with the voice-activity gate and bilabial closure (``--raw``: the model's output alone), no
procedural eyes/brows, head or emotion (they do not touch the lips). ``--variants`` adds the clips over
crowd applause and a music bed at 20, 10 and 5 dB SNR (``training.mixes``, evaluation seeds).

Metrics (per set, pooled over clips):
- ``pbm closed``: share of p/b/m phones during which the lips close. "Closed" is measured on the mesh:
  the inner-lip gap of the mean ICT face (the mean vertical distance of the three inner-lip landmark
  pairs 62/68, 63/67, 64/66 of the Multi-PIE 68, in cm) is below ``CLOSED_CM`` = 0.2 cm. The neutral face
  has 0.08 cm; the gap is linear in the weights (``lip_gap_coefficients``). A phone counts as closed when
  any frame whose time lies in [start, end] is closed (the frame nearest its centre if none does).
- ``jawOpen r``: Pearson correlation of the predicted jawOpen with ``visemes.phones_to_weights`` of the
  true alignment, per clip, then averaged over clips (and pooled over all frames).
- ``silence closed``: share of silence frames (phone ``sil``, further than 150 ms from any speech phone,
  so the coarticulated run-in/run-out is excluded) with the lips closed; ``silence jaw`` their mean jawOpen.
- ``false closed``: share of speech frames with the lips closed where they should not be: frames inside a
  phone that is neither silence, p/b/m nor f/v (whose lip-to-teeth target is "closed" by the gap measure
  too), further than ``FALSE_MARGIN_S`` = 50 ms from any p/b/m (the closing and opening around one).
  What a looser closure rule pays for the p/b/m it wins.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402
from face3d.audio.features import load_audio  # noqa: E402
from training import mixes  # noqa: E402
from training.losses import CLOSED_CM, lip_gap_coefficients  # noqa: E402
from training.visemes import SILENCE, load_phones, normalize_phone, phones_to_weights  # noqa: E402
from face3d.names import ICT_NAMES  # noqa: E402

SILENCE_MARGIN_S = 0.15
FALSE_MARGIN_S = 0.05
JAW = ICT_NAMES.index("jawOpen")


def clip_metrics(weights: np.ndarray, phones: list[dict], fps: float, gap: tuple[float, np.ndarray]) -> dict:
    """Counts for one clip: weights [T, 53] at ``fps``; phones the true alignment."""
    t = np.arange(len(weights)) / fps
    closed = gap[0] + weights @ gap[1] < CLOSED_CM
    target = phones_to_weights(phones, fps, len(weights))[:, JAW]
    pbm = [p for p in phones if normalize_phone(p["phone"]) in ("p", "b", "m")]
    hits = 0
    for p in pbm:
        inside = (t >= p["start"]) & (t <= p["end"])
        idx = np.flatnonzero(inside) if inside.any() else [int(np.argmin(abs(t - (p["start"] + p["end"]) / 2)))]
        hits += bool(closed[idx].any())
    speech = [p for p in phones if normalize_phone(p["phone"]) not in SILENCE]
    far = np.ones(len(t), bool)
    for p in speech:
        far &= (t < p["start"] - SILENCE_MARGIN_S) | (t > p["end"] + SILENCE_MARGIN_S)
    sil = far & (t <= phones[-1]["end"])
    other = np.zeros(len(t), bool)
    for p in speech:
        if normalize_phone(p["phone"]) not in ("p", "b", "m", "f", "v"):
            other |= (t >= p["start"]) & (t < p["end"])
    for p in pbm:
        other &= (t < p["start"] - FALSE_MARGIN_S) | (t > p["end"] + FALSE_MARGIN_S)
    return dict(pbm=len(pbm), pbm_closed=hits, r=float(np.corrcoef(weights[:, JAW], target)[0, 1]),
                jaw=weights[:, JAW], target=target, sil=int(sil.sum()), sil_closed=int(closed[sil].sum()),
                sil_jaw=float(weights[sil, JAW].sum()), other=int(other.sum()),
                false_closed=int(closed[other].sum()))


def variant(audio: np.ndarray, name: str, seed: int) -> np.ndarray:
    """``clean``, or ``crowd@SNR`` / ``music@SNR``: the clip over an evaluation bed (evaluation seeds and
    instrument, ``training.mixes``) at SNR dB, the bed running through the clip's silences too."""
    if name == "clean":
        return audio
    kind, snr = name.split("@")
    rng = np.random.default_rng(10_000 + seed)
    bed = mixes.bed("applause" if kind == "crowd" else kind, len(audio), rng, "eval")
    return mixes.mix(audio, bed, float(snr))


def evaluate(folder: Path, model, fps: int, gap, name: str = "clean", post: bool = True) -> dict:
    """Pooled metrics over every ``*.phone.json`` + ``.wav`` pair under ``folder``."""
    from face3d.audio.stream import Streamer

    per = []
    for i, pj in enumerate(sorted(folder.rglob("*.phone.json"))):
        audio = variant(load_audio(pj.with_name(pj.name.replace(".phone.json", ".wav"))), name, i)
        w = Streamer(model, fps=fps, alive=False, head=False, vad=post).run([audio])
        per.append(clip_metrics(w, load_phones(pj), fps, gap))
    if not per:
        sys.exit(f"eval_lipsync: no *.phone.json clips under {folder} (set FACE3D_SHARED)")
    jaw, tgt = np.concatenate([m["jaw"] for m in per]), np.concatenate([m["target"] for m in per])
    n_sil = sum(m["sil"] for m in per)
    return dict(clips=len(per), pbm=sum(m["pbm"] for m in per),
                pbm_closed=sum(m["pbm_closed"] for m in per) / max(1, sum(m["pbm"] for m in per)),
                r_mean=float(np.mean([m["r"] for m in per])), r_pooled=float(np.corrcoef(jaw, tgt)[0, 1]),
                sil_closed=sum(m["sil_closed"] for m in per) / max(1, n_sil),
                sil_jaw=sum(m["sil_jaw"] for m in per) / max(1, n_sil), sil_frames=n_sil,
                false_closed=sum(m["false_closed"] for m in per) / max(1, sum(m["other"] for m in per)),
                false_frames=sum(m["false_closed"] for m in per))


def main(argv: list[str] | None = None) -> None:
    from face3d.audio.stream import WEIGHTS, load_default

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--fps", type=int, choices=(30, 60), default=30)
    ap.add_argument("--raw", action="store_true", help="the model's output only (no voice-activity gate, "
                    "no bilabial closure): the figures before face3d.audio.perform")
    ap.add_argument("--variants", default="clean,crowd@20,crowd@10,crowd@5,music@20,music@10,music@5",
                    help="comma-separated: clean, crowd@SNR, music@SNR (dB)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model = load_default(args.weights)
    gap = lip_gap_coefficients()
    print(f"weights {args.weights}, {args.fps} fps, {'raw model' if args.raw else 'model + VAD gate + closure'}; "
          f"lips closed = inner-lip gap < {CLOSED_CM} cm")
    print(f"{'set':20s} {'clips':>5s} {'p/b/m':>6s} {'pbm closed':>10s} {'jawOpen r':>9s} {'r pooled':>8s} "
          f"{'sil frames':>10s} {'sil closed':>10s} {'sil jaw':>7s} {'false closed':>12s}", flush=True)
    for var in args.variants.split(","):
        for name in ("librivox", "arctic"):
            m = evaluate(SHARED / "speech" / name, model, args.fps, gap, var, not args.raw)
            label = name if var == "clean" else f"{name} {var}dB"
            print(f"{label:20s} {m['clips']:5d} {m['pbm']:6d} {m['pbm_closed']:10.3f} {m['r_mean']:9.3f} "
                  f"{m['r_pooled']:8.3f} {m['sil_frames']:10d} {m['sil_closed']:10.3f} {m['sil_jaw']:7.3f} "
                  f"{m['false_closed']:6.3f} ({m['false_frames']:3d})", flush=True)
    print("targets: pbm closed >= 0.95, jawOpen r >= 0.8, silence closed >= 0.9")


if __name__ == "__main__":
    main()
