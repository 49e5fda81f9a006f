"""Playback time for the viewer: play / pause / scrub / loop / speed, slaved to the sound card when one plays.

With sound, the animation's time *is* the audio device's position (samples played / rate), so the two
cannot drift apart however long the clip; without it a monotonic clock drives the same logic. The clock
takes its time sources as arguments, so the sync is testable on a machine without a sound output.
"""
from __future__ import annotations

import time
from typing import Callable


class PlaybackClock:
    """Animation time in ``[0, duration]``.

    ``now``: seconds from a monotonic clock; ``audio_position``: seconds of audio played so far, or None
    (no sound). While audio plays at speed 1 the time follows it; at other speeds (or paused) the sound is
    muted by the caller and the monotonic clock takes over from the same time.
    """

    def __init__(self, duration: float, loop: bool = True, now: Callable[[], float] = time.monotonic,
                 audio_position: Callable[[], float] | None = None):
        self.duration, self.loop, self.speed = max(float(duration), 0.0), loop, 1.0
        self._now, self.audio_position = now, audio_position
        self.playing = duration > 0
        self._origin_time, self._origin_clock = 0.0, now()
        self._audio_offset = 0.0  # animation time minus audio position (set when the audio (re)starts)

    @property
    def following_audio(self) -> bool:
        return self.audio_position is not None and self.playing and self.speed == 1.0

    def _raw(self) -> float:
        if not self.playing:
            return self._origin_time
        if self.following_audio:
            return self.audio_position() + self._audio_offset
        return self._origin_time + (self._now() - self._origin_clock) * self.speed

    @property
    def time(self) -> float:
        t = self._raw()
        if self.duration <= 0:
            return 0.0
        if t >= self.duration:
            if self.loop:
                return t % self.duration
            return self.duration
        return max(t, 0.0)

    def _rebase(self, t: float) -> None:
        self._origin_time, self._origin_clock = t, self._now()
        if self.audio_position is not None:
            self._audio_offset = t - self.audio_position()

    def play(self) -> None:
        if not self.playing:
            t = self.time
            if not self.loop and t >= self.duration:
                t = 0.0
            self.playing = True
            self._rebase(t)

    def pause(self) -> None:
        if self.playing:
            t = self.time
            self.playing = False
            self._rebase(t)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, t: float) -> None:
        """Jump to ``t`` s (clamped); the caller moves the audio to the same place."""
        self._rebase(min(max(float(t), 0.0), self.duration))

    def step(self, dt: float) -> None:
        self.seek(self.time + dt)

    def set_speed(self, speed: float) -> None:
        t = self.time
        self.speed = min(max(float(speed), 0.125), 8.0)
        self._rebase(t)

    def set_loop(self, loop: bool) -> None:
        t = self.time
        self.loop = loop
        self._rebase(t)


class AudioOutput:
    """Plays float32 mono samples on the default sound output (``sounddevice``), and reports its position.

    ``AudioOutput.open(samples, rate)`` returns ``(output, None)`` or ``(None, reason)`` when the machine
    has no sound output; the viewer then plays silently and says so once.
    """

    def __init__(self, stream, samples, rate: int):
        self.stream, self.samples, self.rate = stream, samples, rate
        self.frame, self.muted = 0, False

    @classmethod
    def open(cls, samples, rate: int):
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:  # OSError: the PortAudio library itself is missing
            return None, f"no sound output ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'sounddevice'})"
        try:
            sd.query_devices(kind="output")
        except Exception as e:  # PortAudio raises its own error types for "no device"
            return None, f"no sound output device ({str(e).splitlines()[0]})"
        out = cls(None, samples, rate)

        def callback(data, frames, _time, _status):
            chunk = out.samples[out.frame:out.frame + frames]
            data[:] = 0
            if not out.muted:
                data[:len(chunk), 0] = chunk
            out.frame += frames

        try:
            out.stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", callback=callback)
            out.stream.start()
        except Exception as e:
            return None, f"the sound output could not be opened ({str(e).splitlines()[0]})"
        return out, None

    def position(self) -> float:
        """Seconds of audio handed to the device so far (minus its output latency)."""
        return max(self.frame / self.rate - float(getattr(self.stream, "latency", 0.0) or 0.0), 0.0)

    def seek(self, t: float) -> None:
        self.frame = int(max(t, 0.0) * self.rate)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
