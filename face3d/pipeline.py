"""Photos -> fits -> fit folders: ``image → detect → fit → export`` for one photo or a batch.

    result = face3d.fit("photo.jpg")                    # FitResult (the largest face)
    save_fit(result, "out/", image="photo.jpg")          # mesh.glb, mesh.obj, params.json, landmarks.json, overlay.png
    fit_images(["a.jpg", "photos/"], "out/")             # a batch: out/<name>/ per photo, out/summary.json

The solver itself is ``face3d.fit``; this module adds reading photos, the detector, saving and batches.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from .camera import Camera, exif_focal_35mm
from .detect import Detector, load_image
from .errors import BadFit, NoFace
from .formats.image import read_photo
from .threads import one_blas_thread, one_thread
from .fit import FitResult, fit_detection, mesh_vertices


def fit(image, all_faces: bool = False, detector: Detector | None = None, model=None, correspondence=None,
        refine: bool = True, same_person: bool = False, face: int = 0, box=None) -> FitResult | list[FitResult]:
    """Fit the face model to a photo (path, PIL image or array): the largest face, the ``face``-th largest
    (0 = the largest), the face in ``box`` ((x, y, width, height) pixels), or every face (``all_faces``,
    largest first; small faces beside large ones are looked for at several scales). ``refine``: then estimate lighting and an albedo map (``face3d.refine``;
    a refinement that fails keeps the landmark fit and prints one warning line). ``same_person``: ``image``
    is a list of photos of one person -> a list of fits sharing one identity and one albedo. ``model`` / ``correspondence`` default to the installed ones (loaded
    once per process); ``detector`` to a process-wide image-mode detector. Raises NoFace when there is no
    face, BadInput for an unreadable file, BadFit when no sane fit came out."""
    from .correspondence import load_correspondence
    from .model import load_model

    model = model or load_model()
    corr = correspondence or load_correspondence(model)
    if same_person:
        return _fit_same_person(list(image), detector, model, corr, refine)
    if isinstance(image, (str, os.PathLike)):
        rgb, size = read_photo(image)
    else:
        rgb = load_image(image)
        size = (rgb.shape[1], rgb.shape[0])
    name = f"{image}" if isinstance(image, (str, os.PathLike)) else "the image"
    faces = _faces(detector or default_detector(), rgb, size, name, all_faces, face, box)
    h, w = rgb.shape[:2]
    focal = exif_focal_35mm(image)
    camera = Camera.for_image(w, h, focal)
    try:
        results = [fit_detection(d, camera, corr) for d in (faces if all_faces else faces[:1])]
    except BadFit as e:
        raise BadFit(f"{name}: {e}") from None
    if refine:
        results = [_refined([rgb], [r], model, name)[0] for r in results]
    if size != (w, h):  # a huge photo was decoded reduced: report in its own pixels
        results = [to_original_pixels(r, Camera.for_image(*size, focal)) for r in results]
    return results if all_faces else results[0]


def _faces(detector: Detector, rgb: np.ndarray, size: tuple[int, int], name: str, all_faces: bool, face: int,
           box) -> list:
    """The detections to fit, largest first (see ``fit``); raises NoFace."""
    if box is not None:
        x, y, bw, bh = (float(b) for b in box)
        s = rgb.shape[1] / size[0]  # a huge photo is decoded reduced: the box is in its own pixels
        found = detector.detect_in_box(rgb, np.array([x, y, x + bw, y + bh]) * s)
        if found is None:
            raise NoFace(f"{name}: no face found in the box {x:g},{y:g},{bw:g},{bh:g}")
        return [found]
    faces = detector.detect(rgb, every_face=all_faces or face > 0)
    if not faces:
        raise NoFace(f"{name}: no face found")
    if face >= len(faces):
        raise NoFace(f"{name}: face {face} asked for, but {len(faces)} found (0 = the largest)")
    return faces if all_faces else faces[face:face + 1]


def _refined(rgbs: list[np.ndarray], results: list[FitResult], model, name: str) -> list[FitResult]:
    """``face3d.refine`` on fits; on failure the landmark fits unchanged and one warning line."""
    import sys

    from .refine import refine_same_person

    try:
        return refine_same_person(rgbs, results, model)
    except Exception as e:  # noqa: BLE001 - a refinement problem must never lose the landmark fit
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"face3d: warning: {name}: refinement skipped ({reason}); the landmark fit is kept", file=sys.stderr)
        return results


def _fit_same_person(images: list, detector, model, corr, refine: bool) -> list[FitResult]:
    """Photos of one person: each fitted alone, then one identity (the mean of theirs) for all, and one
    albedo from all of them (``refine_same_person``)."""
    fits = [fit(im, detector=detector, model=model, correspondence=corr, refine=False) for im in images]
    identity = np.mean([f.identity for f in fits], 0).astype(np.float32)
    fits = [replace(f, identity=identity) for f in fits]
    if not refine:
        return fits
    rgbs = [read_photo(im)[0] if isinstance(im, (str, os.PathLike)) else load_image(im) for im in images]
    return _refined(rgbs, fits, model, ", ".join(str(i) for i in images[:3]) + ("..." if len(images) > 3 else ""))


def to_original_pixels(result: FitResult, camera: Camera) -> FitResult:
    """A fit made on a reduced copy of a photo, in the pixels of the original (``camera``): the 3D pose
    is unchanged (same field of view), the 2D points are scaled about the pixel corners."""
    s = camera.width / result.camera.width
    mp = result.mediapipe478.copy()
    mp[:, :2] = (mp[:, :2] + 0.5) * s - 0.5
    mp[:, 2] *= s
    scale = lambda xy: None if xy is None else (xy + 0.5) * s - 0.5  # noqa: E731
    return replace(result, camera=camera, ibug68=scale(result.ibug68), ibug68_3d=scale(result.ibug68_3d),
                   mediapipe478=mp)


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
    png = None
    if result.albedo is not None:  # refined: albedo.png, views.png, textured meshes and overlay
        from PIL import Image

        from .texture import png_bytes

        png = png_bytes(result.albedo)
        (folder / "albedo.png").write_bytes(png)
    save_mesh(folder / "mesh.glb", unexpressed, model, weights=result.expression, texture=png)
    save_mesh(folder / "mesh.obj", unexpressed, model, weights=result.expression, texture=png)
    write_fit_files(folder, result)
    if rgb is not None and png is not None and (rgb.shape[1], rgb.shape[0]) == (result.camera.width, result.camera.height):
        from .refine import textured_overlay, views_image

        Image.fromarray(views_image(rgb, result, model)).save(folder / "views.png")
        textured_overlay(rgb, result, model).save(folder / "overlay.png")
    elif rgb is not None:
        overlay(rgb, result, model).save(folder / "overlay.png")


def overlay(rgb: np.ndarray, result: FitResult, model):
    """The photo ``rgb [H, W, 3]`` with the fitted face and its 68 landmarks drawn over it (PIL image)."""
    from .overlay import render_overlay

    h, w = rgb.shape[:2]
    cam, ibug = result.camera, result.ibug68
    if (w, h) != (cam.width, cam.height):  # a huge photo decoded reduced: draw at the decoded size
        s = w / cam.width
        cam, ibug = Camera(cam.focal * s, (w - 1) / 2, (h - 1) / 2, w, h), (ibug + 0.5) * s - 0.5
    posed = mesh_vertices(model, result, posed=True)
    return render_overlay(default_render_context(), rgb, posed, model.region_faces("narrow_face"), cam, ibug)


_RENDER = None


def default_render_context():
    """The process's offscreen GL context for overlays, created on first use (like ``default_detector``)."""
    global _RENDER
    if _RENDER is None:
        from .render import RenderContext

        _RENDER = RenderContext()
    return _RENDER


# ---------------------------------------------------------------------------------------------- batches

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def fit_item(image: str, folder: str, overwrite: bool = False, all_faces: bool = False, refine: bool = True,
             face: int = 0, box=None) -> str:
    """One batch item: fit ``image`` and save its folder (the work function of ``face3d.batch``, which runs it
    on one torch and one BLAS thread)."""
    return str(save_fit(fit(image, all_faces, refine=refine, face=face, box=box), folder, image=image,
                        overwrite=overwrite))


def save_same_person(results: list[FitResult], folder: str | os.PathLike, images: list, model=None,
                     overwrite: bool = False) -> Path:
    """The fits of ``fit(images, same_person=True)``: ``folder/<name>/`` per photo (one identity, one
    albedo; pose, expression, lighting per photo), written as one unit."""
    from .batch import output_names
    from .formats.atomic import atomic_dir
    from .model import load_model

    model = model or load_model()
    with atomic_dir(folder, "fit", overwrite) as tmp:
        for name, r, im in zip(output_names([Path(i) for i in images]), results, images):
            _write_fit(tmp / name, r, model, read_photo(im)[0])
    return Path(folder)


def fit_images(inputs: list[str | os.PathLike], output: str | os.PathLike, all_faces: bool = False,
               overwrite: bool = False, engine: str = "local", address: str | None = None,
               progress: bool = True, on_error=None, refine: bool = True, same_person: bool = False,
               face: int = 0, box=None):
    """Fit photos and save each fit. One image file: ``output`` is its fit folder. Several images, a
    folder or a ``@list.txt``: ``output/<name>/`` per image and ``output/summary.json`` (``face3d.batch``);
    a re-run skips finished items. Returns the list of batch records (``face3d.batch.run``)."""
    from . import batch

    images = batch.expand_inputs(inputs, IMAGE_SUFFIXES)
    if same_person:  # one identity and albedo from all photos: one unit of work, not a batch
        with one_thread(), one_blas_thread():  # as face3d.batch runs every item
            results = fit([str(i) for i in images], refine=refine, same_person=True)
            folder = save_same_person(results, output, [str(i) for i in images], overwrite=overwrite)
        return [{"input": str(i), "output": str(Path(folder) / n), "status": "done"}
                for i, n in zip(images, batch.output_names(images))]
    single = len(images) == 1 and len(inputs) == 1 and Path(inputs[0]).is_file() and not str(inputs[0]).startswith("@")
    return batch.run(images, "face3d.pipeline:fit_item", output, single=single, overwrite=overwrite,
                     options={"all_faces": all_faces, "refine": refine, "face": face,
                              "box": None if box is None else list(box)}, engine=engine, address=address, progress=progress,
                     label="fitting", on_error=on_error)
