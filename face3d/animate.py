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
from face3d.threads import one_blas_thread, one_thread


def speech_weights(audio_path, fps: int = 30, seed: int = 0, progress: bool = True) -> np.ndarray:
    """[T, 53] ICT weights (frame i at i / fps s, T = ceil(duration * fps)) for an audio file."""
    return speech_curves(audio_path, fps, seed, progress).weights


def speech_curves(audio_path, fps: int = 30, seed: int = 0, progress: bool = True, emotion="neutral",
                  intensity: float = 0.7, head: bool = True):
    """``Curves`` for an audio file: weights [T, 53] and head [T, 3] (pitch, yaw, roll rad; None with
    ``head=False``). ``emotion``: a name, or keyframes ``[(time_s, name, intensity), ...]``.

    Runs torch and numpy's BLAS on one thread (``face3d.threads``): the model's and the features' matrices
    are small, and OpenBLAS's idle threads spin on the second core (they doubled the CPU time, measured).
    """
    from face3d.curves import Curves

    streamer = Streamer(fps=fps, seed=seed, emotion=emotion, intensity=intensity, head=head)
    total = audio_duration(audio_path)
    out, rot = [], []
    console = Console(stderr=True)
    show = progress and console.is_terminal  # a non-terminal would get a stray blank line
    with Progress(TextColumn("speech -> face"), BarColumn(), TextColumn("{task.completed:.0f} s"),
                  TimeRemainingColumn(), console=console, disable=not show, transient=True) as bar:
        task = bar.add_task("", total=total or None)
        with one_thread(), one_blas_thread():
            for chunk in iter_audio(audio_path):
                out.append(streamer.push(chunk))
                rot.append(streamer.last_head)
                bar.advance(task, len(chunk) / SAMPLE_RATE)
            out.append(streamer.flush())
            rot.append(streamer.last_head)
    weights = np.concatenate(out)
    return Curves(np.arange(len(weights)) / fps, weights, np.concatenate(rot) if head else None)


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


def face_texture(face) -> bytes | None:
    """PNG bytes of ``face``'s albedo (a refined fit folder's ``albedo.png``, a refined ``FitResult``'s
    albedo), or None: the GLB then carries the skin material."""
    if face is None:
        return None
    if isinstance(face, (str, os.PathLike)):
        from face3d.formats.fitdir import read_albedo

        return read_albedo(face)
    albedo = getattr(face, "albedo", None)
    if albedo is None:
        return None
    from face3d.texture import png_bytes

    return png_bytes(albedo)


def _write_face_glb(path: Path, model, identity, curves, targets: str, name: str, texture: bytes | None) -> None:
    """The animated GLB of ``identity [100]`` (None: the mean face) playing ``curves``."""
    from face3d.formats.gltf import write_glb

    with torch.no_grad():
        ident = None if identity is None else torch.from_numpy(identity)[None].to(model.neutral.dtype)
        vertices = model.blend(ident)[0].float().numpy()
    tongue = 0.0 if curves.tongue is None else float(curves.tongue[0])
    write_glb(path, vertices, model, curves.weights[0], curves, targets=targets, tongue=tongue, animation_name=name,
              texture=texture)


def _outputs(glb, csv) -> tuple[Path | None, Path | None]:
    """The requested outputs as paths: a ``.glb`` and/or a ``.csv`` (BadInput otherwise)."""
    from face3d.formats.atomic import output_path

    glb, csv = (output_path(p) if p is not None else None for p in (glb, csv))
    if glb is None and csv is None:
        raise BadInput("nothing to write: give a .glb output and/or a CSV")
    if glb is not None and glb.suffix.lower() != ".glb":
        raise BadInput(f"{glb}: the animation output must be a .glb file")
    if csv is not None and csv.suffix.lower() != ".csv":
        raise BadInput(f"{csv}: the curves output must be a .csv file")
    return glb, csv


def _check_outputs(glb, csv, source, overwrite: bool) -> list:
    """``[glb, csv]`` once they are distinct from each other and from ``source`` and may be written."""
    from face3d.formats.atomic import check_output_file, distinct

    outputs = [glb, csv]
    distinct([*outputs, Path(source)])
    for p in outputs:
        if p is not None:
            check_output_file(p, overwrite, inputs=[Path(source)])
    return outputs


def animate(audio_path, glb=None, csv=None, face=None, fps: int = 30, seed: int = 0,
            progress: bool = True, overwrite: bool = False, model=None, emotion="neutral",
            intensity: float = 0.7, head: bool = True, targets: str = "arkit", texture: bytes | None = None
            ) -> list[Path]:
    """Run speech -> face on ``audio_path`` and write the requested outputs together (all or none);
    returns their paths. Outputs, the face and the assets are checked before any audio is decoded.
    ``texture``: PNG albedo for the GLB (default: ``face``'s, when it was refined)."""
    from face3d.audio.features import check_audio_file
    from face3d.formats.atomic import atomic_files
    from face3d.formats.livelink import write_csv

    if fps not in (30, 60):
        raise BadInput(f"fps must be 30 or 60, not {fps}")
    glb, csv = _outputs(glb, csv)
    check_audio_file(audio_path)
    outputs = _check_outputs(glb, csv, audio_path, overwrite)
    identity = face_identity(face)
    texture = texture if texture is not None else face_texture(face)
    if glb is not None:
        from face3d.model import load_model

        model = model or load_model()
    from face3d.audio.perform import Emotion

    Emotion(emotion, intensity)  # bad emotion/intensity: one line before any audio is decoded
    curves = speech_curves(audio_path, fps, seed, progress, emotion, intensity, head)
    paths = [p for p in outputs if p is not None]
    with atomic_files(paths, overwrite) as tmps:
        out = dict(zip(paths, tmps))
        if glb is not None:
            _write_face_glb(out[glb], model, identity, curves, targets, "speech", texture)
        if csv is not None:
            write_csv(out[csv], curves)
    return paths


def animate_curves(curves_path, glb=None, csv=None, face=None, targets: str = "arkit", overwrite: bool = False,
                   model=None) -> list[Path]:
    """``face3d animate --curves capture.csv``: a Live Link Face CSV (the iPhone's, FACEGOOD's, face3d's)
    played on ``face`` (as in ``animate``): the GLB animates the weights and, through the joints, the
    head and eyes; ``csv`` writes the curves back in face3d's layout. Returns the paths written."""
    from face3d.formats.atomic import atomic_files
    from face3d.formats.livelink import read_csv, write_csv

    glb, csv = _outputs(glb, csv)
    outputs = _check_outputs(glb, csv, curves_path, overwrite)
    identity = face_identity(face)
    texture = face_texture(face)
    curves = read_csv(curves_path)
    paths = [p for p in outputs if p is not None]
    with atomic_files(paths, overwrite) as tmps:
        out = dict(zip(paths, tmps))
        if glb is not None:
            from face3d.model import load_model

            _write_face_glb(out[glb], model or load_model(), identity, curves, targets, "capture", texture)
        if csv is not None:
            write_csv(out[csv], curves)
    return paths


# ---------------------------------------------------------------------------------------------- batches

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")


def animate_item(audio: str, dest: str, overwrite: bool = False, csv: bool = False, **options) -> list[Path]:
    """One batch item (the work function of ``face3d.batch``): ``dest`` (.glb), and with ``csv`` the Live
    Link CSV beside it, written together. ``options``: those of ``animate`` (face, fps, seed, emotion, ...)."""
    return animate(audio, glb=dest, csv=Path(dest).with_suffix(".csv") if csv else None, progress=False,
                   overwrite=overwrite, **options)


def animate_files(inputs: list, output, csv: bool = False, face=None, overwrite: bool = False,
                  engine: str = "local", address: str | None = None, progress: bool = True, on_error=None,
                  **options) -> list[dict]:
    """Animate many audio files (files, folders, ``@list.txt``) into ``output/<name>.glb`` (+ ``.csv``)
    and ``output/summary.json`` (``face3d.batch``: resumable, one bad file never stops the rest). ``face``
    is read once here and travels to the workers as its identity [100]. Returns the batch records."""
    from face3d import batch

    files = batch.expand_inputs(inputs, AUDIO_SUFFIXES)
    identity = face_identity(face)  # a bad --face is one error now, not one per item
    return batch.run(files, "face3d.animate:animate_item", output, overwrite=overwrite,
                     options={"csv": csv, "face": identity, "texture": face_texture(face), **options}, engine=engine, address=address,
                     progress=progress, label="animating", suffix=".glb", on_error=on_error)
