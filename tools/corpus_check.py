"""Check a corpus built by ``build_corpus.py``: file formats, and that phone timings line up with the audio.

    python tools/corpus_check.py /work/data/corpus

Format: every manifest item has its wav (16 kHz mono); phone lists are sorted, gap-free, from 0 to the end
of the audio (50 ms tolerance); targets are [T, 53] in [0, 1] with T = duration * fps (+-1) and a 53-long
mask. Sync, per source: median RMS of p/b/m segments over the median RMS of vowels. Lips closed on a stop
quieten the audio, so the ratio is well below 1 when the labels line up, and it rises when they are
shifted by 150 ms (printed beside it for comparison).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

VOWELS = {"aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw", "ax"}


def _rms(audio: np.ndarray, sr: int, start: float, end: float) -> float:
    seg = audio[int(start * sr): max(int(end * sr), int(start * sr) + 1)]
    return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0


def check_item(root: Path, rec: dict) -> tuple[list[str], list[tuple[str, float, float]]]:
    """Format problems of one item, and (kind, rms, rms shifted by 150 ms) for its p/b/m and vowel phones."""
    problems, rms = [], []
    audio, sr = sf.read(root / rec["wav"], dtype="float32")
    dur = len(audio) / sr
    if sr != 16000 or audio.ndim != 1:
        problems.append(f"{rec['name']}: wav is {sr} Hz, {audio.ndim}-D")
    if rec["phones"]:
        ph = json.loads((root / rec["phones"]).read_text())
        ok = ph and ph[0]["start"] == 0 and abs(ph[-1]["end"] - dur) < 0.05 and all(
            p["end"] > p["start"] and abs(p["end"] - q["start"]) < 1e-6 for p, q in zip(ph, ph[1:] + [None]) if q)
        if not ok:
            problems.append(f"{rec['name']}: phone list not sorted/contiguous over the audio")
        for p in ph:
            kind = "pbm" if p["phone"] in ("p", "b", "m") else "vowel" if p["phone"] in VOWELS else None
            if kind:
                rms.append((kind, _rms(audio, sr, p["start"], p["end"]),
                            _rms(audio, sr, p["start"] + 0.15, p["end"] + 0.15)))
    if rec["targets"]:
        t = np.load(root / rec["targets"])
        if t.shape[1:] != (53,) or abs(len(t) - dur * rec["fps"]) > 1.01 or t.min() < 0 or t.max() > 1:
            problems.append(f"{rec['name']}: targets {t.shape} in [{t.min():.2f}, {t.max():.2f}], {dur:.2f} s")
        if not rec["mask"] or len(rec["mask"]) != 53:
            problems.append(f"{rec['name']}: mask missing or not 53 long")
    return problems, rms


def main(root: Path) -> int:
    recs = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    problems, by_source = [], defaultdict(list)
    for rec in recs:
        p, rms = check_item(root, rec)
        problems += p
        by_source[rec["source"] + ("+aug" if rec["aug"] else "")] += rms
    for line in problems[:20]:
        print(line)
    print(f"{len(recs)} items, {len(problems)} format problems")
    for src, rms in sorted(by_source.items()):
        if not rms:
            continue
        a = np.array([r[1:] for r in rms])
        pbm = np.array([r[0] == "pbm" for r in rms])
        ratio = np.median(a[pbm, 0]) / np.median(a[~pbm, 0])
        shifted = np.median(a[pbm, 1]) / np.median(a[~pbm, 1])
        print(f"{src:<14} p/b/m : vowel RMS {ratio:.2f} (labels shifted 150 ms: {shifted:.2f}), {pbm.sum()} p/b/m")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/data/corpus")))
