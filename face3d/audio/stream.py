"""Streaming speech -> face: push 16 kHz audio chunks, get expression frames back.

    s = Streamer()                      # shipped weights, 30 fps, procedural liveliness on
    for chunk in microphone():          # float32 [n] at 16 kHz, any n
        frames = s.push(chunk)          # [k, 53] ICT weights in [0, 1], k >= 0
    frames = s.flush()                  # the frames still held back at the end

Latency: the frame for time t is returned by the ``push`` that brings the audio up to t + 100 ms at most
(80 ms model look-ahead + up to 20 ms to reach the next 50 Hz model token, between which frames are
interpolated), plus the caller's chunk length. ``tools/bench_audio.py`` measures it together with the
compute time per push.

Offline use is the same object fed with large chunks (``run``), so offline == streaming by construction.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from face3d.audio.alive import Alive
from face3d.audio.perform import Emotion, Head, Mouth, close_lips
from face3d.audio.vad import VAD
from face3d.curves import Curves
from face3d.audio.features import SAMPLE_RATE
from face3d.audio.model import N_OUT, PAD_SAMPLES, TOKEN_HZ, Audio2Face, load
from face3d.errors import BadInput
from face3d.resources import data_path

WEIGHTS = data_path("assets", "audio2face.pt")
_CACHE: dict[str, Audio2Face] = {}


def load_default(path: str | Path = WEIGHTS) -> Audio2Face:
    """The shipped model, or the weights at ``path`` (loaded once per process)."""
    key = str(path)
    if key not in _CACHE:
        _CACHE[key] = load(path)
    return _CACHE[key]


class Streamer:
    """Incremental audio -> [k, 53] weight frames at ``fps`` (frame i is the face at time i / fps).

    ``alive`` adds procedural blinks, brow and eye motion (``face3d.audio.alive``), seeded by ``seed``;
    ``vad`` gates the mouth by voice activity and closes detected bilabials, ``emotion``/``intensity`` lay
    an expression over it, ``head`` makes head rotation (``last_head`` after each ``push``/``flush``;
    ``face3d.audio.perform``). ``push`` returns only the weights, so a caller that wants the head reads
    ``last_head`` straight after each call.
    """

    def __init__(self, model: Audio2Face | None = None, fps: int = 30, alive: bool = True, seed: int = 0,
                 vad: bool = True, head: bool = True, emotion="neutral", intensity: float = 0.7):
        self.model = model or load_default()
        self.fps = fps
        self.alive = Alive(fps, seed) if alive else None
        self.vad = VAD() if vad else None
        self.vad_state = self.vad.start() if vad else None
        self.mouth = Mouth(fps) if vad else None
        self.emotion = emotion if isinstance(emotion, Emotion) else Emotion(emotion, intensity)
        self.head = Head(fps, seed) if head else None
        self.last_head = np.zeros((0, 3), np.float32)  # head rows [k, 3] (pitch, yaw, roll rad) of the last call
        self.mel = self.model.features
        self.state = self.model.start()
        self._audio = np.zeros(PAD_SAMPLES, np.float32)  # samples not yet turned into mel frames
        self._samples = 0  # real samples pushed
        # per token: 53 model outputs, speech probability, level (see vad.VAD.step)
        self._tokens = np.zeros((0, N_OUT + 2), np.float32)  # not yet passed by the frame clock
        self._token0 = -self.model.cfg.delay  # face-time index (x 20 ms) of self._tokens[0]
        self._frame = 0  # next frame index to emit

    @torch.inference_mode()
    def _advance(self, audio: np.ndarray) -> None:
        buf = np.concatenate([self._audio, audio])
        n = self.mel.n_frames(len(buf))
        if n:
            mel_np = self.mel(buf)
            w, self.state = self.model.step(torch.from_numpy(mel_np)[None], self.state)
            extra = (self.vad.step(mel_np, self.vad_state) if self.vad is not None
                     else np.tile(np.array([1.0, 0.0], np.float32), (n, 1)))
            self._tokens = np.concatenate([self._tokens, np.concatenate([w[0].numpy(), extra], 1)])
            buf = buf[n * self.mel.hop:]
        self._audio = buf

    def _emit(self, last_time: float) -> np.ndarray:
        """Frames up to ``last_time`` s that the held tokens can interpolate, [k, 53]."""
        # frame f (time f / fps) lies between tokens j and j + 1, j = floor(f / fps * 50 - token0)
        limit = min((len(self._tokens) - 1 + self._token0) / TOKEN_HZ, last_time)  # last time both exist
        count = max(0, int(np.floor(limit * self.fps + 1e-9)) + 1 - self._frame)
        if count == 0 or len(self._tokens) < 2:
            self.last_head = np.zeros((0, 3), np.float32)
            return np.zeros((0, N_OUT), np.float32)
        pos = (self._frame + np.arange(count)) / self.fps * TOKEN_HZ - self._token0
        j = np.minimum(np.floor(pos).astype(int), len(self._tokens) - 2)
        a = (pos - j)[:, None].astype(np.float32)
        frames = (1 - a) * self._tokens[j] + a * self._tokens[j + 1]
        self._frame += count
        # drop tokens no later frame needs (keep the one just below the next frame time)
        drop = max(0, int(np.floor(self._frame / self.fps * TOKEN_HZ - self._token0)))
        self._tokens = self._tokens[drop:]
        self._token0 += drop
        return self._perform(frames, (self._frame - count + np.arange(count)) / self.fps)

    def _perform(self, frames: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Model frames [k, 55] at times t -> the face [k, 53]; the head rows go to ``last_head``."""
        w, speech, level = frames[:, :N_OUT], frames[:, N_OUT], frames[:, N_OUT + 1]
        close = np.zeros(len(w), np.float32)
        if self.mouth is not None:
            w, close = self.mouth(w, speech)
        w = self.emotion.apply(np.array(w, np.float32), t)
        w = close_lips(w, close)
        phrases = ()
        if self.head is not None:
            self.last_head = self.head(speech, level)
            phrases = self.head.phrase_starts
        w = np.clip(w, 0, 1)
        return self.alive(w, phrases) if self.alive is not None else w

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Feed float32 [n] 16 kHz mono samples (or [n, channels], mixed down here); returns the frames now
        complete, [k, 53]. Non-finite samples are bad input: they would poison the model's state."""
        audio = np.asarray(audio, np.float32)
        if audio.ndim == 2:
            audio = audio.mean(1)  # [n, channels]: interleaved samples would read as speech at twice the rate
        elif audio.ndim != 1:
            raise BadInput(f"Streamer.push takes [n] or [n, channels] samples, not shape {list(audio.shape)}")
        if not np.isfinite(audio).all():
            raise BadInput("Streamer.push: the audio holds NaN or infinite samples")
        self._samples += len(audio)
        self._advance(audio)
        return self._emit(float("inf"))

    def flush(self) -> np.ndarray:
        """End of stream: the remaining frames, up to the audio's end (frame times < duration)."""
        duration = self._samples / SAMPLE_RATE
        tail = int(round((self.model.cfg.lookahead_s + 2 / TOKEN_HZ) * SAMPLE_RATE))
        self._advance(np.zeros(tail, np.float32))
        return self._emit(duration - 1e-6)

    def run(self, chunks: Iterable[np.ndarray]) -> np.ndarray:
        """Offline: all frames for an iterable of chunks, [T, 53] with T = ceil(duration * fps)."""
        return self.run_curves(chunks).weights

    def run_curves(self, chunks: Iterable[np.ndarray]) -> Curves:
        """Offline: ``Curves`` (times, weights, head or None) for an iterable of chunks."""
        w, h = [], []
        for c in chunks:
            w.append(self.push(c))
            h.append(self.last_head)
        w.append(self.flush())
        h.append(self.last_head)
        w = np.concatenate(w)
        return Curves(np.arange(len(w)) / self.fps, w, np.concatenate(h) if self.head is not None else None)
