"""Procedural liveliness laid over the speech model's output: blinks, brow motion, eye saccades.

None of it is learned. All randomness comes from one seeded generator consumed event by event (a blink,
a gaze shift), never frame by frame, so the result is deterministic for a seed and identical whether the
frames arrive in one piece or in many (streaming). Intervals are random (not periodic), so nothing loops:

- blinks: intervals 1.5-7 s (log-normal, median ~3.5 s), 150-250 ms long (fast close, slower open),
  12 % double blinks, slight left/right asymmetry;
- gaze: fixations of 0.4-3 s, then a 1-2 frame saccade to a new small offset (eyeLook* <= 0.25); at
  each phrase start (given by the caller) the eyes return to the camera for 0.8 s;
- brows: inner/outer raise following the low-passed speech activity (the model's jawOpen / lower-lip
  motion) plus a slow random drift, at most ~0.3.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from face3d.names import ICT_NAMES

_I = {n: i for i, n in enumerate(ICT_NAMES)}
_BLINK = [_I["eyeBlink_L"], _I["eyeBlink_R"]]
_BROW_INNER = [_I["browInnerUp_L"], _I["browInnerUp_R"]]
_BROW_OUTER = [_I["browOuterUp_L"], _I["browOuterUp_R"]]
_SPEECH = [_I["jawOpen"], _I["mouthLowerDown_L"], _I["mouthLowerDown_R"]]
# gaze (x = subject's left, y = up) -> eyeLook shapes: looking left = left eye out + right eye in
LOOK_BACK_S = 0.8  # the eyes hold the camera this long at a phrase start
_LOOK = {
    "x+": [_I["eyeLookOut_L"], _I["eyeLookIn_R"]], "x-": [_I["eyeLookIn_L"], _I["eyeLookOut_R"]],
    "y+": [_I["eyeLookUp_L"], _I["eyeLookUp_R"]], "y-": [_I["eyeLookDown_L"], _I["eyeLookDown_R"]],
}


class Alive:
    """Stateful overlay: ``alive(frames [n, 53]) -> [n, 53]`` for consecutive frames at ``fps``."""

    def __init__(self, fps: float, seed: int = 0):
        self.fps = fps
        # one generator per event stream, so that their draws never interleave differently per chunking
        self.blink_rng, self.gaze_rng, self.drift_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
        self.frame = 0
        self.phrases: list[float] = []  # phrase start times (s) still able to affect the gaze
        self.blinks: list[tuple[float, float, float]] = []  # (start s, duration s, depth)
        self.next_blink = self.blink_rng.uniform(0.5, 3.0)
        self.gaze: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]  # (start s, x, y)
        self.next_gaze = self.gaze_rng.uniform(0.4, 3.0)
        # speech activity low-pass (~0.4 s) and brow drift low-pass (~2 s), as first-order IIR filters
        self.a_speech = np.exp(-1.0 / (0.4 * fps))
        self.a_drift = np.exp(-1.0 / (2.0 * fps))
        self.zi_speech = np.zeros(1)
        self.zi_drift = np.zeros(1)

    def _schedule(self, until: float) -> None:
        """Draw blink and gaze events up to time ``until`` (s)."""
        while self.next_blink <= until:
            t = self.next_blink
            rng = self.blink_rng
            dur = rng.uniform(0.15, 0.25)
            self.blinks.append((t, dur, rng.uniform(0.9, 1.0)))
            if rng.random() < 0.12:  # double blink
                self.blinks.append((t + dur + rng.uniform(0.08, 0.2), rng.uniform(0.15, 0.2), 0.9))
            self.next_blink = self.blinks[-1][0] + np.clip(rng.lognormal(np.log(3.5), 0.4), 1.5, 7.0)
        while self.next_gaze <= until:
            rng = self.gaze_rng
            r = rng.uniform(0, 1) ** 0.7 * 0.22
            phi = rng.uniform(0, 2 * np.pi)
            # about every other fixation returns near the centre (the listener / camera)
            scale = 0.25 if rng.random() < 0.5 else 1.0
            self.gaze.append((self.next_gaze, scale * r * np.cos(phi), scale * r * np.sin(phi) * 0.6))
            self.next_gaze += rng.uniform(0.4, 3.0)

    def _blink_curve(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t)
        for start, dur, depth in self.blinks:
            u = (t - start) / dur
            close = np.clip(u / 0.4, 0, 1)  # 40 % closing, 60 % opening
            opening = np.clip((1 - u) / 0.6, 0, 1)
            curve = np.where(u < 0.4, close, opening) * ((u >= 0) & (u <= 1))
            out = np.maximum(out, depth * np.sin(curve * np.pi / 2) ** 2)
        return out

    def _gaze_curve(self, t: np.ndarray) -> np.ndarray:
        starts = np.array([g[0] for g in self.gaze])
        xy = np.array([g[1:] for g in self.gaze])
        k = np.searchsorted(starts, t, side="right") - 1
        prev = np.maximum(k - 1, 0)
        a = np.clip((t - starts[k]) * self.fps / 2.0, 0, 1)  # saccade over ~2 frames
        g = (1 - a)[:, None] * xy[prev] + a[:, None] * xy[k]
        # phrase starts: the eyes come back to the camera for LOOK_BACK_S, a 2-frame saccade each way.
        # An overlay, not a change of the drawn schedule, so any chunking gives the same gaze.
        back = np.zeros_like(t)
        for p in self.phrases:
            u = (t - p) * self.fps / 2.0
            back = np.maximum(back, np.clip(np.minimum(u, (p + LOOK_BACK_S - t) * self.fps / 2.0), 0, 1))
        return g * (1 - back)[:, None]

    def __call__(self, frames: np.ndarray, phrase_starts=()) -> np.ndarray:
        """``phrase_starts``: frame indices within ``frames`` where a phrase begins (gaze returns)."""
        n = len(frames)
        t = (self.frame + np.arange(n)) / self.fps
        self.phrases = [p for p in self.phrases if p + LOOK_BACK_S >= t[0] - 1] if n else self.phrases
        self.phrases += [float(t[i]) for i in phrase_starts]
        self.frame += n
        if n == 0:
            return frames
        self._schedule(t[-1])
        out = np.array(frames, np.float32, copy=True)

        blink = self._blink_curve(t)
        out[:, _BLINK[0]] = np.maximum(out[:, _BLINK[0]], blink)
        out[:, _BLINK[1]] = np.maximum(out[:, _BLINK[1]], np.clip(blink * 0.97, 0, 1))

        g = self._gaze_curve(t)
        for (key, idx), v in zip(_LOOK.items(), (g[:, 0], -g[:, 0], g[:, 1], -g[:, 1])):
            out[:, idx] = np.maximum(out[:, idx], np.clip(v, 0, 1)[:, None])

        speech = frames[:, _SPEECH].mean(1)
        act, self.zi_speech = lfilter([1 - self.a_speech], [1, -self.a_speech], speech, zi=self.zi_speech)
        drift, self.zi_drift = lfilter([1 - self.a_drift], [1, -self.a_drift],
                                       self.drift_rng.normal(0, 1, n), zi=self.zi_drift)
        raise_ = np.clip(0.6 * act + 0.35 * drift + 0.03, 0, 0.3)
        out[:, _BROW_INNER] = np.maximum(out[:, _BROW_INNER], raise_[:, None])
        out[:, _BROW_OUTER] = np.maximum(out[:, _BROW_OUTER], 0.6 * raise_[:, None])
        self.blinks = [b for b in self.blinks if b[0] + b[1] >= t[-1]]
        self.gaze = self.gaze[-2:]
        return np.clip(out, 0, 1)
