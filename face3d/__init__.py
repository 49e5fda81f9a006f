"""face3d: fit the ICT-FaceKit morphable face model to photos, drive it from speech, export it."""
__version__ = "0.1.0"
