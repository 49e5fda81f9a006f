"""``face3d render``: the viewer's shaders offscreen (EGL) into a PNG, or an MP4 (H.264 yuv420p + AAC) via PyAV.

    render_file("talk.glb", "talk.mp4", audio="speech.wav", size=512, view="three-quarter")

An animation of keyframes ``0 .. duration`` at ``fps`` becomes ``round(duration * fps) + 1`` video frames
(``n / fps`` seconds). The audio is fitted to exactly that length: a longer file is trimmed, a shorter one
padded with silence, each said in one line (within one frame, silently). A still mesh with audio lasts as
long as the audio; a still mesh without audio is a 2 s video (a turntable turns once in it).
"""
from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import BadInput

AUDIO_RATE = 44100
STILL_SECONDS = 2.0


def load_audio_samples(path, rate: int = AUDIO_RATE) -> np.ndarray:
    """float32 [n] mono samples at ``rate`` Hz of a sound file (PyAV), BadInput naming it when unreadable."""
    import av

    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: audio not found")
    out = []
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            if not container.streams.audio:
                raise BadInput(f"{path}: holds no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(audio=0):
                for f in resampler.resample(frame):
                    out.append(f.to_ndarray().reshape(-1))
            for f in resampler.resample(None):
                out.append(f.to_ndarray().reshape(-1))
    except BadInput:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise BadInput(f"{path}: not a readable audio file ({type(e).__name__})") from None
    if not out or sum(len(o) for o in out) == 0:
        raise BadInput(f"{path}: holds no audio samples")
    return np.concatenate(out).astype(np.float32)


def fit_audio(samples: np.ndarray, rate: int, seconds: float, fps: float, name: str, say) -> np.ndarray:
    """``samples [n]`` trimmed or zero-padded to ``seconds``; says so in one line when off by over a frame."""
    n = int(round(seconds * rate))
    diff = len(samples) / rate - seconds
    if abs(diff) > 1.0 / fps:
        what = "trimmed to" if diff > 0 else "padded with silence to"
        say(f"face3d: note: {name} lasts {len(samples) / rate:.2f} s, the animation {seconds:.2f} s: audio {what} "
            f"the animation's length")
    return np.pad(samples[:n], (0, max(0, n - len(samples))))


def frame_plan(scene, fps: float | None, audio_seconds: float | None) -> tuple[float, int]:
    """``(fps, frame count)`` of the video of ``scene``."""
    fps = float(fps or scene.fps)
    if scene.animated:
        return fps, int(round(scene.duration * fps)) + 1
    seconds = audio_seconds if audio_seconds is not None else STILL_SECONDS
    return fps, max(1, int(round(seconds * fps)))


def _background(value: str | None, scene, state) -> None:
    """``--background``: a colour (#rrggbb or a name) or a photo (drawn with the fitted camera)."""
    if value is None:
        return
    from PIL import ImageColor

    try:
        rgb = ImageColor.getrgb(value)
        state.background = tuple(c / 255 for c in rgb[:3])
        return
    except ValueError:
        pass
    path = Path(value)
    if path.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".avi"):
        raise BadInput(f"{path}: a video background is not supported yet (use a photo or a colour)")
    if not path.is_file():
        raise BadInput(f"{value}: --background is neither a colour (#rrggbb, a name) nor an existing photo")
    if scene.camera is None:
        raise BadInput(f"{scene.path}: a photo background needs a fit folder (its camera places the face)")
    from ..formats.scene import read_image

    scene.photo = read_image(path, "background photo")
    state.fitted = state.photo = True


def render_file(path, output, audio=None, size: int = 512, view: str = "front", background: str | None = None,
                time_s: float = 0.0, fps: float | None = None, photo=None, overwrite: bool = False,
                progress: bool = True, say=None, scene=None, samples: int | None = None) -> Path:
    """Render ``path`` (mesh, animated GLB, fit folder) to ``output``: ``.png`` one frame at ``time_s``,
    ``.mp4`` the animation (with ``audio`` muxed as AAC). Written atomically; returns ``output``.
    ``samples``: anti-aliasing as ``SceneRenderer`` takes it (None: FXAA; 0: none; N >= 2: N-sample MSAA)."""
    from ..formats.atomic import atomic_files, check_output_file, distinct, output_path
    from ..formats.scene import read_scene
    from .draw import SceneRenderer, VIEWS, home_view, offscreen_context

    say = say or (lambda line: print(line, file=sys.stderr))
    output = output_path(output)
    suffix = output.suffix.lower()
    if suffix not in (".png", ".mp4"):
        raise BadInput(f"{output}: the output must be a .png or .mp4 file")
    if view not in (*VIEWS, "turntable"):
        raise BadInput(f"--view must be one of {', '.join((*VIEWS, 'turntable'))}, not {view!r}")
    if not 16 <= int(size) <= 4096:
        raise BadInput(f"--size must lie in 16 .. 4096, not {size}")
    size = int(size) + int(size) % 2  # yuv420p needs even sides
    inputs = [Path(path)] + ([Path(audio)] if audio else [])
    distinct([output, *inputs])
    check_output_file(output, overwrite, inputs=inputs)
    scene = scene or read_scene(path, photo)
    aa = samples
    samples = load_audio_samples(audio) if (audio and suffix == ".mp4") else None
    if audio and suffix == ".png":
        say("face3d: note: a PNG has no sound; --audio is ignored")
    state = home_view(scene, "front" if view == "turntable" else view)
    _background(background, scene, state)
    gl = offscreen_context()
    gl.__enter__()  # current for this render: another context in the process may have been made current since
    renderer = SceneRenderer(gl, scene)
    try:
        with atomic_files([output], overwrite) as (tmp,):
            if suffix == ".png":
                from PIL import Image
                Image.fromarray(renderer.render(size, size, state, time_s, aa)).save(tmp, format="PNG")
            else:
                rate, n = frame_plan(scene, fps, None if samples is None else len(samples) / AUDIO_RATE)
                if samples is not None:
                    samples = fit_audio(samples, AUDIO_RATE, n / rate, rate, Path(audio).name, say)
                _write_mp4(tmp, renderer, state, size, rate, n, samples, view == "turntable", progress, aa=aa)
    finally:
        renderer.release()
        gl.__exit__(None, None, None)
        gl.release()
    return output


def _write_mp4(path: Path, renderer, state, size: int, fps: float, n: int, samples, turntable: bool,
               progress: bool, aa: int | None = None) -> None:
    """Render ``n`` frames and encode them (libx264 veryfast, crf 20, yuv420p), then the AAC audio.

    Encoding runs in a thread of its own (PyAV lets go of the GIL while it converts and encodes) while the
    next frame renders; at most a few frames wait between the two."""
    import queue
    import threading

    import av
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    rate = Fraction(fps).limit_denominator(1001)
    console = Console(stderr=True)
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        video.codec_context.time_base = 1 / rate
        audio = None
        if samples is not None:
            audio = container.add_stream("aac", rate=AUDIO_RATE)
            audio.layout = "mono"
        frames: queue.Queue = queue.Queue(maxsize=3)
        failed: list[BaseException] = []

        def encode() -> None:
            try:
                while (item := frames.get()) is not None:
                    i, img = item
                    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                    frame.pts = i
                    for packet in video.encode(frame):
                        container.mux(packet)
                for packet in video.encode():
                    container.mux(packet)
            except BaseException as e:  # noqa: BLE001 - handed to the rendering thread, raised there
                failed.append(e)
                while frames.get() is not None:  # let the renderer finish putting
                    pass

        encoder = threading.Thread(target=encode, name="face3d-mp4-encoder", daemon=True)
        encoder.start()
        yaw0 = state.yaw
        try:
            with Progress(TextColumn("rendering"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
                          TimeRemainingColumn(), console=console, disable=not (progress and console.is_terminal),
                          transient=True) as bar:
                task = bar.add_task("", total=n)
                for i in range(n):
                    if failed:
                        break
                    if turntable:
                        state.yaw = yaw0 + 2 * math.pi * i / n
                    frames.put((i, renderer.render(size, size, state, i / fps, aa)))
                    bar.advance(task)
        finally:
            frames.put(None)
            encoder.join()
        if failed:
            raise failed[0]
        if audio is not None:
            step = 1024
            for k, start in enumerate(range(0, len(samples), step)):
                chunk = samples[start:start + step]
                frame = av.AudioFrame.from_ndarray(chunk[None].astype(np.float32), format="flt", layout="mono")
                frame.sample_rate = AUDIO_RATE
                frame.pts = start
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)


def check_mp4_output(mp4, glb, audio, overwrite: bool = False) -> None:
    """``face3d animate --mp4``: refuse a bad MP4 path before any speech is processed."""
    from ..formats.atomic import check_output_file, distinct, output_path

    mp4 = output_path(mp4, "--mp4")
    if mp4.suffix.lower() != ".mp4":
        raise BadInput(f"{mp4}: --mp4 wants a .mp4 file")
    distinct([mp4, Path(glb), Path(audio)])
    check_output_file(mp4, overwrite, inputs=[Path(audio)])
