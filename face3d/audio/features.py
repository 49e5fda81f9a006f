"""Audio in: decode any file to 16 kHz mono float32 (in bounded-memory chunks) and turn it into log-mel frames.

Every audio path of face3d goes through ``iter_audio`` (PyAV, i.e. ffmpeg: wav, flac, mp3, ogg, any
rate, any channel count) so that long files never sit in memory whole, and through ``LogMel`` so that
training, offline and streaming inference compute identical features.
"""
from __future__ import annotations

import functools
import os
import stat
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import av
import librosa
import numpy as np
import scipy.fft

from face3d.errors import BadInput

SAMPLE_RATE = 16000


def _bad(path, why: str) -> BadInput:
    return BadInput(" ".join(f"{path}: {why}".split()))


def _wav_header_samples(path: str) -> int | None:
    """16 kHz samples a PCM WAV header promises (ffmpeg silently clamps a truncated WAV to its size)."""
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() * SAMPLE_RATE // w.getframerate()
    except (wave.Error, EOFError, OSError, ZeroDivisionError):
        return None


def _mp3_header_samples(path: str) -> int | None:
    """16 kHz samples an MP3's Xing/Info/VBRI frame-count header promises, else None (without one,
    ffmpeg's duration is a bitrate estimate and proves nothing)."""
    with open(path, "rb") as f:
        head = f.read(10)
        skip = 0
        if head[:3] == b"ID3" and len(head) == 10:  # ID3v2 tag: a 28-bit "syncsafe" size
            skip = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F)
        f.seek(skip)
        first = f.read(4096)
    if not (len(first) > 4 and first[0] == 0xFF and first[1] & 0xE0 == 0xE0):
        return None
    if not any(tag in first[:200] for tag in (b"Xing", b"Info", b"VBRI")):
        return None
    seconds = audio_duration(path)
    return int(seconds * SAMPLE_RATE) if seconds > 0 else None


def _ogg_is_complete(path: str) -> bool:
    """Whether an Ogg file ends with a whole page flagged end-of-stream (a cut file ends mid-page or
    before its last page; ffmpeg then stops quietly at the last whole one)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 65307 - 4))  # the largest possible Ogg page, and a little
        tail = f.read()
    at = tail.rfind(b"OggS")
    if at < 0 or len(tail) < at + 27:
        return False
    n = tail[at + 26]
    if len(tail) < at + 27 + n:
        return False
    body = sum(tail[at + 27:at + 27 + n])
    return bool(tail[at + 5] & 0x04) and at + 27 + n + body == len(tail)


def _check_complete(path: str, total: int) -> None:
    """BadInput when a file is shorter than its own header says (ffmpeg decodes a cut file's first part
    without complaint): WAV and MP3 frame counts, Ogg's end-of-stream page."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"OggS":
        if not _ogg_is_complete(path):
            raise _bad(path, f"truncated Ogg file: it ends before its last page ({total / SAMPLE_RATE:.2f} s decoded)")
        return
    promised, kind = _wav_header_samples(path), "WAV"
    if promised is None:
        promised, kind = _mp3_header_samples(path), "MP3"
    # WAV: to the sample (10 ms slack); MP3: its frame count rounds to frames and encoder padding.
    slack = SAMPLE_RATE // 100 if kind == "WAV" else SAMPLE_RATE // 10
    if promised is not None and total < promised - slack:
        raise _bad(path, f"truncated {kind}: header promises {promised / SAMPLE_RATE:.2f} s, "
                         f"file holds {total / SAMPLE_RATE:.2f} s")


def audio_duration(path) -> float:
    """Duration in seconds that the container declares (0.0 if unknown); for progress bars."""
    try:
        with av.open(os.fspath(path), metadata_errors="replace") as c:
            return max(c.duration or 0, 0) / 1e6
    except (av.error.FFmpegError, OSError):
        return 0.0


MIN_RATE = 4000  # Hz: below this a file is no speech recording (a 1 Hz header would mean hours of audio)
MAX_SECONDS = 3 * 3600.0  # default cap on an input's duration (``iter_audio(max_seconds=...)`` overrides)


def _decode(path: str) -> Iterator[np.ndarray]:
    """Yield float32 mono 16 kHz pieces as ffmpeg decodes them."""
    with av.open(path, metadata_errors="replace") as container:  # damaged tags are no reason to fail
        if not container.streams.audio:
            raise _bad(path, "no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # a codec ffmpeg does not know
            raise _bad(path, "unsupported audio codec")
        rate = stream.codec_context.sample_rate or stream.rate or 0
        if rate < MIN_RATE:
            raise _bad(path, f"sample rate {rate} Hz is below {MIN_RATE} Hz: not a speech recording")
        # Keep the channels and average them here: ffmpeg's own downmix raises correlated stereo by 3 dB.
        # 1 s output frames: ffmpeg's ~1000-sample frames made the per-frame Python work cost as much as
        # the decoding itself (same samples, 40 % less CPU on a 60 s clip, measured).
        resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE, frame_size=SAMPLE_RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().mean(0)
        for out in resampler.resample(None):
            yield out.to_ndarray().mean(0)


def check_audio_file(path, max_seconds: float = MAX_SECONDS) -> None:
    """Raise BadInput (one line) unless ``path`` is a non-empty regular file whose declared duration is
    within ``max_seconds`` — cheap checks before any decoding (a FIFO would block, a device never ends)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _bad(path, "no such file") from None
    except OSError as e:
        raise _bad(path, f"cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _bad(path, "is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise _bad(path, "not a regular file")
    if st.st_size == 0:
        raise _bad(path, "empty file")
    declared = audio_duration(path)
    if declared > max_seconds:
        raise _bad(path, f"lasts {declared / 60:.0f} min, over the {max_seconds / 60:.0f} min limit")


def iter_audio(path, chunk_seconds: float = 10.0, max_seconds: float = MAX_SECONDS) -> Iterator[np.ndarray]:
    """Decode ``path`` lazily; yields float32 [n] chunks of ``chunk_seconds`` (the last one shorter).

    16 kHz mono, nominally in [-1, 1]. Raises BadInput (one line) for a missing, empty, non-regular,
    non-audio, undecodable or truncated file, one holding no samples or non-finite samples, a sample rate
    under ``MIN_RATE``, or more than ``max_seconds`` of audio. Memory is bounded by one chunk.
    """
    path = os.fspath(path)
    check_audio_file(path, max_seconds)
    want = max(1, int(chunk_seconds * SAMPLE_RATE))
    buf: list[np.ndarray] = []
    held = total = 0
    try:
        for piece in _decode(path):
            if not np.isfinite(piece).all():
                raise _bad(path, "holds NaN or infinite samples")
            buf.append(piece)
            held += len(piece)
            if total + held > max_seconds * SAMPLE_RATE:
                raise _bad(path, f"holds more than the {max_seconds / 60:.0f} min limit of audio")
            while held >= want:
                joined = np.concatenate(buf)
                yield joined[:want]
                buf, held = [joined[want:]], held - want
                total += want
    except av.error.FFmpegError as e:
        raise _bad(path, f"cannot decode audio ({e.strerror or type(e).__name__})") from None
    if held:
        yield np.concatenate(buf)
        total += held
    if total == 0:
        raise _bad(path, "no audio samples")
    _check_complete(path, total)


def load_audio(path) -> np.ndarray:
    """Whole file as float32 [n] at 16 kHz mono (for short clips; use ``iter_audio`` for long ones)."""
    return np.concatenate(list(iter_audio(path)))


@dataclass(frozen=True)
class LogMel:
    """Log-mel filterbank: 25 ms Hann windows every 20 ms, no centring (frame m covers samples
    [hop*m, hop*m + win)), so that frames can be computed incrementally from a stream. 20 ms (not the
    usual 10 ms) hop: the face needs no finer timing, and it halves the cost of features and model."""

    n_mels: int = 80
    n_fft: int = 400
    win: int = 400
    hop: int = 320
    fmin: float = 20.0
    fmax: float = 7600.0
    floor: float = 1e-6  # power floor: digital silence maps to log(floor), not -inf

    def n_frames(self, n_samples: int) -> int:
        """Frames computable from ``n_samples`` samples."""
        return 0 if n_samples < self.win else 1 + (n_samples - self.win) // self.hop

    @functools.cached_property
    def _filters(self) -> tuple[np.ndarray, np.ndarray]:
        """(Hann window [win], mel filterbank [n_fft // 2 + 1, n_mels]), built once per instance."""
        fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        return librosa.filters.get_window("hann", self.win, fftbins=True).astype(np.float32), fb.T.copy()

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """float32 [n] 16 kHz -> float32 [n_frames(n), n_mels] natural-log mel power (= librosa's
        ``melspectrogram(center=False)``, computed here with a cached filterbank: it is called per chunk)."""
        n = self.n_frames(len(audio))
        if n == 0:
            return np.zeros((0, self.n_mels), np.float32)
        window, fb = self._filters
        frames = librosa.util.frame(np.ascontiguousarray(audio, np.float32), frame_length=self.win,
                                    hop_length=self.hop, axis=0)[:n]
        spec = scipy.fft.rfft(frames * window, n=self.n_fft, axis=1, workers=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        return np.log(power @ fb + self.floor).astype(np.float32)
