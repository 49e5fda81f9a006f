"""Speech -> animated face: audio file -> 53 expression weights per frame -> GLB (morph-target animation) / CSV.

    animate("speech.wav", glb="talk.glb", csv="talk.csv", face_dir="out/", fps=30, seed=0)

The audio is decoded and run through the streaming model chunk by chunk (``face3d.audio.stream``), so an
hour of audio needs memory for its weights only (~25 MB at 30 fps), never for its samples. The CSV uses
the Live Link Face layout: ``Timecode,BlendshapeCount,`` + the 52 ARKit columns, one row per frame.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from face3d.audio.features import SAMPLE_RATE, audio_duration, iter_audio
from face3d.audio.stream import Streamer
from face3d.errors import BadInput
from face3d.io import atomic_file
from face3d.names import LIVELINK_COLUMNS, ict_to_arkit
from face3d.threads import one_thread

TIMECODE_FPS = 30  # Live Link Face timecodes count 30 frames a second; faster rows get a sub-frame fraction


def speech_weights(audio_path, fps: int = 30, seed: int = 0, progress: bool = True) -> np.ndarray:
    """[T, 53] ICT weights (frame i at i / fps s, T = ceil(duration * fps)) for an audio file.

    Runs torch on one thread (``face3d.threads.one_thread``): the model's matrices are small.
    """
    streamer = Streamer(fps=fps, seed=seed)
    total = audio_duration(audio_path)
    out = []
    console = Console(stderr=True)
    show = progress and console.is_terminal  # a non-terminal would get a stray blank line
    with Progress(TextColumn("speech -> face"), BarColumn(), TextColumn("{task.completed:.0f} s"),
                  TimeRemainingColumn(), console=console, disable=not show, transient=True) as bar:
        task = bar.add_task("", total=total or None)
        with one_thread():
            for chunk in iter_audio(audio_path):
                out.append(streamer.push(chunk))
                bar.advance(task, len(chunk) / SAMPLE_RATE)
            out.append(streamer.flush())
    return np.concatenate(out)


def load_identity(face_dir) -> np.ndarray:
    """identity [100] from FIT_DIR/params.json (written by ``face3d fit``)."""
    path = Path(face_dir) / "params.json"
    try:
        identity = np.asarray(json.loads(path.read_text())["identity"], np.float32).reshape(-1)
    except FileNotFoundError:
        raise BadInput(f"{path}: not found (--face wants a folder written by `face3d fit`)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadInput(f"{path}: no valid 'identity' list in it") from None
    if identity.shape != (100,) or not np.isfinite(identity).all():
        raise BadInput(f"{path}: 'identity' must hold 100 finite numbers, got {identity.size}")
    return identity


def timecodes(n: int, fps: int) -> list[str]:
    """Live Link Face ``HH:MM:SS:FF.fff`` for frames 0..n-1 at ``fps`` (FF counts 30 per second)."""
    out = []
    for i in range(n):
        ticks = i * TIMECODE_FPS / fps  # in timecode frames
        whole = int(ticks + 1e-6)
        s, ff = divmod(whole, TIMECODE_FPS)
        sub = round((ticks - whole) * 1000) % 1000
        out.append(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}.{sub:03d}")
    return out


def write_csv(path, weights: np.ndarray, fps: int) -> Path:
    """Write ICT ``weights [T, 53]`` as a Live Link Face CSV (ARKit columns, tongueOut = 0), atomically."""
    arkit = ict_to_arkit(weights)
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(",".join(("Timecode", "BlendshapeCount", *LIVELINK_COLUMNS)) + "\n")
        for tc, row in zip(timecodes(len(arkit), fps), arkit):
            f.write(f"{tc},{len(row)}," + ",".join(f"{v:.6f}" for v in row) + "\n")
    return Path(path)


def animate(audio_path, glb=None, csv=None, face_dir=None, fps: int = 30, seed: int = 0,
            progress: bool = True) -> list[Path]:
    """Run speech -> face on ``audio_path`` and write the requested outputs; returns their paths."""
    if fps not in (30, 60):
        raise BadInput(f"--fps must be 30 or 60, not {fps}")
    if glb is not None and Path(glb).suffix.lower() != ".glb":
        raise BadInput(f"{glb}: the animation output must be a .glb file")
    identity = load_identity(face_dir) if face_dir else None
    weights = speech_weights(audio_path, fps, seed, progress)
    written = []
    if glb is not None:
        from face3d.export import save_mesh
        from face3d.model import load_model

        model = load_model()
        with torch.no_grad():
            ident = None if identity is None else torch.from_numpy(identity)[None]
            vertices = model.blend(ident)[0].numpy()
        times = np.arange(len(weights), dtype=np.float32) / fps
        written.append(save_mesh(glb, vertices, model, weights[0], animation=(times, weights)))
    if csv is not None:
        written.append(write_csv(csv, weights, fps))
    return written
