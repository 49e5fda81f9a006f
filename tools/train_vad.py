"""Train the voice-activity gate (``face3d.audio.vad``, ``assets/vad.npz``) on the training speech corpus.

    nice -n 10 .venv/bin/python tools/train_vad.py [--per-speaker 200] [--steps 3000] [--seed 0]

Speech: CMU ARCTIC training utterances (``shared/speech/corpus/arctic``, never the evaluation folders).
Labels: silero-vad (MIT; ``pip install --no-deps silero-vad``, its TorchScript model runs on the installed
torch) on the clean utterance: a teacher only, it is not needed at run time. Each item is the utterance
with 0.3-2 s of non-speech before and after, over a bed drawn from digital silence, white/pink/brown noise,
crowd applause, a music bed (chord pads, or random-timbre melodies) or breaths and clicks (``training.mixes``, training seeds and instruments) at
0-30 dB SNR and a random gain; a bed-only item joins 25 % of them. Frames outside the utterance are labelled 0.
Loss: binary cross-entropy per 20 ms frame; Adam; fixed seed. Output is written atomically.
"""
from __future__ import annotations

import argparse
import importlib.resources
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402
from face3d.audio import vad  # noqa: E402
from face3d.audio.features import SAMPLE_RATE, LogMel, load_audio  # noqa: E402
from face3d.audio.model import PAD_SAMPLES, TOKEN_HZ  # noqa: E402
from training import mixes  # noqa: E402

DELAY = 3  # the speech model's output delay in tokens (face time of token k = (k - DELAY) / 50 s)
KINDS = ("silence", "white", "pink", "brown", "applause", "music", "melody", "melody", "breath")


def teacher():
    try:
        path = importlib.resources.files("silero_vad") / "data" / "silero_vad.jit"
    except ModuleNotFoundError:
        sys.exit("train_vad: silero-vad is not installed (pip install --no-deps silero-vad)")
    return torch.jit.load(str(path)).eval()


@torch.inference_mode()
def silero_probs(model, audio: np.ndarray) -> np.ndarray:
    """Speech probability per 32 ms chunk."""
    model.reset_states()
    x = torch.from_numpy(audio)
    return np.array([float(model(x[i: i + 512], SAMPLE_RATE)) for i in range(0, len(x) - 511, 512)], np.float32)


def make_item(speech: np.ndarray, probs: np.ndarray | None, rng: np.random.Generator, mel: LogMel):
    """(features [M, CONTEXT * N_FEAT], labels [M]) for one mixed item."""
    pre, post = (int(rng.uniform(0.3, 2.0) * SAMPLE_RATE) for _ in range(2))
    clean = np.concatenate([np.zeros(pre, np.float32), speech, np.zeros(post, np.float32)])
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "silence":
        audio = clean + rng.normal(0, 10 ** rng.uniform(-5, -3.5), len(clean)).astype(np.float32)
    else:
        noise = mixes.bed(kind, len(clean), rng, "train")
        ref = speech if len(speech) else np.full(100, 0.05, np.float32)
        snr = rng.uniform(0, 30)
        g = np.sqrt(np.mean(ref ** 2)) / np.sqrt(np.mean(noise ** 2) + 1e-12) / 10 ** (snr / 20)
        audio = clean + g * noise
    audio = audio * 10 ** (rng.uniform(-25, 0) / 20) / max(np.abs(audio).max(), 1e-4) * 0.9
    m = mel(np.concatenate([np.zeros(PAD_SAMPLES, np.float32), audio.astype(np.float32)]))
    state = vad.VADState()
    x = vad.windows(vad.features(m, state), state)
    face_t = (np.arange(len(m)) - DELAY) / TOKEN_HZ - pre / SAMPLE_RATE  # time in the utterance
    y = np.zeros(len(m), np.float32)
    if probs is not None:
        j = np.floor(face_t * SAMPLE_RATE / 512).astype(int)
        ok = (j >= 0) & (j < len(probs))
        y[ok] = probs[j[ok]]
    return x, y


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-speaker", type=int, default=200)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=vad.WEIGHTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    corpus = SHARED / "speech" / "corpus" / "arctic"
    files = []
    for spk in ("bdl", "slt"):
        fs = sorted((corpus / spk).glob("*.flac"))
        files += [fs[i] for i in rng.choice(len(fs), min(args.per_speaker, len(fs)), replace=False)]
    if not files:
        sys.exit(f"train_vad: no training speech under {corpus}")
    t_model, mel = teacher(), LogMel()
    xs, ys = [], []
    for i, f in enumerate(files):
        speech = load_audio(f)
        if rng.random() < 0.25:
            x, y = make_item(np.zeros(0, np.float32), None, rng, mel)
            xs.append(x), ys.append(y)
        x, y = make_item(speech, silero_probs(t_model, speech), rng, mel)
        xs.append(x), ys.append(y)
        if i % 50 == 0:
            print(f"items {i}/{len(files)}", flush=True)
    x, y = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
    print(f"{len(x)} frames, {float(y.mean()):.2f} speech")
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 1))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    gen = torch.Generator().manual_seed(args.seed)
    for step in range(args.steps):
        idx = torch.randint(0, len(x), (4096,), generator=gen)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx])[:, 0], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step} bce {float(loss):.4f}", flush=True)
    with torch.no_grad():
        acc = float(((net(x)[:, 0] > 0) == (y > 0.5)).float().mean())
    print(f"frame accuracy on the training mixes {acc:.3f}")
    tmp = args.out.with_name(args.out.name + ".tmp")
    with open(tmp, "wb") as fh:  # written whole, then renamed: never a half-written asset
        np.savez(fh, w1=net[0].weight.detach().numpy().T, b1=net[0].bias.detach().numpy(),
                 w2=net[2].weight.detach().numpy().T, b2=net[2].bias.detach().numpy(),
                 meta=np.array(f"train_vad.py per_speaker={args.per_speaker} steps={args.steps} seed={args.seed}"))
    os.replace(tmp, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
