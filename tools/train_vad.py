"""Train the voice-activity gate (``face3d.audio.vad``, ``assets/vad.npz``) on the training speech corpus.

    nice -n 10 .venv/bin/python tools/train_vad.py [--per-speaker 300] [--steps 6000] [--hidden 64] [--seed 0]

Speech: CMU ARCTIC training utterances (``shared/speech/corpus/arctic``, never the evaluation folders).
Labels: silero-vad (MIT; ``pip install --no-deps silero-vad``, its TorchScript model runs on the installed
torch) on the clean utterance: a teacher only, it is not needed at run time. Each item is the utterance
with 0.3-2 s of non-speech before and after, over a bed drawn from digital silence, white/pink/brown
noise, crowd applause, a music bed (chord pads, or random-timbre melodies), breaths and clicks
(``training.mixes``, training seeds and instruments), a crowd's murmur (8-16 other training utterances
at about one level, overlapped, distant: low-passed and mostly reverberant; fewer voices would teach
that one distant voice is not speech) or murmur under applause, at 0-30 dB SNR, half of the beds with a
level that fades in and wanders, and a random gain; a bed-only item joins 25 % of them. 40 % of the
voices are reverberant (a synthetic room, RT60 0.2-1.5 s, whose tail rings on into the pause after the
words and is labelled non-speech) and 30 % of the mixes are band-limited (an old or telephone
recording). Frames outside the utterance are labelled 0.
Loss: binary cross-entropy per 20 ms frame; Adam; fixed seed. Output is written atomically. At the end
the net is scored on ``--val`` held-out training-corpus utterances (not the evaluation folders) in fresh
mixes: the figures the settings were chosen by.
"""
from __future__ import annotations

import argparse
import importlib.resources
import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.signal import butter, fftconvolve, sosfilt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402
from face3d.audio import vad  # noqa: E402
from face3d.audio.features import SAMPLE_RATE, LogMel, load_audio  # noqa: E402
from face3d.audio.model import PAD_SAMPLES, TOKEN_HZ  # noqa: E402
from training import mixes  # noqa: E402

DELAY = 3  # the speech model's output delay in tokens (face time of token k = (k - DELAY) / 50 s)
KINDS = ("silence", "white", "pink", "brown", "applause", "music", "melody", "melody", "breath",
         "babble", "babble", "crowd", "crowd")
BABBLE_POOL = 120  # training utterances the babble voices are drawn from
BABBLE_VOICES = (8, 17)


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x in a synthetic room: direct sound + exponentially decaying noise tail (RT60 0.2-1.5 s), same length."""
    rt60 = float(rng.uniform(0.2, 1.5))
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    ir = rng.normal(0, 1, len(t)) * np.exp(-6.9 * t / rt60)
    ir *= 10 ** (rng.uniform(-6, 6) / 20) / np.sqrt(np.sum(ir ** 2))  # direct-to-reverberant -6..6 dB
    ir[0] += 1.0
    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


def band_limit(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sos = butter(2, [rng.uniform(80, 400), rng.uniform(3000, 7000)], "band", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def babble(n: int, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    """A crowd's murmur: BABBLE_VOICES distant voices at about one level talking over each other (no one
    voice stands out: a single distant voice is still speech to the mouth), unit RMS."""
    out = np.zeros(n, np.float64)
    for _ in range(int(rng.integers(*BABBLE_VOICES))):
        pos = -int(rng.uniform(0, 2) * SAMPLE_RATE)
        g = 10 ** (rng.uniform(-3, 3) / 20)
        while pos < n:
            u = pool[int(rng.integers(len(pool)))]
            a, b = max(0, pos), min(n, pos + len(u))
            if b > a:
                out[a:b] += g * u[a - pos: b - pos]
            pos += len(u) + int(rng.uniform(0, 0.5) * SAMPLE_RATE)
    out = reverb(out, rng) if rng.random() < 0.7 else out
    sos = butter(2, rng.uniform(1500, 5000), "low", fs=SAMPLE_RATE, output="sos")  # far away: dull
    out = sosfilt(sos, out)
    return (out / (out.std() + 1e-9)).astype(np.float32)


def level_envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """A bed's gain over time: steady (half the items), or fading in from near silence and wandering by up to
    +-8 dB (a crowd that swells, a recording that starts quiet) -- the floor tracker must follow it."""
    if rng.random() < 0.5:
        return np.ones(n, np.float32)
    knots = np.arange(0, n + SAMPLE_RATE, int(rng.uniform(0.5, 2.5) * SAMPLE_RATE))
    db = rng.uniform(-8, 8, len(knots))
    if rng.random() < 0.5:
        db[0] = -40.0  # a quiet lead-in
    return (10 ** (np.interp(np.arange(n), knots, db) / 20)).astype(np.float32)


def make_bed(kind: str, n: int, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    if kind == "babble":
        return babble(n, rng, pool)
    if kind == "crowd":
        x = babble(n, rng, pool) + 10 ** (rng.uniform(-10, 5) / 20) * mixes.bed("applause", n, rng, "train")
        return (x / (x.std() + 1e-9)).astype(np.float32)
    return mixes.bed(kind, n, rng, "train")


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


def make_item(speech: np.ndarray, probs: np.ndarray | None, rng: np.random.Generator, mel: LogMel,
              pool: list[np.ndarray]):
    """(features [M, CONTEXT * N_FEAT], labels [M]) for one mixed item."""
    pre, post = (int(rng.uniform(0.3, 2.0) * SAMPLE_RATE) for _ in range(2))
    clean = np.concatenate([np.zeros(pre, np.float32), speech, np.zeros(post, np.float32)])
    if len(speech) and rng.random() < 0.4:
        clean = reverb(clean, rng)
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "silence":
        audio = clean + rng.normal(0, 10 ** rng.uniform(-5, -3.5), len(clean)).astype(np.float32)
    else:
        noise = make_bed(kind, len(clean), rng, pool)
        ref = speech if len(speech) else np.full(100, 0.05, np.float32)
        snr = rng.uniform(0, 30)
        g = np.sqrt(np.mean(ref ** 2)) / np.sqrt(np.mean(noise ** 2) + 1e-12) / 10 ** (snr / 20)
        audio = clean + g * level_envelope(len(clean), rng) * noise
    if rng.random() < 0.3:
        audio = band_limit(audio, rng)
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


@torch.no_grad()
def validate(net, held: list[Path], n: int, t_model, mel: LogMel, pool: list[np.ndarray], seed: int) -> None:
    """Speech recall (p > 0.3 where the teacher says > 0.5: the gate's full-open point) and rejection
    (p < 0.1 where the teacher says < 0.1: the gate's shut point) on mixes of utterances the net never saw."""
    rng = np.random.default_rng(seed + 1000)
    ys, ps = [], []
    for i in rng.choice(len(held), min(n, len(held)), replace=False):
        speech = load_audio(held[i])
        x, y = make_item(speech, silero_probs(t_model, speech), rng, mel, pool)
        ys.append(y), ps.append(torch.sigmoid(net(torch.from_numpy(x))[:, 0]).numpy())
    y, p = np.concatenate(ys), np.concatenate(ps)
    print(f"held-out ({min(n, len(held))} utterances): speech recall {np.mean(p[y > 0.5] > 0.3):.3f}, "
          f"non-speech rejection {np.mean(p[y < 0.1] < 0.1):.3f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-speaker", type=int, default=300)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--val", type=int, default=40, help="held-out training-corpus utterances to report on")
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
    every = sorted(corpus.glob("*/*.flac"))
    pool = [load_audio(every[i]) for i in rng.choice(len(every), min(BABBLE_POOL, len(every)), replace=False)]
    t_model, mel = teacher(), LogMel()
    xs, ys = [], []
    for i, f in enumerate(files):
        speech = load_audio(f)
        if rng.random() < 0.25:
            x, y = make_item(np.zeros(0, np.float32), None, rng, mel, pool)
            xs.append(x), ys.append(y)
        x, y = make_item(speech, silero_probs(t_model, speech), rng, mel, pool)
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
            print(f"step {step} bce {loss.item():.4f}", flush=True)
    with torch.no_grad():
        acc = float(((net(x)[:, 0] > 0) == (y > 0.5)).float().mean())
    print(f"frame accuracy on the training mixes {acc:.3f}")
    if args.val:
        validate(net, sorted(set(every) - set(files)), args.val, t_model, mel, pool, args.seed)
    tmp = args.out.with_name(args.out.name + ".tmp")
    with open(tmp, "wb") as fh:  # written whole, then renamed: never a half-written asset
        np.savez(fh, w1=net[0].weight.detach().numpy().T, b1=net[0].bias.detach().numpy(),
                 w2=net[2].weight.detach().numpy().T, b2=net[2].bias.detach().numpy(),
                 meta=np.array(f"train_vad.py per_speaker={args.per_speaker} steps={args.steps} "
                                f"hidden={args.hidden} seed={args.seed} context={vad.CONTEXT}"))
    os.replace(tmp, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
