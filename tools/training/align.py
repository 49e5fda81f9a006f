"""Forced phone alignment of speech with a known transcript, using pocketsphinx's bundled en-us model
(training only: ``tools/build_corpus.py`` aligns the corpus with it and ``--evaluate-aligner`` measures it).

Phones come out as the ``.phone.json`` records of ``../shared/speech``: lower-case ARPAbet without
stress digits, silence and fillers as ``sil``, contiguous from 0 to the end of the audio.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

FRAME_S = 0.01  # pocketsphinx frame step
PAD_S = 0.25  # silence added around the audio before decoding
_lexicon: dict[str, list[str]] | None = None


def lexicon() -> dict[str, list[str]]:
    """The bundled CMU dictionary: word -> pronunciations (ARPAbet, upper case), loaded once per process."""
    global _lexicon
    if _lexicon is None:
        from pocketsphinx import get_model_path
        _lexicon = {}
        for line in (Path(get_model_path()) / "en-us" / "cmudict-en-us.dict").read_text().splitlines():
            word, _, pron = line.partition(" ")
            _lexicon.setdefault(re.sub(r"\(\d+\)$", "", word), []).append(pron.strip())
    return _lexicon


def text_words(text: str) -> list[str]:
    """Transcript -> lower-case dictionary-style words (hyphens split, other punctuation dropped)."""
    return [w.strip("'") for w in re.findall(r"[a-z']+", text.lower().replace("-", " ")) if w.strip("'")]


def pronunciations(word: str) -> list[str] | None:
    """Dictionary pronunciations of a word; possessives of known words (``steward's``) are derived."""
    lex = lexicon()
    if word in lex:
        return lex[word]
    if word.endswith("'s") and word[:-2] in lex:
        out = []
        for pron in lex[word[:-2]]:
            last = pron.split()[-1]
            suffix = "IH Z" if last in ("S", "Z", "SH", "ZH", "CH", "JH") else (
                "S" if last in ("P", "T", "K", "F", "TH") else "Z")
            out.append(f"{pron} {suffix}")
        return out
    return None


def _decoder_for(words: list[str], folder: Path):
    """A fresh decoder whose dictionary holds only these words: decoding state (CMN, search) never carries
    over between utterances, so results don't depend on the order of processing, and it loads in ~20 ms."""
    from pocketsphinx import Decoder
    lines = []
    for w in sorted(set(words)):
        prons = pronunciations(w)
        if prons is None:
            return None
        lines += [f"{w}{'' if k == 0 else f'({k + 1})'} {p}" for k, p in enumerate(prons)]
    (folder / "words.dict").write_text("\n".join(lines) + "\n")
    return Decoder(loglevel="FATAL", lm=None, dict=str(folder / "words.dict"))


def clean_phones(raw: list[tuple[str, float, float]], duration: float) -> list[dict]:
    """(phone, start, end) segments -> sorted, gap-free records from 0 to ``duration``; silences merged."""
    out: list[dict] = []
    t = 0.0
    for name, start, end in raw:
        start, end = max(start, t), min(end, duration)
        if end <= start:
            continue
        if start > t + 1e-6:
            out.append({"phone": "sil", "start": t, "end": start})
        out.append({"phone": name, "start": start, "end": end})
        t = end
    if duration > t + 1e-6:
        out.append({"phone": "sil", "start": t, "end": duration})
    merged: list[dict] = []
    for p in out:
        if merged and p["phone"] == "sil" and merged[-1]["phone"] == "sil":
            merged[-1]["end"] = p["end"]
        else:
            merged.append(p)
    for p in merged:
        p["start"], p["end"] = round(p["start"], 4), round(p["end"], 4)
    return merged


def arpabet(name: str) -> str:
    """pocketsphinx phone or filler -> lower-case ARPAbet, fillers (``SIL``, ``+NSN+``) -> ``sil``."""
    name = re.sub(r"\d", "", name).lower()
    return name if name.isalpha() and name != "sil" else "sil"


def _decode(dec, audio: np.ndarray, text: str, pad_s: float, dither: bool) -> list[tuple[str, float, float]] | None:
    """Two-pass pocketsphinx alignment (words, then phones) of ``audio`` padded by ``pad_s`` of silence,
    optionally dithered; (phone, start, end) or None."""
    pad = np.zeros(int(pad_s * 16000), np.float32)
    padded = np.concatenate([pad, audio, pad])
    if dither:
        padded += np.random.default_rng(0).normal(0, 3e-4, len(padded)).astype(np.float32)
    pcm = (np.clip(padded, -1, 1) * 32767).astype(np.int16).tobytes()
    try:
        dec.set_align_text(text)
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        if dec.hyp() is None:  # no word path found
            return None
        dec.set_alignment()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        return [(arpabet(p.name), p.start * FRAME_S - pad_s, (p.start + p.duration) * FRAME_S - pad_s)
                for w in dec.get_alignment() for p in w]
    except RuntimeError:
        return None


def align(audio: np.ndarray, text: str) -> list[dict] | None:
    """Force-align 16 kHz mono float audio [N] with its transcript; None if the text or audio can't be
    aligned (unknown word, decoder failure)."""
    words = text_words(text)
    if not words:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        dec = _decoder_for(words, Path(tmp))
        if dec is None:
            return None
        # Speech that starts or ends abruptly makes the decoder miss the final state (real speech: pad
        # with silence); synthetic speech with digital zeros makes it lose its path (dither it).
        for pad_s, dither in ((0.0, False), (PAD_S, False), (PAD_S, True)):
            raw = _decode(dec, audio, " ".join(words), pad_s, dither)
            if raw:
                break
    if not raw or not any(p[0] != "sil" for p in raw):
        return None
    return clean_phones(raw, len(audio) / 16000)
