"""face3d: fit the ICT-FaceKit morphable face model to photos, drive it from speech, export it."""
__version__ = "0.1.0"

# The photo API at the top level: face3d.fit(image) -> FitResult, face3d.detect(image) -> [Detection].
# (Bound after the submodules load, so these names are the functions, not the modules fit.py/detect.py.)
from .detect import Detection, detect  # noqa: E402
from .fit import FitResult, fit  # noqa: E402

__all__ = ["Detection", "FitResult", "detect", "fit"]
