"""Train the speech -> face transformer (``face3d.audio.model``) on the corpus built by ``tools/build_corpus.py``.

The shipped ``assets/audio2face.pt`` was made with (2-core CPU shared with other jobs, no GPU; 27 min;
a GPU is used when present), on the corpus of ``tools/build_corpus.py --out /work/data/corpus`` (defaults)::

    nice -n 5 .venv/bin/python tools/train_audio.py --corpus /work/data/corpus --out assets/audio2face.pt \
        --steps 8000 --seed 0

Per corpus item (``manifest.jsonl``): log-mel of the 16 kHz audio (prefixed by ``PAD_SAMPLES`` zeros, as at
inference), and a target per 50 Hz model token at its face time ``(k - delay) / 50`` s: from the phone
timings through ``training.visemes.phones_to_weights`` (all 53 channels supervised), or from the
item's ``targets.npy`` curves, linearly resampled, with its ``mask`` (FACEGOOD: only the channels that
carry data are supervised). Training: random crops of ``--crop`` seconds (running up to a quarter
crop past an item's ends into digital silence, target: the rest pose), a fresh acoustic condition per crop
(``training.augment.MelAugment``, scaled by ``--acoustic``: synthesised room reverberation, microphone /
old-recording colouring, formant warp, backgrounds at 0-30 dB SNR; default 0: off), random gain
(+-12 dB) and one mel-band mask as augmentation; ``--init`` fine-tunes given weights instead; loss: masked
L1 on the weights + L1 on their frame-to-frame velocity + two terms on the mean face's inner-lip gap in
cm (see ``loss_fn``); AdamW with warm-up and cosine decay, fixed seed. Speakers listed by
``--val-speakers`` (default: none, then a seeded 3 % of utterances with their augmented copies) are held
out and their loss is printed. Output is written atomically.

``--bilabial-weight`` / ``--open-weight`` (off) were measured as 2500-step fine-tunes of the shipped weights
(seed 1, ``--acoustic 0.25 --rumble 0.3``), as LibriVox p/b/m closed / jawOpen r / false closed
(``tools/eval_lipsync.py``): shipped 0.886 / 0.804 / 0.112, the same fine-tune without them 0.857 / 0.762 /
0.132, 0.15 + 0.15: 0.857 / 0.729 / 0.147, 0.3 + 0.3: 0.943 / 0.703 / 0.138, 1 + 0: 1.000 / 0.609 / 0.293,
3 + 0: 1.000 / 0.561 / 0.378. Closures are bought with the jaw's correlation and false closures (the
model, dim 96, hedges); none was shipped.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from face3d.audio import model as a2f  # noqa: E402
from face3d.audio.features import load_audio  # noqa: E402
from training.losses import loss_fn, lip_gap_coefficients  # noqa: E402


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeRemainingColumn())


def token_targets(record: dict, root: Path, n_tokens: int, delay: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(targets [n_tokens, 53] float32, mask [53] float32, bilabial [n_tokens] float32) at the tokens' face
    times (k - delay) / 50 s; bilabial is 1 on the tokens the targets close for a p/b/m (0 without phones)."""
    times = (np.arange(n_tokens) - delay) / a2f.TOKEN_HZ
    if record.get("targets"):
        curves = np.load(root / record["targets"]).astype(np.float32)
        src = np.arange(len(curves)) / float(record["fps"])
        out = np.stack([np.interp(times, src, c) for c in curves.T], 1)
        mask = np.asarray(record.get("mask") or [1] * a2f.N_OUT, np.float32)
        return out.astype(np.float32), mask, np.zeros(n_tokens, np.float32)
    from training.visemes import bilabial_frames, load_phones, phones_to_weights

    phones = load_phones(root / record["phones"])
    w = phones_to_weights(phones, a2f.TOKEN_HZ, n_tokens)
    idx = np.clip(np.arange(n_tokens) - delay, 0, n_tokens - 1)
    bil = bilabial_frames(phones, a2f.TOKEN_HZ, n_tokens)[idx] & (np.arange(n_tokens) >= delay)
    return np.asarray(w, np.float32)[idx], np.ones(a2f.N_OUT, np.float32), bil.astype(np.float32)


def load_corpus(root: Path, cfg: a2f.Config, limit: int | None) -> list[dict]:
    """Every manifest item as {name, speaker, mel [M, n_mels] float16, targets [M, 53], mask [53],
    bilabial [M]}."""
    records = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]
    records = records[:limit] if limit else records
    mel_fn = a2f.Audio2Face(cfg).features
    items = []
    with _progress() as bar:
        task = bar.add_task("features", total=len(records), info="")
        for r in records:
            audio = load_audio(root / r["wav"])
            mel = mel_fn(np.concatenate([np.zeros(a2f.PAD_SAMPLES, np.float32), audio]))
            n_tok = len(mel)
            if n_tok < 8:
                bar.advance(task)
                continue
            targets, mask, bil = token_targets(r, root, n_tok, cfg.delay)
            group = (r.get("aug") or {}).get("base") or r["name"]  # an item and its augmented copies
            items.append(dict(name=r["name"], group=group, speaker=r.get("speaker") or "",
                              mel=mel.astype(np.float16), targets=targets, mask=mask, bilabial=bil,
                              power=float(np.mean(audio.astype(np.float64) ** 2))))
            bar.update(task, advance=1, info=r["name"])
    return items


class Batches:
    """Random crops: mel [B, C, n_mels], targets [B, C, 53], weight [B, C, 53] (the item's channel mask),
    power [B] (the item's mean waveform power, for the SNR of added backgrounds), span [B, 2] (the crop
    frames the item covers: the rest is digital silence), bilabial [B, C] (1 on p/b/m tokens)."""

    def __init__(self, items: list[dict], crop_tokens: int, batch: int, silence: float, seed: int):
        self.items, self.crop, self.batch, self.silence = items, crop_tokens, batch, silence
        lengths = np.array([len(it["targets"]) for it in items], np.float64)
        self.p = lengths / lengths.sum()  # sample items by length: every second of audio is equally likely
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c, n_mels = self.crop, self.items[0]["mel"].shape[1]
        mel = np.full((self.batch, c, n_mels), self.silence, np.float32)
        tgt = np.zeros((self.batch, c, a2f.N_OUT), np.float32)
        wgt = np.zeros((self.batch, c, a2f.N_OUT), np.float32)
        power = np.zeros(self.batch, np.float32)
        bil = np.zeros((self.batch, c), np.float32)
        span = np.zeros((self.batch, 2), np.int64)
        margin = c // 4
        for b, i in enumerate(self.rng.choice(len(self.items), self.batch, p=self.p)):
            it = self.items[i]
            n = len(it["targets"])
            # crops may run up to c/4 past either end: digital silence there, with the rest pose as target
            s = int(self.rng.integers(-margin, max(1 - margin, n - c + margin + 1)))
            lo, hi = max(s, 0), min(s + c, n)
            mel[b, lo - s: hi - s] = it["mel"][lo:hi]
            tgt[b, lo - s: hi - s] = it["targets"][lo:hi]
            wgt[b] = it["mask"]
            bil[b, lo - s: hi - s] = it["bilabial"][lo:hi]
            power[b] = it["power"]
            span[b] = lo - s, hi - s
        return (torch.from_numpy(mel), torch.from_numpy(tgt), torch.from_numpy(wgt), torch.from_numpy(power),
                torch.from_numpy(span), torch.from_numpy(bil))


def augment(mel: torch.Tensor, floor: float, gen: torch.Generator) -> torch.Tensor:
    """Random gain (+-12 dB, exact on the floored log power) and one masked band of <= 8 mel bins."""
    b, _, n_mels = mel.shape
    gain = 10 ** (torch.empty(b, 1, 1).uniform_(-1.2, 1.2, generator=gen))  # power ratio
    mel = torch.log((mel.exp() - floor).clamp_min(0) * gain + floor)
    width = torch.randint(0, 9, (b,), generator=gen)
    start = (torch.rand(b, generator=gen) * (n_mels - width)).long()
    bins = torch.arange(n_mels)
    band = (bins >= start[:, None]) & (bins < (start + width)[:, None])  # [B, n_mels]
    return torch.where(band[:, None, :], mel.mean(dim=(1, 2), keepdim=True), mel)


@torch.no_grad()
def evaluate(model: a2f.Audio2Face, items: list[dict], device: str) -> float:
    """Mean masked L1 over whole held-out items."""
    model.eval()
    total = count = 0.0
    for it in items:
        pred = model(torch.from_numpy(it["mel"].astype(np.float32))[None].to(device))[0].cpu()
        w = torch.from_numpy(it["mask"]).expand_as(pred)
        total += float((w * (pred - torch.from_numpy(it["targets"])).abs()).sum())
        count += float(w.sum())
    model.train()
    return total / max(count, 1.0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder with manifest.jsonl")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "audio2face.pt")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=float, default=3.2, help="seconds per training crop")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--vel-weight", type=float, default=1.0)
    ap.add_argument("--gap-weight", type=float, default=0.2, help="weight of the lip-gap L1 (cm)")
    ap.add_argument("--close-weight", type=float, default=0.3, help="weight of the closed-lips hinge (cm)")
    ap.add_argument("--bilabial-weight", type=float, default=0.0, help="weight of the closed-lips hinge (cm) "
                    "on the p/b/m tokens alone (the general hinge is mostly silence); 0: off")
    ap.add_argument("--open-weight", type=float, default=0.0, help="weight of a hinge (cm) keeping the lip gap "
                    "open to training.losses.OPEN_CM where the target's is (against false closures); 0: off")
    ap.add_argument("--val-speakers", default="", help="comma-separated speakers to hold out")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N manifest items (smoke tests)")
    ap.add_argument("--acoustic", type=float, default=0.0, help="scale of the train-time acoustic augmentation's "
                    "probabilities (training.augment: reverb, colouring, formant warp, backgrounds); 0: off")
    ap.add_argument("--warp", type=float, default=0.3, help="probability of the formant warp (times --acoustic)")
    ap.add_argument("--rumble", type=float, default=0.0, help="probability of low-frequency rumble or mains hum "
                    "(training.augment.rumble, -6..20 dB below the speech) per crop, with --acoustic; 0: off")
    ap.add_argument("--init", type=Path, default=None, help="start from these weights (and their mel "
                    "normalisation) instead of from scratch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # on the shared 2-core machine one thread is 3-5x faster than two fighting
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = a2f.Config()
    t0 = time.time()
    items = load_corpus(args.corpus, cfg, args.limit)
    rng = np.random.default_rng(args.seed)
    held = set(filter(None, args.val_speakers.split(",")))
    groups = sorted({it["group"] for it in items})
    val_groups = set(np.array(groups)[rng.random(len(groups)) < 0.03])
    is_val = [(it["speaker"] in held) if held else it["group"] in val_groups for it in items]
    train = [it for it, v in zip(items, is_val) if not v]
    val = [it for it, v in zip(items, is_val) if v]
    print(f"{len(train)} training / {len(val)} held-out items, "
          f"{sum(len(it['targets']) for it in train) / a2f.TOKEN_HZ / 3600:.2f} h of training audio")

    if args.init:
        model = a2f.load(args.init)
        assert model.cfg == cfg, f"{args.init}: another architecture"
    else:
        model = a2f.Audio2Face(cfg)
        sample = np.concatenate([it["mel"][:: 7].astype(np.float32) for it in train])
        model.mel_mean.copy_(torch.from_numpy(sample.mean(0)))
        model.mel_std.copy_(torch.from_numpy(sample.std(0) + 1e-3))
    model.to(device).train()
    acoustic = None
    if args.acoustic > 0:
        from training.augment import MelAugment

        q = args.acoustic
        acoustic = MelAugment(model.features, train, args.seed, p_reverb=0.4 * q, p_eq=0.4 * q, p_warp=args.warp * q,
                              p_noise=0.5 * q, p_rumble=args.rumble)
    floor = model.features.floor
    batches = Batches(train, int(args.crop * a2f.TOKEN_HZ), args.batch, math.log(floor), args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    gap0, d = lip_gap_coefficients()
    gap = (gap0, torch.from_numpy(d).to(device))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, min(300, args.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    ema = None
    with _progress() as bar:
        task = bar.add_task("training", total=args.steps, info="")
        for step in range(args.steps):
            mel, tgt, wgt, power, span, bil = batches()
            if acoustic is not None:
                mel = acoustic(mel, power, span)
            mel = augment(mel, floor, gen)
            loss = loss_fn(model(mel.to(device)), tgt.to(device), wgt.to(device), args, gap, bil.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            bar.update(task, advance=1, info=f"loss {ema:.4f}")
            if (step + 1) % 250 == 0 and not bar.console.is_terminal:  # logs get a line now and then
                print(f"step {step + 1} loss {ema:.4f} {(time.time() - t0) / 60:.1f} min", flush=True)
    val_l1 = evaluate(model, val, device) if val else float("nan")
    train_l1 = evaluate(model, train[:: max(1, len(train) // 50)], device)
    minutes = (time.time() - t0) / 60
    print(f"held-out L1 {val_l1:.4f}, training-sample L1 {train_l1:.4f}, {minutes:.1f} min on {device}")
    extra = dict(corpus=str(args.corpus), items=len(train), steps=args.steps, batch=args.batch, crop=args.crop,
                 seed=args.seed, val_l1=val_l1, train_l1=train_l1, minutes=round(minutes, 1),
                 command="tools/train_audio.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    a2f.save(model.cpu().eval(), args.out, extra)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
