"""Build the speech -> blendshape training corpus (outside the repository).

    python tools/build_corpus.py --out /work/data/corpus [--sources arctic,espeak,festival,facegood]
        [--espeak 1200] [--festival 600] [--augment 1] [--jobs 2] [--seed 0]

Needs the Debian packages espeak-ng, festival, festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts
and sox. Reads ``../shared`` (or $FACE3D_SHARED); never its evaluation folders (speech/arctic,
speech/librivox, speech/other).

Sources (one item = one utterance or clip):
  arctic    real CMU ARCTIC bdl+slt training utterances (speech/corpus/arctic), force-aligned with
            pocketsphinx against their prompts
  espeak    espeak-ng English voices x variants (+m1..+f5, croak, whisper, ...) at random speed, pitch and
            word gap, reading ARCTIC prompts and random word sequences; force-aligned with pocketsphinx
  festival  festival voices kal_diphone, ked_diphone, cmu_us_slt_arctic_hts with random duration
            stretch; phone timings are festival's own segment relation (no alignment needed)
  facegood  FACEGOOD hand-animated ARKit curves (animation/*.arkit.csv, Mandarin TTS audio) cut into
            ~10 s items; targets = ICT weights [T, 53] at 30 fps plus a mask of the 20 channels with data
Augmentation: ``--augment K`` writes K extra copies of every item, each through a random chain of tempo
(0.85-1.15, phone times and targets rescaled), pitch shift (+-300 cents), reverberation (synthetic
exponentially decaying noise impulse response), additive white/pink/brown noise at 10-30 dB SNR, a round
trip through 8/11.025/22.05/44.1/48 kHz, and gain.

Output in OUT: ``items/NAME.wav`` (16 kHz mono PCM16), ``items/NAME.phone.json`` and/or
``items/NAME.targets.npy``, ``items/NAME.item.json`` (the item's record, written last: an item is done
when it exists, so a rerun only builds what is missing), and ``manifest.jsonl`` with one record a line:
name, wav, phones, targets (paths relative to OUT, or null), mask (53 ints or null), fps (of targets,
or null), source, speaker, aug (dict of applied effects or null), duration (s), text.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402
from training.align import align, clean_phones, pronunciations, text_words  # noqa: E402
from face3d.formats.atomic import atomic_file  # noqa: E402
from face3d.names import ARKIT_NAMES, arkit_to_ict, arkit_to_ict_matrix  # noqa: E402

SR = 16000
FPS = 30
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                 "en-029", "en-us-nyc")
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "croak",
                   "whisper", "klatt", "klatt2", "klatt3", "Alex", "Annie", "Andy", "belinda", "boris",
                   "david", "edward", "iven", "john", "linda", "max", "michel", "norbert", "paul", "Storm")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
# ARKit channels that carry data in the FACEGOOD curves (shared/animation/README.md).
FACEGOOD_CHANNELS = ("jawOpen", "jawLeft", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
                     "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
                     "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
                     "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
                     "mouthUpperUpLeft", "mouthUpperUpRight")
CLIP_S = 10.0


# ---------------------------------------------------------------- item writing

def _done(out: Path, name: str) -> bool:
    return (out / "items" / f"{name}.item.json").exists()


def write_item(out: Path, name: str, audio: np.ndarray, phones: list[dict] | None = None,
               targets: np.ndarray | None = None, mask: list[int] | None = None, **record) -> None:
    """Write one item's files atomically, the record last (it marks the item done)."""
    items = out / "items"
    with atomic_file(items / f"{name}.wav") as tmp:
        sf.write(tmp, np.clip(audio, -1, 1), SR, subtype="PCM_16")
    if phones is not None:
        with atomic_file(items / f"{name}.phone.json") as tmp:
            tmp.write_text(json.dumps(phones))
    if targets is not None:
        with atomic_file(items / f"{name}.targets.npy") as tmp:
            np.save(tmp, targets.astype(np.float32))
    rec = {"name": name, "wav": f"items/{name}.wav",
           "phones": f"items/{name}.phone.json" if phones is not None else None,
           "targets": f"items/{name}.targets.npy" if targets is not None else None,
           "mask": mask, "fps": FPS if targets is not None else None,
           "duration": round(len(audio) / SR, 4), "aug": None, "text": None, **record}
    with atomic_file(items / f"{name}.item.json") as tmp:
        tmp.write_text(json.dumps(rec))


def to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Mono float audio at ``sr`` -> 16 kHz."""
    if audio.ndim > 1:
        audio = audio.mean(1)
    if sr != SR:
        g = np.gcd(sr, SR)
        audio = resample_poly(audio, SR // g, sr // g)
    return audio.astype(np.float32)


# ---------------------------------------------------------------- texts

def load_prompts() -> dict[str, str]:
    """ARCTIC training prompts: utterance id -> text."""
    text = (SHARED / "speech/corpus/arctic/prompts.data").read_text()
    return dict(re.findall(r'\(\s*(\S+)\s+"(.*)"\s*\)', text))


def make_texts(n: int, prompts: list[str], seed: int) -> list[str]:
    """``n`` texts: half ARCTIC prompts, half random sequences of prompt words (all in the aligner's
    dictionary) with occasional commas, for phone combinations and pauses that prompts lack."""
    known = [p for p in prompts if all(pronunciations(w) is not None for w in text_words(p))]
    vocab = sorted({w for p in known for w in text_words(p)})
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(n):
        if i % 2 == 0:
            texts.append(known[rng.integers(len(known))])
            continue
        words = list(rng.choice(vocab, rng.integers(3, 15)))
        for _ in range(rng.integers(0, 3)):
            k = rng.integers(1, len(words))
            words[k - 1] += ","
        texts.append(" ".join(words).capitalize() + rng.choice([".", "?", "!"]))
    return texts


# ---------------------------------------------------------------- sources

def arctic_item(out: Path, task: tuple[str, str, str]) -> str:
    speaker, utt, text = task
    name = f"arctic_{speaker}_{utt}"
    audio, sr = sf.read(SHARED / f"speech/corpus/arctic/{speaker}/{utt}.flac", dtype="float32")
    audio = to_16k(audio, sr)
    phones = align(audio, text)
    if phones is None:
        return f"skipped {name}: cannot align"
    write_item(out, name, audio, phones, source="arctic", speaker=f"arctic_{speaker}", text=text)
    return ""


def espeak_item(out: Path, task: tuple[int, str, int]) -> str:
    """Synthesise and align one text; a voice the aligner can't follow is replaced by the next draw."""
    i, text, seed = task
    name = f"espeak_{i:05d}"
    rng = np.random.default_rng([seed, 1, i])
    for _ in range(3):
        voice = str(rng.choice(ESPEAK_VOICES))
        variant = str(rng.choice(ESPEAK_VARIANTS))
        speed, pitch = int(rng.integers(120, 230)), int(rng.integers(20, 80))
        gap = int(rng.choice([0, 0, 0, 2, 5]))
        v = voice + (f"+{variant}" if variant else "")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "e.wav"
            subprocess.run(["espeak-ng", "-v", v, "-s", str(speed), "-p", str(pitch), "-g", str(gap),
                            "-w", str(wav), text], check=True, capture_output=True)
            audio, sr = sf.read(wav, dtype="float32")
        audio = to_16k(audio, sr)
        audio /= max(np.abs(audio).max(), 1e-6) * 1.12
        phones = align(audio, text)
        if phones is not None:
            write_item(out, name, audio, phones, source="espeak", speaker=f"espeak_{v}", text=text,
                       synth={"voice": v, "speed": speed, "pitch": pitch, "gap": gap})
            return ""
    return f"skipped {name}: cannot align"


FESTIVAL_PHONES = {"pau": "sil", "h#": "sil", "#": "sil", "brth": "sil"}


def festival_segs(path: Path, duration: float) -> list[dict]:
    """Festival ``utt.save.segs`` xlabel file (end time, 100, phone) -> phone records."""
    lines = path.read_text().split("#", 1)[1].split("\n")
    raw, t = [], 0.0
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        end, name = float(parts[0]), parts[2].lower()
        raw.append((FESTIVAL_PHONES.get(name, re.sub(r"\d", "", name)), t, end))
        t = end
    return clean_phones(raw, duration)


def festival_batch(out: Path, task: tuple[str, list[tuple[int, str, float]]]) -> str:
    """One festival run synthesises several utterances of one voice (start-up costs ~0.5 s)."""
    voice, jobs = task
    jobs = [j for j in jobs if not _done(out, f"festival_{j[0]:05d}")]
    if not jobs:
        return ""
    with tempfile.TemporaryDirectory() as tmp:
        script = [f"(voice_{voice})"]
        for i, text, stretch in jobs:
            quoted = text.replace("\\", " ").replace('"', " ")
            script += [f"(Parameter.set 'Duration_Stretch {stretch:.3f})",
                       f'(set! utt (utt.synth (Utterance Text "{quoted}")))',
                       f'(utt.save.wave utt "{tmp}/{i}.wav" \'riff)',
                       f'(utt.save.segs utt "{tmp}/{i}.segs")']
        (Path(tmp) / "run.scm").write_text("\n".join(script) + "\n")
        subprocess.run(["festival", "-b", str(Path(tmp) / "run.scm")], check=True, capture_output=True,
                       timeout=600)
        missing = []
        for i, text, stretch in jobs:
            wav = Path(tmp) / f"{i}.wav"
            if not wav.exists():
                missing.append(i)
                continue
            audio, sr = sf.read(wav, dtype="float32")
            audio = to_16k(audio, sr)
            audio /= max(np.abs(audio).max(), 1e-6) * 1.12
            phones = festival_segs(Path(tmp) / f"{i}.segs", len(audio) / SR)
            write_item(out, f"festival_{i:05d}", audio, phones, source="festival", speaker=f"festival_{voice}",
                       text=text, synth={"voice": voice, "duration_stretch": round(stretch, 3)})
    return f"festival {voice}: {len(missing)} not synthesised" if missing else ""


def facegood_mask() -> list[int]:
    """53 ints: 1 on the ICT channels fed by the FACEGOOD ARKit channels that carry data."""
    m = arkit_to_ict_matrix() @ np.isin(ARKIT_NAMES, FACEGOOD_CHANNELS).astype(np.float32)
    return [int(v > 0) for v in m]


def facegood_clip(out: Path, clip: str) -> str:
    """Cut one FACEGOOD clip into ~10 s items (the last piece joins its predecessor if short)."""
    audio, sr = sf.read(SHARED / f"animation/{clip}.wav", dtype="float32")
    audio = to_16k(audio, sr)
    rows = np.loadtxt(SHARED / f"animation/{clip}.arkit.csv", delimiter=",", skiprows=1,
                      usecols=range(2, 54), dtype=np.float32)
    targets = arkit_to_ict(rows)
    n, step = len(targets), int(CLIP_S * FPS)
    cuts = list(range(0, n, step))
    if len(cuts) > 1 and n - cuts[-1] < step // 2:
        cuts.pop()
    cuts.append(n)
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        name = f"{clip}_{k:02d}"
        if _done(out, name):
            continue
        write_item(out, name, audio[a * SR // FPS: b * SR // FPS], targets=targets[a:b], mask=facegood_mask(),
                   source="facegood", speaker="facegood_zsmeif")
    return ""


# ---------------------------------------------------------------- augmentation

def _sox(audio: np.ndarray, *effects: str) -> np.ndarray:
    """Run float audio through sox effects (raw float32 pipes, 16 kHz mono)."""
    fmt = ["-t", "f32", "-r", str(SR), "-c", "1"]
    res = subprocess.run(["sox", *fmt, "-", *fmt, "-", *effects], input=audio.astype(np.float32).tobytes(),
                         capture_output=True, check=True)
    return np.frombuffer(res.stdout, np.float32).copy()


def _coloured_noise(n: int, colour: str, rng) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise [n], unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    spec *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[colour]
    x = np.fft.irfft(spec, n)
    return x / max(np.sqrt(np.mean(x ** 2)), 1e-9)


def augment(audio: np.ndarray, rng) -> tuple[np.ndarray, float, dict]:
    """Random effect chain -> (audio, tempo factor (output time = input time / factor), effects dict)."""
    info: dict = {}
    tempo = float(rng.uniform(0.85, 1.15)) if rng.random() < 0.6 else 1.0
    cents = int(rng.integers(-300, 301)) if rng.random() < 0.5 else 0
    effects = (["tempo", "-s", f"{tempo:.4f}"] if tempo != 1.0 else []) + (["pitch", str(cents)] if cents else [])
    if effects:
        audio = _sox(audio, *effects)
        info.update(tempo=round(tempo, 4), pitch_cents=cents)
    if rng.random() < 0.4:
        rt60 = float(rng.uniform(0.15, 0.8))
        t = np.arange(int(rt60 * SR)) / SR
        ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60) * float(rng.uniform(0.05, 0.3))
        ir[0] = 1.0
        audio = fftconvolve(audio, ir)[: len(audio)].astype(np.float32)
        info["reverb_rt60"] = round(rt60, 3)
    if rng.random() < 0.5:
        rate = int(rng.choice([8000, 11025, 22050, 44100, 48000]))
        g = np.gcd(rate, SR)
        audio = resample_poly(resample_poly(audio, rate // g, SR // g), SR // g, rate // g).astype(np.float32)
        info["resample_hz"] = rate
    if rng.random() < 0.6:
        snr, colour = float(rng.uniform(10, 30)), str(rng.choice(["white", "pink", "brown"]))
        loud = audio[np.abs(audio) > 0.1 * np.abs(audio).max()] if len(audio) else audio
        rms = np.sqrt(np.mean(loud ** 2)) if len(loud) else 0.0
        audio = audio + (rms * 10 ** (-snr / 20) * _coloured_noise(len(audio), colour, rng)).astype(np.float32)
        info.update(noise_snr_db=round(snr, 1), noise=colour)
    gain_db = float(rng.uniform(-18, 4))
    audio = np.clip(audio / max(np.abs(audio).max(), 1e-6) * 0.9 * 10 ** (gain_db / 20), -1, 1)
    info["gain_db"] = round(gain_db, 1)
    return audio.astype(np.float32), tempo, info


def augment_item(out: Path, task: tuple[str, int, int]) -> str:
    base, k, seed = task
    name = f"{base}_aug{k}"
    items = out / "items"
    rec = json.loads((items / f"{base}.item.json").read_text())
    audio, _ = sf.read(items / f"{base}.wav", dtype="float32")
    rng = np.random.default_rng([seed, 2, k, *map(ord, base)])
    audio, tempo, info = augment(audio, rng)
    duration = len(audio) / SR
    phones = targets = None
    if rec["phones"]:
        src = json.loads((out / rec["phones"]).read_text())
        phones = clean_phones([(p["phone"], p["start"] / tempo, p["end"] / tempo) for p in src], duration)
    if rec["targets"]:
        src_t = np.load(out / rec["targets"])
        t_new = np.arange(int(duration * FPS)) / FPS * tempo
        t_old = np.arange(len(src_t)) / FPS
        targets = np.stack([np.interp(t_new, t_old, c) for c in src_t.T], 1)
    keep = {k2: rec[k2] for k2 in ("source", "speaker", "text", "synth") if k2 in rec}
    write_item(out, name, audio, phones, targets, rec["mask"], **keep, aug={"base": base, **info})
    return ""


# ---------------------------------------------------------------- driver

def _run(tasks: list, fn, out: Path, jobs: int, label: str) -> None:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    if not tasks:
        return
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns) as progress, Pool(jobs) as pool:
        bar = progress.add_task(label, total=len(tasks))
        for msg in pool.imap_unordered(partial(fn, out), tasks):
            if msg:
                progress.console.print(msg)
            progress.advance(bar)


def write_manifest(out: Path) -> list[dict]:
    """Collect every finished item's record into manifest.jsonl; print durations per source."""
    recs = [json.loads(p.read_text()) for p in sorted((out / "items").glob("*.item.json"))]
    with atomic_file(out / "manifest.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in recs))
    totals: dict = defaultdict(lambda: [0, 0.0])
    for r in recs:
        key = r["source"] + ("+aug" if r["aug"] else "")
        totals[key][0] += 1
        totals[key][1] += r["duration"]
    for key, (n, d) in sorted(totals.items()):
        print(f"{key:<16} {n:6d} items {d / 60:8.1f} min")
    print(f"{'total':<16} {len(recs):6d} items {sum(r['duration'] for r in recs) / 60:8.1f} min")
    return recs


# ---------------------------------------------------------------------------------------------- aligner check

def boundary_errors(ref: list[dict], hyp: list[dict]) -> list[float]:
    """Absolute start-time differences (s) of the phones that match between two alignments (``ax`` = ``ah``)."""
    norm = lambda ps: [("ah" if p["phone"] == "ax" else p["phone"]) for p in ps]
    sm = difflib.SequenceMatcher(a=norm(ref), b=norm(hyp), autojunk=False)
    errs = []
    for a, b, n in sm.get_matching_blocks():
        for k in range(n):
            if ref[a + k]["phone"] != "sil" or a + k > 0:
                errs.append(abs(ref[a + k]["start"] - hyp[b + k]["start"]))
    return errs


def _report(label: str, errs: list[float]) -> None:
    e = np.array(errs)
    print(f"{label}: {len(e)} boundaries, mean {1000 * e.mean():.1f} ms, median {1000 * np.median(e):.1f} ms, "
          f"max {1000 * e.max():.0f} ms, within 20 ms {np.mean(e <= 0.02):.2f}, within 50 ms {np.mean(e <= 0.05):.2f}")


def evaluate_arctic(shared: Path) -> None:
    """Against the independent labels of the evaluation utterances (measuring only, never training)."""
    import soundfile as sf
    total = []
    for rec in json.loads((shared / "speech/arctic/manifest.json").read_text()):
        if "pocketsphinx" in rec["alignment"]:
            continue  # labels made by pocketsphinx itself are no reference
        d = shared / "speech/arctic" / rec["speaker"]
        audio, _ = sf.read(d / f"{rec['name']}.wav", dtype="float32")
        errs = boundary_errors(json.loads((d / f"{rec['name']}.phone.json").read_text()),
                               align(audio, (d / f"{rec['name']}.txt").read_text()))
        _report(f"{rec['speaker']}/{rec['name']}", errs)
        total += errs
    _report("real speech, all", total)


def evaluate_festival(n: int) -> None:
    """Against festival's own segment timings on ``n`` synthesised ARCTIC training prompts."""
    import soundfile as sf
    texts = [t for t in load_prompts().values() if all(pronunciations(w) for w in text_words(t))][:n]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for k, voice in enumerate(FESTIVAL_VOICES):
            festival_batch(out, (voice, [(i, t, 1.0) for i, t in enumerate(texts) if i % 3 == k]))
        errs, failed = [], 0
        for rec in sorted(out.glob("items/*.item.json")):
            r = json.loads(rec.read_text())
            audio, _ = sf.read(out / r["wav"], dtype="float32")
            hyp = align(audio, r["text"])
            failed += hyp is None
            errs += boundary_errors(json.loads((out / r["phones"]).read_text()), hyp) if hyp else []
    _report(f"festival speech ({len(texts) - failed}/{len(texts)} aligned)", errs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/work/data/corpus"), help="output folder")
    ap.add_argument("--sources", default="arctic,espeak,festival,facegood", help="comma-separated sources")
    ap.add_argument("--espeak", type=int, default=1200, help="number of espeak-ng utterances")
    ap.add_argument("--festival", type=int, default=600, help="number of festival utterances")
    ap.add_argument("--augment", type=int, default=1, help="augmented copies of every item")
    ap.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--evaluate-aligner", type=int, metavar="N", help="only measure the aligner's phone "
                    "boundaries: vs. the original labels of speech/arctic and festival's timings on N prompts")
    args = ap.parse_args(argv)
    if args.evaluate_aligner is not None:
        evaluate_arctic(SHARED)
        evaluate_festival(args.evaluate_aligner)
        return 0
    os.nice(5)
    sources = set(args.sources.split(","))
    out = args.out
    (out / "items").mkdir(parents=True, exist_ok=True)
    start = time.time()
    prompts = load_prompts()
    texts = make_texts(max(args.espeak, args.festival), list(prompts.values()), args.seed)

    if "arctic" in sources:
        tasks = [(spk, utt, text) for spk in ("bdl", "slt") for utt, text in prompts.items()
                 if (SHARED / f"speech/corpus/arctic/{spk}/{utt}.flac").exists()
                 and not _done(out, f"arctic_{spk}_{utt}")]
        _run(tasks, arctic_item, out, args.jobs, "arctic")
    if "espeak" in sources:
        tasks = [(i, texts[i], args.seed) for i in range(args.espeak) if not _done(out, f"espeak_{i:05d}")]
        _run(tasks, espeak_item, out, args.jobs, "espeak")
    if "festival" in sources:
        rng = np.random.default_rng([args.seed, 3])
        by_voice = defaultdict(list)
        for i in range(args.festival):
            by_voice[FESTIVAL_VOICES[i % len(FESTIVAL_VOICES)]].append(
                (i, texts[(i + 1) % len(texts)], float(rng.uniform(0.85, 1.2))))
        tasks = [(v, js[k:k + 20]) for v, js in by_voice.items() for k in range(0, len(js), 20)]
        _run(tasks, festival_batch, out, args.jobs, "festival")
    if "facegood" in sources:
        clips = sorted(p.name[: -len(".arkit.csv")] for p in (SHARED / "animation").glob("*.arkit.csv"))
        _run(clips, facegood_clip, out, args.jobs, "facegood")
    if args.augment:
        bases = [json.loads(p.read_text()) for p in sorted((out / "items").glob("*.item.json"))]
        tasks = [(r["name"], k, args.seed) for r in bases if not r["aug"] and r["source"] in sources
                 for k in range(args.augment) if not _done(out, f"{r['name']}_aug{k}")]
        _run(tasks, augment_item, out, args.jobs, "augment")
    write_manifest(out)
    print(f"built in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
