"""A fit's folder: ``params.json`` (identity, expression by name, pose, camera, image size) and
``landmarks.json`` (``ibug68`` fitted, 2D convention; ``ibug68_3d`` / ``ibug68_3d_cm`` fitted, 3D convention,
pixels / camera cm; ``gaze``; ``mediapipe478`` detected) — written by ``face3d fit``, read back by
``face3d animate --face`` and the Python API (``read_fit``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..errors import BadInput
from ..names import ARKIT_NAMES, ict_target_names, ict_to_arkit

CONVENTIONS = ("model: cm, y up, face looking down +z; camera space = R(rotation_axis_angle) @ model + "
               "translation_cm, camera at the origin looking down -z; pixels: x right, y down, pixel centres "
               "at integers")
IDENTITY_LIMIT = 10.0  # |identity| beyond this many prior standard deviations is not a face


def fit_params(result) -> dict:
    """A ``FitResult`` as the JSON data of ``params.json``."""
    from scipy.spatial.transform import Rotation

    pitch, yaw, roll = Rotation.from_rotvec(np.asarray(result.rotation, np.float64)).as_euler("XYZ", degrees=True)
    cam = result.camera
    return {
        "identity": [round(float(v), 6) for v in result.identity],
        "expression": {n: round(float(v), 6) for n, v in zip(ict_target_names(), result.expression)},
        "expression_arkit": {n: round(float(v), 6) for n, v in zip(ARKIT_NAMES, ict_to_arkit(result.expression))},
        "pose": {"rotation_axis_angle": [float(v) for v in result.rotation],
                 "translation_cm": [float(v) for v in result.translation],
                 "pitch_yaw_roll_deg": [round(float(a), 3) for a in (pitch, yaw, roll)]},
        "camera": cam.to_dict(),
        "image_size": [cam.width, cam.height],
        "conventions": CONVENTIONS,
    }


def fit_landmarks(result) -> dict:
    """The JSON data of ``landmarks.json``."""
    out = {"ibug68": np.round(result.ibug68, 3).tolist(), "mediapipe478": np.round(result.mediapipe478, 3).tolist()}
    # 3D-convention points (fixed model points, AFLW2000-3D style): pixels and camera space (cm); the gaze.
    for key, digits in (("ibug68_3d", 3), ("ibug68_3d_cm", 4), ("gaze", 5)):
        value = getattr(result, key, None)
        if value is not None:
            out[key] = np.round(np.asarray(value, np.float64), digits).tolist()
    return out


def write_fit_files(folder: Path, result) -> None:
    """``params.json`` and ``landmarks.json`` into ``folder`` (a temporary folder of ``atomic_dir``)."""
    (folder / "params.json").write_text(json.dumps(fit_params(result), indent=1))
    (folder / "landmarks.json").write_text(json.dumps(fit_landmarks(result)))
    if getattr(result, "lighting", None) is not None:
        (folder / "lighting.json").write_text(json.dumps(fit_lighting(result), indent=1))


SH_CONVENTION = ("second-order real SH, 9 coefficients per linear-RGB channel, camera space (camera looking "
                 "down -z, y up), order (1, y, z, x, xy, yz, 3z^2-1, xz, x^2-y^2) with the clamped-cosine band "
                 "factors (1, 2/3, 1/4) and the SH normalisation folded into the basis: a surface of linear "
                 "albedo a and unit normal n shows a * (basis(n) . sh); mean irradiance over the face's skin = 1 "
                 "(face3d.render.shading.sh_basis)")


def fit_lighting(result) -> dict:
    """The JSON data of ``lighting.json``: ``sh [9][3]`` and its convention."""
    return {"sh": np.round(np.asarray(result.lighting, np.float64), 6).tolist(), "convention": SH_CONVENTION}


def read_lighting(folder: str | Path) -> np.ndarray | None:
    """float32 [9, 3] SH of ``folder/lighting.json``, or None when the fit was not refined."""
    path = Path(folder) / "lighting.json"
    if not path.is_file():
        return None
    data = _read_json(path, "")
    try:
        sh = np.asarray(data["sh"], np.float32).reshape(9, 3)
    except (KeyError, TypeError, ValueError):
        raise BadInput(f"{path}: no valid 'sh' [9][3] list in it") from None
    if not np.isfinite(sh).all() or np.abs(sh).max() > 1e3:
        raise BadInput(f"{path}: 'sh' holds values that are not finite or beyond ±1000")
    return sh


def _read_json(path: Path, hint: str):
    if not path.is_file():
        if path.parent.is_dir() and any((p / path.name).is_file() for p in path.parent.glob("face_*")):
            faces = ", ".join(sorted(p.name for p in path.parent.glob("face_*") if (p / path.name).is_file()))
            raise BadInput(f"{path.parent}: holds several fits ({faces}); pick one of them")
        raise BadInput(f"{path}: not found ({hint})")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{path}: not valid JSON ({type(e).__name__})") from None


def _vector(data: dict, key: str, n: int, path: Path, limit: float) -> np.ndarray:
    try:
        v = np.asarray(data[key], np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError):
        raise BadInput(f"{path}: no valid '{key}' list in it") from None
    if v.shape != (n,):
        raise BadInput(f"{path}: '{key}' must hold {n} numbers, it holds {v.size}")
    if not np.isfinite(v).all():
        raise BadInput(f"{path}: '{key}' holds values that are not finite numbers")
    if np.abs(v).max(initial=0) > limit:
        raise BadInput(f"{path}: '{key}' holds values beyond ±{limit:g}")
    return v.astype(np.float32)


def read_identity(folder: str | Path) -> np.ndarray:
    """float32 [100] identity of the fit in ``folder`` (a folder written by ``face3d fit``)."""
    folder = Path(folder)
    if folder.is_file():
        raise BadInput(f"{folder}: is a file; a fit folder (written by `face3d fit`) is needed")
    path = folder / "params.json"
    data = _read_json(path, "a fit folder holds one, written by `face3d fit`")
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a face3d params.json")
    return _vector(data, "identity", 100, path, IDENTITY_LIMIT)


def read_fit(folder: str | Path):
    """The ``FitResult`` saved in ``folder``."""
    from ..fit import FitResult

    folder = Path(folder)
    identity = read_identity(folder)
    params = _read_json(folder / "params.json", "")
    lms = _read_json(folder / "landmarks.json", "the fit folder is incomplete")
    try:
        names = ict_target_names()
        expression = np.array([float(params["expression"][n]) for n in names], np.float32)
        pose, cam = params["pose"], params["camera"]
        w, h = (int(v) for v in params["image_size"])
        camera = Camera(float(cam["focal_px"]), float(cam["cx"]), float(cam["cy"]), w, h)
        rotation = np.asarray(pose["rotation_axis_angle"], np.float32).reshape(3)
        translation = np.asarray(pose["translation_cm"], np.float32).reshape(3)
        ibug68 = np.asarray(lms["ibug68"], np.float32).reshape(68, 2)
        mp = np.asarray(lms["mediapipe478"], np.float32).reshape(-1, 3)
        extra = {k: np.asarray(lms[k], np.float32).reshape(shape) for k, shape in
                 (("ibug68_3d", (68, 2)), ("ibug68_3d_cm", (68, 3)), ("gaze", (2, 2))) if k in lms}
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{folder}: params.json or landmarks.json is incomplete ({type(e).__name__})") from None
    if not (np.isfinite(expression).all() and (expression >= 0).all() and (expression <= 1).all()):
        raise BadInput(f"{folder / 'params.json'}: expression weights must lie in [0, 1]")
    result = FitResult(identity, expression, rotation, translation, camera, ibug68, mp, **extra)
    lighting = read_lighting(folder)
    if lighting is not None and (folder / "albedo.png").is_file():
        from PIL import Image

        try:
            with Image.open(folder / "albedo.png") as im:
                albedo = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise BadInput(f"{folder / 'albedo.png'}: not a readable PNG ({type(e).__name__})") from None
        result.albedo, result.lighting = albedo, lighting
    return result


def read_albedo(folder: str | Path) -> bytes | None:
    """The PNG bytes of the fit's ``albedo.png`` (the ``face3d.texture`` atlas), or None when the fit was
    not refined. BadInput when it is there but not a PNG of the atlas's size."""
    from PIL import Image

    from ..texture import ATLAS_H, ATLAS_W

    path = Path(folder) / "albedo.png"
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        import io

        with Image.open(io.BytesIO(data)) as im:
            ok = im.format == "PNG" and im.size == (ATLAS_W, ATLAS_H)
            im.load()
    except Exception as e:  # PIL raises many kinds for damaged files
        raise BadInput(f"{path}: not a readable PNG ({type(e).__name__})") from None
    if not ok:
        raise BadInput(f"{path}: not a {ATLAS_W}x{ATLAS_H} PNG albedo written by `face3d fit`")
    return data
