"""Errors a user can cause. The CLI prints their message as one line and exits with ``exit_code``."""


class Face3DError(Exception):
    """Base of every error face3d reports to a user (bad input, missing asset, no face)."""

    exit_code = 1


class BadInput(Face3DError):
    """An input file is unreadable, of the wrong format, empty or truncated."""


class AssetMissing(Face3DError):
    """A third-party asset (face model, landmarker) or one of face3d's data files is missing or damaged."""

    exit_code = 3


class BadFit(Face3DError):
    """A fit gave no sane face (non-finite, behind the camera, off the image): nothing is saved."""

    exit_code = 2


class OutputExists(Face3DError):
    """An output path holds something face3d did not make, or made (``replaceable``: with ``overwrite``
    face3d would replace it)."""

    exit_code = 2

    def __init__(self, message: str, replaceable: bool = False):
        super().__init__(message)
        self.replaceable = replaceable


class NoFace(Face3DError):
    """The detector found no face in an image."""

    exit_code = 2
