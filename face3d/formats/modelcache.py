"""The ICT-FaceKit model cache: the upstream OBJ files parsed once into one uncompressed float32 ``.npz``
(``ict_facekit.npz`` in ``face3d.assets.home()``), which loads in milliseconds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AssetMissing
from .atomic import atomic_file

MODEL_FORMAT = 1  # bump when the .npz layout changes, so that old caches are rebuilt
REQUIRED = ("format", "neutral", "identity", "expression", "faces", "uv_faces", "uvs", "material_names",
            "face_materials", "landmarks68", "mirror")


def write_model_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (uncompressed: loading must take well under a second)."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def read_model_cache(path: Path) -> dict[str, np.ndarray]:
    """The cache's arrays. A truncated, corrupt or outdated cache raises ``AssetMissing`` naming the fix."""
    from ..assets import INSTALL_HINT, REINSTALL_HINT

    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise AssetMissing(f"the ICT-FaceKit face model is not installed ({path}): {INSTALL_HINT}") from None
    except Exception as e:  # truncated or corrupt: zipfile.BadZipFile, EOFError, ValueError, OSError
        raise AssetMissing(f"{path}: damaged model cache ({type(e).__name__}); {REINSTALL_HINT}") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing or int(arrays["format"]) != MODEL_FORMAT:
        raise AssetMissing(f"{path}: outdated or incomplete model cache; {REINSTALL_HINT}")
    return arrays


def model_cache_is_current(path: Path) -> bool:
    """True when ``path`` holds a complete cache of the current format."""
    try:
        read_model_cache(path)
        return True
    except AssetMissing:
        return False


def derived_cache(name: str, key: str, build) -> dict[str, np.ndarray]:
    """Arrays derived from the installed model, kept in ``face3d.assets.home() / name``: read back when the
    file was written for ``key``, else ``build()`` (a dict of arrays) and written atomically beside the
    model cache (in a read-only home they stay in memory only)."""
    from ..assets import home

    path = home() / name
    try:
        with np.load(path) as z:
            if str(z["key"]) == key:
                return {k: z[k] for k in z.files if k != "key"}
    except Exception:  # noqa: BLE001 - missing, damaged or outdated: build it again
        pass
    arrays = build()
    try:
        write_model_cache(path, {"key": np.array(key), **arrays})
    except OSError:
        pass
    return arrays
