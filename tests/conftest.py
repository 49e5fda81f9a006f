"""Shared fixtures. Third-party data is read from ../shared (or $FACE3D_SHARED), never from the repo."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACE3D_SHARED", ROOT.parent / "shared"))


def run_cli(*args: str, env: dict | None = None, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run ``face3d ARGS`` in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "face3d", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SHARED.is_dir(), f"the shared data folder is missing: {SHARED} (set FACE3D_SHARED)"
    return SHARED


@pytest.fixture(scope="session")
def model():
    from face3d.model import load_model
    return load_model()
