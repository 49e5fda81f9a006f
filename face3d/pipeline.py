"""Photos -> fits -> fit folders: ``image → detect → fit → export`` for one photo or a batch.

    result = face3d.fit("photo.jpg")                    # FitResult (the largest face)
    save_fit(result, "out/", image="photo.jpg")          # mesh.glb, mesh.obj, params.json, landmarks.json, overlay.png
    fit_images(["a.jpg", "photos/"], "out/")             # a batch: out/<name>/ per photo, out/summary.json

The solver itself is ``face3d.fit``; this module adds reading photos, the detector, saving and batches.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .camera import Camera, exif_focal_35mm, project
from .detect import Detector, load_image
from .errors import NoFace
from .fit import FitResult, fit_detection, mesh_vertices


def fit(image, all_faces: bool = False, detector: Detector | None = None, model=None, correspondence=None
        ) -> FitResult | list[FitResult]:
    """Fit the face model to a photo (path, PIL image or array): the largest face, or every face
    (``all_faces``, largest first). ``model`` / ``correspondence`` default to the installed ones (loaded
    once per process); ``detector`` to a process-wide image-mode detector. Raises NoFace when there is no
    face, BadInput for an unreadable file, BadFit when no sane fit came out."""
    from .correspondence import load_correspondence
    from .model import load_model

    model = model or load_model()
    corr = correspondence or load_correspondence(model)
    rgb = load_image(image)
    faces = (detector or default_detector()).detect(rgb)
    if not faces:
        name = f"{image}" if isinstance(image, (str, os.PathLike)) else "the image"
        raise NoFace(f"{name}: no face found")
    h, w = rgb.shape[:2]
    camera = Camera.for_image(w, h, exif_focal_35mm(image))
    results = [fit_detection(d, camera, corr) for d in (faces if all_faces else faces[:1])]
    return results if all_faces else results[0]


_DETECTOR: Detector | None = None


def default_detector() -> Detector:
    """The process's image-mode detector, created on first use (one per process, e.g. per batch worker)."""
    global _DETECTOR
    if _DETECTOR is None:
        _DETECTOR = Detector("image")
    return _DETECTOR


def save_fit(result: FitResult | list[FitResult], folder: str | os.PathLike, image=None, model=None,
             overwrite: bool = False) -> Path:
    """Write a fit's folder atomically (it appears complete or not at all) and return it.

    mesh.glb (ARKit-named morph targets, weights = the fitted expression), mesh.obj + mesh.mtl — unposed,
    model space; params.json, landmarks.json (``face3d.formats.fitdir``); overlay.png (the fit drawn on
    ``image``, when given). A list (``all_faces``) gives ``folder/face_0``, ... written as one unit.
    ``model`` is the model the fit was made with (default: the installed one). ``folder`` must be new or
    empty, or with ``overwrite`` face3d's own earlier output.
    """
    from .formats.atomic import atomic_dir
    from .model import load_model

    model = model or load_model()
    rgb = None if image is None else load_image(image)
    results = result if isinstance(result, list) else [result]
    with atomic_dir(folder, "fit", overwrite) as tmp:
        for i, r in enumerate(results):
            _write_fit(tmp / f"face_{i}" if isinstance(result, list) else tmp, r, model, rgb)
    return Path(folder)


def _write_fit(folder: Path, result: FitResult, model, rgb: np.ndarray | None) -> None:
    from .formats.fitdir import write_fit_files
    from .formats.mesh import save_mesh

    folder.mkdir(exist_ok=True)
    unexpressed = mesh_vertices(model, result, expression=False)
    save_mesh(folder / "mesh.glb", unexpressed, model, weights=result.expression)
    save_mesh(folder / "mesh.obj", unexpressed, model, weights=result.expression)
    write_fit_files(folder, result)
    if rgb is not None:
        overlay(rgb, result, model).save(folder / "overlay.png")


def overlay(rgb: np.ndarray, result: FitResult, model):
    """The photo ``rgb [H, W, 3]`` with the fitted face and its 68 landmarks drawn over it (PIL image)."""
    import torch

    from .overlay import render_overlay

    posed = mesh_vertices(model, result, posed=True)
    pixels = project(torch.from_numpy(posed), result.camera).numpy()
    return render_overlay(rgb, posed, model.region_faces("narrow_face"), pixels, result.ibug68)


# ---------------------------------------------------------------------------------------------- batches

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def fit_item(image: str, folder: str, overwrite: bool = False, all_faces: bool = False) -> str:
    """One batch item: fit ``image`` and save its folder (the work function of ``face3d.batch``)."""
    return str(save_fit(fit(image, all_faces), folder, image=image, overwrite=overwrite))


def fit_images(inputs: list[str | os.PathLike], output: str | os.PathLike, all_faces: bool = False,
               overwrite: bool = False, engine: str = "local", address: str | None = None,
               progress: bool = True, on_error=None):
    """Fit photos and save each fit. One image file: ``output`` is its fit folder. Several images, a
    folder or a ``@list.txt``: ``output/<name>/`` per image and ``output/summary.json`` (``face3d.batch``);
    a re-run skips finished items. Returns the list of batch records (``face3d.batch.run``)."""
    from . import batch

    images = batch.expand_inputs(inputs, IMAGE_SUFFIXES)
    single = len(images) == 1 and len(inputs) == 1 and Path(inputs[0]).is_file() and not str(inputs[0]).startswith("@")
    return batch.run(images, "face3d.pipeline:fit_item", output, single=single, overwrite=overwrite,
                     options={"all_faces": all_faces}, engine=engine, address=address, progress=progress,
                     label="fitting", on_error=on_error)
