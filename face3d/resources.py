"""The package's own data files (``assets/``: correspondence, speech weights, checksums; ``shaders/``).

One locator for both a checkout and an installed wheel: ``pyproject.toml`` maps the top-level ``assets/``
and ``shaders/`` folders into the package as ``face3d._assets`` and ``face3d._shaders``, so
``importlib.resources`` finds them either way (an editable install points at the checkout's folders).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import AssetMissing

_PACKAGES = {"assets": "face3d._assets", "shaders": "face3d._shaders"}


def data_path(kind: str, name: str) -> Path:
    """Where a data file lives (it may not exist): ``data_path("assets", "audio2face.pt")``."""
    try:
        return Path(str(resources.files(_PACKAGES[kind]) / name))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / kind / name  # a bare checkout, not installed


def resource(kind: str, name: str) -> Path:
    """Path of a data file: ``resource("assets", "correspondence.npz")``, ``resource("shaders", "mesh.vert")``.

    Raises ``AssetMissing`` naming the file when the installation lacks it.
    """
    path = data_path(kind, name)
    if not path.is_file():
        raise AssetMissing(f"{path}: face3d's own data file is missing (reinstall face3d)")
    return path


def read_shader(name: str) -> str:
    """The GLSL source of ``shaders/NAME``."""
    return resource("shaders", name).read_text()
