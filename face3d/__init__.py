"""face3d: fit the ICT-FaceKit morphable face model to photos, drive it from speech, export it.

``import face3d`` is cheap (no torch, no MediaPipe): the API below loads on first use.
    face3d.fit(image) -> FitResult, face3d.detect(image) -> [Detection], face3d.save_fit(result, folder),
    face3d.read_fit(folder) -> FitResult, face3d.animate(audio, glb=..., csv=..., face=...)
"""
import sys
import types

__version__ = "0.1.0"

__all__ = ["Detection", "FitResult", "detect", "fit", "save_fit", "read_fit", "animate"]

_API = {"Detection": "detect", "detect": "detect", "FitResult": "fit", "fit": "pipeline",
        "save_fit": "pipeline", "read_fit": "formats.fitdir", "animate": "animate"}


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'face3d' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"face3d.{_API[name]}"), name)
    object.__setattr__(sys.modules[__name__], name, value)
    return value


class _Package(types.ModuleType):
    """Keeps ``face3d.fit`` / ``face3d.detect`` the API functions when their submodules are imported
    (the import system would bind the submodule to the package attribute of the same name)."""

    def __setattr__(self, name, value):
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
