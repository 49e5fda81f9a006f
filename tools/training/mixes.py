"""Synthetic non-speech for training and evaluating the voice-activity gate: noise, crowd applause, music
beds, breaths and clicks, and mixing at a given SNR. All 16 kHz float32, deterministic per generator.

Training (``tools/train_vad.py``) and evaluation (``tools/eval_lipsync.py``) use different seeds, and the
evaluation's music is a different instrument (plucked arpeggios over a bass line) from training's (sustained
chord pads with drums), so the evaluation is not scored on the beds it was trained on.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter, sosfilt, butter

SR = 16000


def coloured(n: int, rng: np.random.Generator, colour: str) -> np.ndarray:
    """white / pink (-3 dB/oct) / brown (-6 dB/oct) noise, unit RMS."""
    x = rng.normal(0, 1, n)
    if colour == "pink":  # Kellet's economy filter
        x = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786], [1, -2.494956002, 2.017265875,
                                                                             -0.522189400], x)
    elif colour == "brown":
        x = lfilter([1.0], [1, -0.995], x)
    x = x - x.mean()
    return (x / (x.std() + 1e-9)).astype(np.float32)


def applause(n: int, rng: np.random.Generator) -> np.ndarray:
    """Crowd applause and murmur: Poisson hand claps (band-passed 5-15 ms bursts) over pink noise."""
    out = 0.3 * coloured(n, rng, "pink")
    rate = rng.uniform(15, 80)
    times = np.cumsum(rng.exponential(1 / rate, int(rate * n / SR * 1.3) + 10))
    sos = butter(2, [rng.uniform(600, 1200), rng.uniform(3000, 6000)], "band", fs=SR, output="sos")
    for t in times[times * SR < n - 400]:
        k = int(rng.uniform(0.005, 0.015) * SR)
        burst = rng.normal(0, 1, k) * np.exp(-np.arange(k) / (k / 4)) * rng.uniform(0.3, 1.5)
        i = int(t * SR)
        out[i: i + k] += burst
    out = sosfilt(sos, out) + 0.2 * out
    return (out / (out.std() + 1e-9)).astype(np.float32)


def _tone(f: float, k: int, partials: int, decay: float, rng) -> np.ndarray:
    t = np.arange(k) / SR
    x = sum(np.sin(2 * np.pi * f * h * t + rng.uniform(0, 6.3)) / h ** 1.2 for h in range(1, partials + 1))
    return x * np.exp(-t / decay)


def music(n: int, rng: np.random.Generator, style: str = "train") -> np.ndarray:
    """A music bed. ``train``: sustained chord pads + kick/hi-hat; ``melody`` (training too): one or two
    free voices of random timbre (partials, attack, decay from plucked to held, vibrato) and rhythm;
    ``eval``: plucked arpeggios over a bass line (never in training)."""
    if style == "melody":
        return _melody(n, rng)
    out = np.zeros(n + SR, np.float64)
    bpm = rng.uniform(70, 140)
    beat = int(60 / bpm * SR)
    root = rng.uniform(110, 220)
    chords = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4)]
    pos, step = 0, 0
    while pos < n:
        chord = chords[(step // 4) % 4]
        if style == "train":
            if step % 4 == 0:
                for s in chord:
                    out[pos: pos + 4 * beat] += 0.3 * _tone(root * 2 ** (s / 12), min(4 * beat, len(out) - pos),
                                                            6, 2.0, rng)
            k = min(beat // 3, len(out) - pos)
            out[pos: pos + k] += 0.8 * np.sin(2 * np.pi * 55 * np.arange(k) / SR) * np.exp(-np.arange(k) / 800)
            if step % 2:
                out[pos: pos + 600] += 0.2 * rng.normal(0, 1, min(600, len(out) - pos)) * np.exp(-np.arange(min(600, len(out) - pos)) / 120)
        else:
            for j, s in enumerate(chord + (chord[0] + 12,)):
                p = pos + j * beat // 4
                k = min(beat, len(out) - p)
                if k > 0:
                    out[p: p + k] += 0.4 * _tone(2 * root * 2 ** (s / 12), k, 4, 0.25, rng)
            if step % 2 == 0:
                k = min(2 * beat, len(out) - pos)
                out[pos: pos + k] += 0.5 * _tone(root / 2 * 2 ** (chord[0] / 12), k, 3, 0.8, rng)
        pos += beat
        step += 1
    out = out[:n]
    return (out / (out.std() + 1e-9)).astype(np.float32)


def _melody(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random-timbre note sequences: what a voice detector must learn about tonal music in general."""
    out = np.zeros(n + SR, np.float64)
    for _ in range(int(rng.integers(1, 3))):
        root = rng.uniform(90, 500)
        partials, decay = int(rng.integers(1, 9)), 10 ** rng.uniform(-1.2, 0.5)
        vib_hz, vib = rng.uniform(4, 7), rng.uniform(0, 0.01)
        pos = int(rng.uniform(0, 0.3) * SR)
        while pos < n:
            k = int(rng.uniform(0.08, 0.6) * SR)
            f = root * 2 ** (int(rng.integers(-7, 13)) / 12)
            t = np.arange(k) / SR
            ph = 2 * np.pi * f * (t + vib / (2 * np.pi * vib_hz) * np.sin(2 * np.pi * vib_hz * t))
            x = sum(np.sin(h * ph + rng.uniform(0, 6.3)) / h ** rng.uniform(0.8, 2) for h in range(1, partials + 1))
            env = np.minimum(t / rng.uniform(0.002, 0.05), 1) * np.exp(-t / decay)
            m = min(k, len(out) - pos)
            out[pos: pos + m] += rng.uniform(0.3, 1) * (x * env)[:m]
            pos += k if rng.random() < 0.85 else k + int(rng.uniform(0.05, 0.4) * SR)
    out = out[:n]
    return (out / (out.std() + 1e-9)).astype(np.float32)


def breaths_and_clicks(n: int, rng: np.random.Generator) -> np.ndarray:
    """Silence with a few breaths (band-passed noise, 300-700 ms swell) and mouth/mic clicks."""
    out = np.zeros(n, np.float64)
    sos = butter(2, [300, 2500], "band", fs=SR, output="sos")
    for _ in range(max(1, int(n / SR / 1.5))):
        k = int(rng.uniform(0.3, 0.7) * SR)
        if n <= k:
            break
        i = int(rng.integers(0, n - k))
        out[i: i + k] += sosfilt(sos, rng.normal(0, 1, k)) * np.hanning(k) * rng.uniform(0.3, 1)
    for _ in range(int(rng.integers(1, 6))):
        i = int(rng.integers(0, max(1, n - 40)))
        out[i: i + 40] += rng.normal(0, 3, len(out[i: i + 40])) * np.exp(-np.arange(len(out[i: i + 40])) / 6)
    return (out / (out.std() + 1e-9)).astype(np.float32)


def bed(kind: str, n: int, rng: np.random.Generator, style: str = "train") -> np.ndarray:
    if kind in ("white", "pink", "brown"):
        return coloured(n, rng, kind)
    if kind == "applause":
        return applause(n, rng)
    if kind == "music":
        return music(n, rng, style)
    if kind == "melody":
        return music(n, rng, "melody")
    if kind == "breath":
        return breaths_and_clicks(n, rng)
    raise ValueError(kind)


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that RMS(speech) / RMS(noise) = snr_db (RMS over the whole clip)."""
    s = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)) + 1e-12)
    g = s / (float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))) + 1e-12) / 10 ** (snr_db / 20)
    return (speech + g * noise[: len(speech)]).astype(np.float32)
