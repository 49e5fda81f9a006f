"""Speech -> animated face: audio file -> 53 expression weights per frame -> GLB (morph-target animation) / CSV.

    animate("speech.wav", glb="talk.glb", csv="talk.csv", face="out/", fps=30, seed=0)

``face`` is a fit folder (``face3d fit`` output), a ``FitResult`` in memory, an identity [100], or None
(the mean face).

The audio is decoded and run through the streaming model chunk by chunk (``face3d.audio.stream``), so an
hour of audio needs memory for its weights only (~25 MB at 30 fps), never for its samples. The CSV uses
the Live Link Face layout: ``Timecode,BlendshapeCount,`` + the 52 ARKit columns, one row per frame.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from face3d.audio.features import SAMPLE_RATE, audio_duration, iter_audio
from face3d.audio.stream import Streamer
from face3d.errors import BadInput
from face3d.threads import one_thread


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


def face_identity(face) -> np.ndarray | None:
    """identity [100] of ``face``: a fit folder, a ``FitResult``, an identity array, or None (mean face)."""
    if face is None:
        return None
    if isinstance(face, (str, os.PathLike)):
        from face3d.formats.fitdir import read_identity

        return read_identity(face)
    identity = np.asarray(getattr(face, "identity", face), np.float32).reshape(-1)
    if identity.shape != (100,) or not np.isfinite(identity).all():
        raise BadInput(f"identity must be 100 finite numbers, got shape {identity.shape}")
    return identity


def animate(audio_path, glb=None, csv=None, face=None, fps: int = 30, seed: int = 0,
            progress: bool = True, overwrite: bool = False, model=None) -> list[Path]:
    """Run speech -> face on ``audio_path`` and write the requested outputs together (all or none);
    returns their paths. Outputs, the face and the assets are checked before any audio is decoded."""
    from face3d.formats.atomic import atomic_files, check_output_file, distinct, output_path
    from face3d.formats.gltf import write_glb
    from face3d.formats.livelink import write_csv

    if fps not in (30, 60):
        raise BadInput(f"--fps must be 30 or 60, not {fps}")
    outputs = [output_path(p) if p is not None else None for p in (glb, csv)]
    glb, csv = outputs
    if glb is None and csv is None:
        raise BadInput("nothing to write: give a .glb output and/or a CSV")
    if glb is not None and glb.suffix.lower() != ".glb":
        raise BadInput(f"{glb}: the animation output must be a .glb file")
    if csv is not None and csv.suffix.lower() != ".csv":
        raise BadInput(f"{csv}: the curves output must be a .csv file")
    distinct([*outputs, Path(audio_path)])
    for p in outputs:
        if p is not None:
            check_output_file(p, overwrite, inputs=[Path(audio_path)])
    identity = face_identity(face)
    if glb is not None:
        from face3d.model import load_model

        model = model or load_model()
    weights = speech_weights(audio_path, fps, seed, progress)
    paths = [p for p in outputs if p is not None]
    with atomic_files(paths, overwrite) as tmps:
        out = dict(zip(paths, tmps))
        if glb is not None:
            with torch.no_grad():
                ident = None if identity is None else torch.from_numpy(identity)[None].to(model.neutral.dtype)
                vertices = model.blend(ident)[0].float().numpy()
            times = np.arange(len(weights), dtype=np.float32) / fps
            write_glb(out[glb], vertices, model.expression_basis.detach().float().cpu().numpy(), model, weights[0],
                      (times, weights))
        if csv is not None:
            write_csv(out[csv], weights, fps)
    return paths
