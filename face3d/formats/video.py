"""Video input for ``face3d track``: frames with their real times (PyAV), and the audio to carry through.

    video = open_video("clip.mp4")          # or a folder of frames (``fps`` gives their times)
    for time_s, rgb in video.frames():      # uint8 [H, W, 3] upright (rotation metadata applied)
        ...

Times come from each frame's presentation timestamp, so variable-frame-rate files keep their timing;
the first frame is at 0. A file that is not a video, has no video stream, holds no frame or breaks off
part-way is ``BadInput`` naming it (one line).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import BadInput

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MAX_SIDE = 8192  # larger frames are refused before decoding
FOLDER_FPS = 30.0  # frame rate given to a folder of frames unless the caller says otherwise


@dataclass
class VideoInfo:
    """What is known about a clip before decoding it: ``width`` x ``height`` of the upright frames,
    ``fps`` (the nominal rate; frame times may vary), ``frames`` the expected count (0 when unknown),
    ``duration`` seconds (0 when unknown), ``rotation`` degrees applied to the decoded frames,
    ``has_audio`` whether an audio stream is present."""

    width: int
    height: int
    fps: float
    frames: int
    duration: float
    rotation: int
    has_audio: bool


class Video:
    """A clip (file or folder of frames). ``info`` before decoding; ``frames()`` decodes in order."""

    def __init__(self, path: Path, info: VideoInfo, images: list[Path] | None = None):
        self.path, self.info, self._images = path, info, images

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """(time in seconds from the first frame, uint8 [H, W, 3] RGB upright) per frame."""
        if self._images is not None:
            from .image import read_photo

            for i, p in enumerate(self._images):
                rgb = read_photo(p)[0]
                if rgb.shape[:2] != (self.info.height, self.info.width):
                    raise BadInput(f"{p}: {rgb.shape[1]}x{rgb.shape[0]}, the first frame is "
                                   f"{self.info.width}x{self.info.height}; the frames of a folder must match")
                yield i / self.info.fps, rgb
            return
        yield from _decode(self.path, self.info.rotation)


def open_video(path: str | os.PathLike, fps: float | None = None) -> Video:
    """Open a video file (anything PyAV decodes) or a folder of frames (sorted by name, ``fps`` or 30 a
    second). Raises BadInput naming the path for a missing file, a non-video, a video without a video
    stream, or an empty folder."""
    path = Path(path)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not images:
            raise BadInput(f"{path}: the folder holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        from .image import read_photo

        first = read_photo(images[0])[0]
        rate = float(fps or FOLDER_FPS)
        if not 0 < rate <= 1000:
            raise BadInput(f"--fps {fps}: a frame rate lies in (0, 1000]")
        h, w = first.shape[:2]
        return Video(path, VideoInfo(w, h, rate, len(images), len(images) / rate, 0, False), images)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            if not c.streams.video:
                raise BadInput(f"{path}: holds no video stream")
            s = c.streams.video[0]
            if s.codec_context is None:  # a codec ffmpeg does not know
                raise BadInput(f"{path}: unsupported video codec")
            w, h = s.codec_context.width, s.codec_context.height
            rate = float(s.average_rate or s.guessed_rate or 0) or 30.0
            duration = float(s.duration * s.time_base) if s.duration and s.time_base else (
                c.duration / 1e6 if c.duration else 0.0)
            frames = int(s.frames or round(duration * rate))
            has_audio = bool(c.streams.audio)
    except BadInput:
        raise
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not a readable video ({type(e).__name__})") from None
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise BadInput(f"{path}: frame size {w}x{h} is outside 1..{MAX_SIDE}")
    rotation = _rotation(path)
    if rotation in (90, 270):
        w, h = h, w
    return Video(path, VideoInfo(w, h, rate, frames, duration, rotation, has_audio))


def _rotation(path: Path) -> int:
    """Clockwise degrees (0, 90, 180, 270) that turn the stored frames upright (the display matrix), from
    the first decoded frame (PyAV 14+: ``VideoFrame.rotation``, counter-clockwise)."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            for frame in c.decode(video=0):
                return int(round(-float(getattr(frame, "rotation", 0) or 0) / 90)) % 4 * 90
    except (av.error.FFmpegError, OSError, ValueError):
        pass
    return 0


def _decode(path: Path, rotation: int) -> Iterator[tuple[float, np.ndarray]]:
    import av

    t0 = None
    count = 0
    last = -1.0
    try:
        with av.open(str(path), metadata_errors="replace") as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"  # frame-threaded decoding: the detector waits less
            for frame in c.decode(s):
                t = frame.time
                if t is None:
                    t = count / float(s.average_rate or 30)
                t0 = t if t0 is None else t0
                t = float(t - t0)
                if t <= last:  # a repeated or out-of-order timestamp: keep times increasing
                    t = last + 1e-3
                last = t
                rgb = frame.to_ndarray(format="rgb24")
                if rotation:
                    rgb = np.ascontiguousarray(np.rot90(rgb, -rotation // 90))
                count += 1
                yield t, rgb
    except (av.error.FFmpegError, OSError, ValueError) as e:
        if count == 0:
            raise BadInput(f"{path}: not a readable video ({type(e).__name__})") from None
        raise BadInput(f"{path}: the video breaks off after frame {count} ({type(e).__name__}: truncated or "
                       f"damaged)") from None
    if count == 0:
        raise BadInput(f"{path}: the video holds no frames")


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int, int] | None:
    """The clip's first audio stream as (float32 [channels, n] samples, sample rate, channels), or None
    when there is none or it cannot be decoded (the outputs then go without sound)."""
    import av

    path = Path(path)
    if path.is_dir():
        return None
    try:
        with av.open(str(path), metadata_errors="replace") as c:
            if not c.streams.audio:
                return None
            a = c.streams.audio[0]
            if a.codec_context is None:
                return None
            rate = a.codec_context.sample_rate or 44100
            channels = min(2, a.codec_context.channels or 1)
            resampler = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono", rate=rate)
            chunks = []
            for frame in c.decode(a):
                for f in resampler.resample(frame):
                    chunks.append(f.to_ndarray())
            for f in resampler.resample(None):
                chunks.append(f.to_ndarray())
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    if not chunks:
        return None
    samples = np.concatenate(chunks, 1).astype(np.float32)
    return (samples, int(rate), channels) if samples.shape[1] else None


def video_writer(path: Path, width: int, height: int, fps: float, audio: tuple[np.ndarray, int, int] | None):
    """An H.264 (yuv420p) + AAC MP4 writer: ``w.add(rgb uint8 [height, width, 3], time_s)`` per frame, then
    ``w.close()``. ``width`` / ``height`` must be even. Frames keep their times (variable rate kept)."""
    return _Writer(path, width, height, fps, audio)


class _Writer:
    def __init__(self, path: Path, width: int, height: int, fps: float, audio):
        import av

        self._av = av
        self.container = av.open(str(path), "w", format="mp4")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=self.rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"preset": "veryfast", "crf": "21"}
        self.tb = Fraction(1, 90000)  # fine enough for variable frame times
        self.stream.codec_context.time_base = self.tb
        self.audio = audio
        self._last_pts = -1
        if audio is not None:
            self.astream = self.container.add_stream("aac", rate=audio[1])
            self.astream.layout = "stereo" if audio[2] == 2 else "mono"

    def add(self, rgb: np.ndarray, time_s: float) -> None:
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = max(int(round(time_s / self.tb)), self._last_pts + 1)
        self._last_pts = pts
        frame.pts, frame.time_base = pts, self.tb
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.audio is not None:
            samples, rate, channels = self.audio
            step = 1024
            layout = "stereo" if channels == 2 else "mono"
            for start in range(0, samples.shape[1], step):
                chunk = np.ascontiguousarray(samples[:, start:start + step])
                frame = self._av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate, frame.pts = rate, start
                for packet in self.astream.encode(frame):
                    self.container.mux(packet)
            for packet in self.astream.encode():
                self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is a temporary that is removed anyway
            pass
