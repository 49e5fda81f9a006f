"""Voice-activity detection on the speech model's own log-mel frames: is someone speaking at a face time?

A small MLP (``assets/vad.npz``, trained by ``tools/train_vad.py``) reads, per 20 ms mel frame, 16 band
energies relative to a per-band noise floor (each band's minimum over the last ``FLOOR_S`` seconds), the
frame level relative to a running speech peak and the spectral stability from frame to frame (music holds
its notes, a voice glides), over the last ``CONTEXT`` frames. Mel frame k ends 20 ms after token k's audio,
i.e. ``delay + 1`` tokens after its face time, so the window reaches 80 ms past the face time it scores (the
model's own look-ahead): the detector adds no latency. Relative features make it indifferent to gain and to
a steady noise floor; the training mixes (speech, dry or in a reverberant room, over synthetic noise,
applause, a crowd's murmur, music beds, breaths, clicks) teach it what else is not speech. The floor is a
windowed minimum, not a floor that only creeps up: one left at a quiet lead-in's level made the murmur of
a crowd that followed it read as speech, 24 dB above the floor. Labels were silero-vad's on clean speech
(a teacher: silero itself runs ~30x real time on one core here, too slow for the 300x budget; this one
costs ~0.1 ms a second).

Streaming: ``VAD.step(mel [M, n_mels]) -> p [M]`` carries its trackers and the context window, so any
chunking gives the same numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter

from face3d.resources import data_path

WEIGHTS = data_path("assets", "vad.npz")
BANDS = 16
CONTEXT = 20  # frames (400 ms): 320 ms before a face time to 80 ms after it
FLOOR_S = 2.0  # s: the noise floor is each band's minimum over this window (speech dips to it between words)
FLOOR_N = int(FLOOR_S * 50)  # mel frames (50 a second)
PEAK_FALL = 0.004  # ln-power per frame the speech peak may fall (~0.9 dB/s)
# Spectral stability: cosine similarity of consecutive frames' mean-removed log-mel shape over the bins
# where voice harmonics are resolved. A held or decaying musical note keeps its shape (median ~0.99),
# speech glides in pitch and formants (~0.8), noise is random (~0.3-0.6): the cue that tells a music bed
# from a voice, which band levels alone cannot.
SHAPE_BINS = slice(2, 48)
SLOW_S = 0.6  # s: time constant of the running mean of that stability (music is stable for seconds)
N_FEAT = BANDS + 3


class VADState:
    """Trackers of one stream: the last FLOOR_N-1 band rows (noise floor), speech peak, the last CONTEXT-1
    feature rows."""

    def __init__(self):
        self.bands = np.zeros((0, BANDS), np.float32)
        self.peak: float | None = None
        self.shape: np.ndarray | None = None  # the previous frame's mean-removed unit-norm log-mel shape
        self.stable = 0.0  # running mean of the stability feature
        self.hist = np.zeros((CONTEXT - 1, N_FEAT), np.float32)


def band_energies(mel: np.ndarray) -> np.ndarray:
    """[M, n_mels] ln mel power -> [M, BANDS] mean ln power of consecutive mel groups."""
    m, n = mel.shape
    return mel[:, : n - n % BANDS].reshape(m, BANDS, n // BANDS).mean(2)


def features(mel: np.ndarray, state: VADState) -> np.ndarray:
    """[M, n_mels] raw log-mel -> [M, N_FEAT] relative features, advancing ``state``'s trackers:
    BANDS band levels over the noise floor, the level under the speech peak, the spectral stability
    -ln(1 - similarity to the previous frame) / 2 (~0.1 speech, ~2 a held note, <= 3.5) and its running mean."""
    mel = np.asarray(mel, np.float32)
    b = band_energies(mel)
    shape = mel[:, SHAPE_BINS] - mel[:, SHAPE_BINS].mean(1, keepdims=True)
    shape /= np.linalg.norm(shape, axis=1, keepdims=True) + 1e-6
    prev = np.concatenate([shape[:1] if state.shape is None else state.shape[None], shape[:-1]])
    stab = -np.log(np.clip(1 - (shape * prev).sum(1), 1e-3, 1)) / 2
    out = np.empty((len(b), N_FEAT), np.float32)
    out[:, BANDS + 1] = stab
    if not len(b):
        return out
    # floor: each band's minimum over the frame and the FLOOR_N - 1 before it (fewer at the stream's start:
    # 'nearest' repeats its first frame), with the carried rows in front so that chunking changes nothing.
    # The tracker peak_i = max(lvl_i, peak_{i-1} - FALL) unrolled: peak_i = max_{j <= i}(lvl_j + FALL * j)
    # - FALL * i (the carried peak as j = -1), a running maximum numpy computes at once (a Python loop over
    # frames cost as much as the transformer's attention).
    ext = np.concatenate([state.bands, b])
    floor = minimum_filter1d(ext, FLOOR_N, axis=0, mode="nearest", origin=(FLOOR_N - 1) // 2)[len(state.bands):]
    state.bands = ext[-(FLOOR_N - 1):].copy()
    i = np.arange(len(b), dtype=np.float64)[:, None]
    lvl = b.mean(1, dtype=np.float64)[:, None]
    high = lvl + PEAK_FALL * i
    if state.peak is not None:
        high[0] = max(high[0, 0], state.peak - PEAK_FALL)
    peak = np.maximum.accumulate(high, 0) - PEAK_FALL * i
    a = float(np.exp(-1 / (SLOW_S * 50)))  # 50 mel frames a second
    stable, _ = lfilter([1 - a], [1, -a], stab.astype(np.float64), zi=[a * state.stable])
    out[:, :BANDS] = np.clip(b - floor, 0, 12) / 4
    out[:, BANDS] = np.maximum(lvl - peak, -12)[:, 0] / 4
    out[:, BANDS + 2] = stable
    state.peak, state.stable = float(peak[-1, 0]), float(stable[-1])
    if len(shape):
        state.shape = shape[-1].copy()
    return out


def windows(feat: np.ndarray, state: VADState) -> np.ndarray:
    """[M, N_FEAT] -> [M, CONTEXT * N_FEAT] (each row with the CONTEXT-1 before it), advancing history."""
    x = np.concatenate([state.hist, feat])
    state.hist = x[-(CONTEXT - 1):].copy()
    idx = np.arange(len(feat))[:, None] + np.arange(CONTEXT)[None]
    return x[idx].reshape(len(feat), -1)


class VAD:
    """Speech probability per mel frame (= per model token), streaming."""

    def __init__(self, path: str | Path = WEIGHTS):
        from face3d.errors import AssetMissing

        try:
            z = np.load(path)
        except FileNotFoundError:
            raise AssetMissing(f"{path}: voice-activity weights not found") from None
        self.w1, self.b1, self.w2, self.b2 = (z[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2"))
        if self.w1.shape[0] != CONTEXT * N_FEAT:  # weights of another feature set: one line, not a matmul error
            raise AssetMissing(f"{path}: voice-activity weights for {self.w1.shape[0]} inputs, this face3d "
                               f"reads {CONTEXT * N_FEAT}; reinstall face3d")

    def start(self) -> VADState:
        return VADState()

    def step(self, mel: np.ndarray, state: VADState) -> np.ndarray:
        """[M, n_mels] raw log-mel -> [M, 2]: speech probability, level relative to the speech peak
        (ln power / 4; 0 at the peak) -- the loudness the head's nods follow."""
        if len(mel) == 0:
            return np.zeros((0, 2), np.float32)
        f = features(mel, state)
        x = windows(f, state)
        h = np.maximum(x @ self.w1 + self.b1, 0)
        p = 1 / (1 + np.exp(-(h @ self.w2 + self.b2)))
        return np.concatenate([p, f[:, BANDS:BANDS + 1]], 1).astype(np.float32)
