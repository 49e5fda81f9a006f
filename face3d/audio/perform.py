"""What turns the speech model's mouth into a performance, frame by frame after interpolation:

- ``Mouth``: the voice-activity gate (non-speech relaxes the mouth to rest: crowd noise, music beds,
  breaths) and closure on detected bilabials (the model's own mouthPress, lip-gap and mouthClose-against-
  jawOpen evidence, no labels);
- ``Emotion``: upper-face and mouth-corner expression (brows, cheeks, squint, smile/frown) for
  neutral|happy|sad|angry|surprised|fearful|disgusted at an intensity 0..1, constant or keyframed in time;
- ``Head``: pitch/yaw/roll (rad) from prosody: nods on stressed syllables (loudness onsets), a new small
  turn/tilt at each phrase start, slow idle drift in silence.

Everything is a function of the frame's time, its interpolated per-token features and state carried
from frame to frame (one-pole filters, one seeded generator per event stream, consumed in frame order),
so streaming and offline give identical frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from face3d.errors import BadInput
from face3d.names import ICT_NAMES

_I = {n: i for i, n in enumerate(ICT_NAMES)}


def _idx(*names: str) -> list[int]:
    return [i for i, n in enumerate(ICT_NAMES) if n in names or n[:-2] in names]


MOUTH = [i for i, n in enumerate(ICT_NAMES) if n.startswith(("jaw", "mouth", "cheekPuff"))]
# Inner-lip gap of the ICT mean face, cm = GAP0 + weights @ GAP (blendshapes are linear); the same numbers
# as tools/training/losses.lip_gap_coefficients (tests/test_speech_perform.py checks them on the model).
GAP0 = 0.0807
GAP = np.zeros(len(ICT_NAMES), np.float32)
for _n, _v in {"cheekSquint": 0.019, "jawLeft": -0.023, "jawRight": -0.023, "mouthLeft": -0.046,
               "mouthRight": -0.046, "mouthStretch": -0.018, "mouthFrown": -0.012, "mouthSmile": -0.009,
               "cheekPuff": -0.005, "jawForward": 0.11, "jawOpen": 2.892, "mouthClose": -3.72, "mouthDimple": -0.079,
               "mouthFunnel": 1.083, "mouthLowerDown": 0.291, "mouthPress": -0.109, "mouthPucker": -0.129,
               "mouthRollLower": -0.246, "mouthRollUpper": 0.158, "mouthShrugLower": -0.639,
               "mouthShrugUpper": 0.456, "mouthUpperUp": 0.35, "noseSneer": 0.316}.items():
    GAP[_idx(_n)] = _v
_PRESS = _idx("mouthPress")
_OPENERS = _idx("mouthLowerDown", "mouthUpperUp", "mouthShrugUpper", "mouthFunnel", "noseSneer")
_JAW, _CLOSE = _I["jawOpen"], _I["mouthClose"]


@dataclass(frozen=True)
class MouthConfig:
    gate_floor: float = 0.02  # mouth scale when the VAD is sure there is no speech
    gate_low: float = 0.1  # smoothed speech probability up to which the mouth stays at gate_floor ...
    gate_full: float = 0.3  # ... and from which it is not scaled at all
    gate_attack_s: float = 0.005  # the gate opens at once (a word's onset must not be swallowed)
    gate_release_s: float = 0.12  # and closes a little slower (no flutter inside words)
    press_on: float = 0.05  # mean mouthPress at which a closure starts to be enforced ...
    press_full: float = 0.10  # ... and where it is complete
    gap_on: float = 0.45  # or: predicted lip gap (cm) under this while the lips press at all
    gap_press: float = 0.03
    # or: mouthClose against jawOpen. The training targets close a bilabial by mouthClose = jawOpen, so the
    # ratio is the model's own estimate of how likely a closure is (it hedges, on unfamiliar voices, with a
    # fraction of the target; mouthPress stays near 0 then). Chosen on speed-perturbed training utterances
    # (the model has memorised the originals): 0.15-0.3 closed 3 % more p/b/m there, for 2 % more closed
    # frames elsewhere in speech.
    ratio_on: float = 0.15
    ratio_full: float = 0.3
    ratio_jaw: float = 0.03  # jawOpen floor of the ratio's denominator (a resting jaw decides nothing)
    # Amplitude calibration (tools/eval_realism.py): at the 95th percentile over speech the model rounds and
    # lifts the lips far less than its own viseme targets (pucker 0.44x, upper lip 0.58x, lower lip 0.79x)
    # and than FACEGOOD's hand animation on the same audio (0.34x, 0.29x, 0.40x): regression to the mean.
    # Gains bring them part way (the jaw, at 0.93x of its targets, is left alone); closures remove the
    # lip openers afterwards, so p/b/m are unaffected.
    gains: tuple[tuple[str, float], ...] = (("mouthPucker", 1.6), ("mouthUpperUp", 1.4), ("mouthLowerDown", 1.25))


class Mouth:
    """VAD gate + bilabial closure, streaming over frames: ``mouth(w [n, 53], vad [n]) -> [n, 53]``."""

    def __init__(self, fps: float, cfg: MouthConfig = MouthConfig()):
        self.cfg = cfg
        self.a_on = float(np.exp(-1 / (cfg.gate_attack_s * fps)))
        self.a_off = float(np.exp(-1 / (cfg.gate_release_s * fps)))
        self.g = 1.0  # open at the start: the VAD trackers have no history yet, and speech may start at once

    def gate(self, vad: np.ndarray) -> np.ndarray:
        """Asymmetric one-pole smoothing of the speech probability (state carried between calls)."""
        out = np.empty(len(vad), np.float32)
        g = self.g
        for i, p in enumerate(vad):
            a = self.a_on if p > g else self.a_off
            g = a * g + (1 - a) * float(p)
            out[i] = g
        self.g = g
        return out

    @staticmethod
    def closure(w: np.ndarray, cfg: MouthConfig) -> np.ndarray:
        """[n] in [0, 1]: how firmly the lips must close (bilabial evidence in the model's own output)."""
        press = w[:, _PRESS].mean(1)
        gap = GAP0 + w @ GAP
        by_press = np.clip((press - cfg.press_on) / (cfg.press_full - cfg.press_on), 0, 1)
        by_gap = ((gap < cfg.gap_on) & (press > cfg.gap_press)).astype(np.float32)
        ratio = w[:, _CLOSE] / np.maximum(w[:, _JAW], cfg.ratio_jaw)
        by_ratio = np.clip((ratio - cfg.ratio_on) / (cfg.ratio_full - cfg.ratio_on), 0, 1)
        return np.maximum(np.maximum(by_press, by_gap), by_ratio)

    def __call__(self, w: np.ndarray, vad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gated weights and the closure strength per frame (``close_lips`` applies it after emotion)."""
        # full mouth from p = 0.3 up: the gate silences non-speech but never scales down uncertain speech;
        # shut below 0.1, where a bed's stray scores (music, applause: mostly 0.02-0.15) would half-open it
        cfg = self.cfg
        u = np.clip((self.gate(vad) - cfg.gate_low) / (cfg.gate_full - cfg.gate_low), 0, 1)
        g = cfg.gate_floor + (1 - cfg.gate_floor) * u
        out = np.array(w, np.float32, copy=True)
        for name, gain in self.cfg.gains:
            out[:, _idx(name)] = np.minimum(out[:, _idx(name)] * gain, 1)
        out[:, MOUTH] *= g[:, None]
        return out, self.closure(w, self.cfg) * (g > 0.5)


def close_lips(w: np.ndarray, c: np.ndarray) -> np.ndarray:
    """In place: blend frames toward closed lips by c [n] (mouthClose = jawOpen, lip openers removed,
    a light press) -- the closure rule of the training targets."""
    if not c.any():
        return w
    c = c[:, None]
    w[:, [_CLOSE]] = (1 - c) * w[:, [_CLOSE]] + c * np.maximum(w[:, [_CLOSE]], w[:, [_JAW]])
    w[:, _OPENERS] *= 1 - c
    w[:, _PRESS] = np.maximum(w[:, _PRESS], c * 0.2)
    return w


# ------------------------------------------------------------------------------------------------ emotion
# Per emotion: ICT channel targets at intensity 1 (upper face and mouth corners only; the lips stay the
# speech model's). Sources: FACS action units of the basic emotions (Ekman & Friesen), mapped to ARKit.
EMOTIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"mouthSmile": 0.65, "cheekSquint": 0.5, "eyeSquint": 0.3, "mouthDimple": 0.2, "browOuterUp": 0.1},
    "sad": {"browInnerUp": 0.7, "browDown": 0.15, "mouthFrown": 0.55, "mouthShrugLower": 0.15,
            "eyeSquint": 0.1, "eyeLookDown": 0.1},
    "angry": {"browDown": 0.8, "eyeSquint": 0.35, "noseSneer": 0.25, "mouthFrown": 0.3, "mouthPress": 0.15,
              "eyeWide": 0.1},
    "surprised": {"browInnerUp": 0.8, "browOuterUp": 0.8, "eyeWide": 0.7, "jawOpen": 0.08},
    "fearful": {"browInnerUp": 0.8, "browOuterUp": 0.35, "eyeWide": 0.6, "mouthStretch": 0.35,
                "mouthFrown": 0.15},
    "disgusted": {"noseSneer": 0.55, "browDown": 0.4, "mouthUpperUp": 0.2, "mouthFrown": 0.35,
                  "cheekSquint": 0.3, "eyeSquint": 0.3},
}
_EMO_VEC = {}
for _e, _t in EMOTIONS.items():
    _v = np.zeros(len(ICT_NAMES), np.float32)
    for _n, _x in _t.items():
        _v[_idx(_n)] = _x
    _EMO_VEC[_e] = _v


class Emotion:
    """Expression over time: a name (+ intensity), or keyframes ``[(time_s, name, intensity), ...]`` blended
    linearly between keys (held before the first and after the last)."""

    def __init__(self, emotion="neutral", intensity: float = 0.7):
        keys = [(0.0, emotion, intensity)] if isinstance(emotion, str) else list(emotion)
        if not keys:
            raise BadInput("emotion keyframes: none given")
        for k in keys:
            if len(k) != 3 or k[1] not in EMOTIONS:
                raise BadInput(f"emotion must be one of {'|'.join(EMOTIONS)} (as (time, name, intensity)), "
                               f"got {k[1] if len(k) == 3 else k!r}")
            if not 0 <= float(k[2]) <= 1:
                raise BadInput(f"--intensity must lie in 0..1, got {k[2]}")
        keys = sorted(keys, key=lambda k: float(k[0]))
        self.times = np.array([float(k[0]) for k in keys])
        self.vecs = np.stack([_EMO_VEC[k[1]] * float(k[2]) for k in keys])
        self.neutral = not self.vecs.any()

    def at(self, t: np.ndarray) -> np.ndarray:
        """[n, 53] expression targets at times t [n]."""
        if len(self.times) == 1:
            return np.broadcast_to(self.vecs[0], (len(t), len(ICT_NAMES)))
        return np.stack([np.interp(t, self.times, v) for v in self.vecs.T], 1)

    def apply(self, w: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Upper face: at least the emotion's value; mouth corners: added on top of speech (so a smile
        survives the speech model's rest-pose corners)."""
        if self.neutral:
            return w
        e = self.at(t)
        upper = [i for i in range(len(ICT_NAMES)) if i not in MOUTH]
        w[:, upper] = np.maximum(w[:, upper], e[:, upper])
        w[:, MOUTH] = np.clip(w[:, MOUTH] + e[:, MOUTH], 0, 1)
        return w


# --------------------------------------------------------------------------------------------------- head
@dataclass(frozen=True)
class HeadConfig:
    nod_gain: float = 0.035  # rad of downward pitch per unit loudness onset (stress)
    nod_hz: float = 2.2  # the nod's damped oscillation (a head is heavy)
    phrase_turn: tuple[float, float, float] = (0.03, 0.07, 0.04)  # rad sd of the pitch/yaw/roll target at a phrase start
    drift: tuple[float, float, float] = (0.010, 0.018, 0.010)  # rad sd of the slow idle drift
    drift_s: float = 2.5
    follow_s: float = 0.6  # time constant of the turn toward a phrase target


class Head:
    """Head rotation (pitch, yaw, roll) in rad per frame from speech probability and loudness."""

    def __init__(self, fps: float, seed: int = 0, cfg: HeadConfig = HeadConfig()):
        self.fps, self.cfg = fps, cfg
        self.phrase_rng, self.drift_rng = (np.random.default_rng(s) for s in np.random.SeedSequence([seed, 7]).spawn(2))
        self.speaking = False
        self.quiet = 0.0  # s since speech stopped
        self.target = np.zeros(3)
        self.pose = np.zeros(3)
        self.loud_slow = None
        a = np.exp(-1 / (cfg.drift_s * fps))
        self.drift_ab = ([1 - a], [1, -a])
        self.zi_drift = np.zeros((3, 1))
        self.zi_drift2 = np.zeros((3, 1))
        # nod: damped second-order resonator driven by onset strength
        w0, zeta = 2 * np.pi * cfg.nod_hz / fps, 0.7
        r = np.exp(-zeta * w0)
        self.nod_ab = ([1 - 2 * r * np.cos(w0 * np.sqrt(1 - zeta ** 2)) + r * r],
                       [1, -2 * r * np.cos(w0 * np.sqrt(1 - zeta ** 2)), r * r])
        self.zi_nod = np.zeros(2)
        self.a_follow = np.exp(-1 / (cfg.follow_s * fps))
        self.phrase_starts: list[int] = []  # frame indices of phrase starts in the last call (for gaze)
        self.frame = 0

    def __call__(self, speech: np.ndarray, loud: np.ndarray) -> np.ndarray:
        n = len(speech)
        out = np.zeros((n, 3), np.float32)
        self.phrase_starts = []
        if n == 0:
            return out
        cfg = self.cfg
        onset = np.zeros(n)
        ls = self.loud_slow if self.loud_slow is not None else float(loud[0])
        a_slow = np.exp(-1 / (0.15 * self.fps))
        for i in range(n):  # per frame: phrase events and the loudness onset detector are recursive
            on = speech[i] > 0.5
            if on and not self.speaking and self.quiet > 0.25:  # a phrase starts after a pause
                self.target = self.phrase_rng.normal(0, 1, 3) * np.array(cfg.phrase_turn)
                self.phrase_starts.append(i)
            if not on and self.speaking:
                self.quiet = 0.0
            self.quiet = 0.0 if on else self.quiet + 1 / self.fps
            if self.quiet > 1.0:  # a long pause: drift back toward the rest pose
                self.target *= 0.98
            self.speaking = on
            onset[i] = max(0.0, float(loud[i]) - ls) * speech[i]
            ls = a_slow * ls + (1 - a_slow) * float(loud[i])
            self.pose = self.a_follow * self.pose + (1 - self.a_follow) * self.target
            out[i] = self.pose
        self.loud_slow = ls
        nod, self.zi_nod = lfilter(*self.nod_ab, onset, zi=self.zi_nod)
        drift = np.empty((n, 3))
        noise = self.drift_rng.normal(0, 1, (n, 3))
        for k in range(3):  # two one-poles in cascade: a drift, not a jitter
            d1, self.zi_drift[k] = lfilter(*self.drift_ab, noise[:, k], zi=self.zi_drift[k])
            drift[:, k], self.zi_drift2[k] = lfilter(*self.drift_ab, d1, zi=self.zi_drift2[k])
        # sd of unit white noise through two identical one-poles (impulse response (1-a)^2 (n+1) a^n):
        # rescale to the configured sd
        a = 1 - self.drift_ab[0][0]
        drift *= np.array(cfg.drift) / np.sqrt((1 - a) ** 4 * (1 + a * a) / (1 - a * a) ** 3)
        out[:, 0] += cfg.nod_gain * nod  # positive pitch = head down (a nod on stress)
        out += drift
        self.frame += n
        return out.astype(np.float32)
