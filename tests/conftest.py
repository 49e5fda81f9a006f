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


@pytest.fixture(scope="session")
def animated_glb(model, tmp_path_factory):
    """A face3d GLB whose jaw opens from 0 (t = 0) to 1 (t = 1 s) and closes again by 2 s, at 30 fps."""
    import numpy as np

    from face3d.formats.mesh import save_mesh
    from face3d.names import ICT_NAMES

    times = np.arange(61, dtype=np.float32) / 30
    weights = np.zeros((len(times), 53), np.float32)
    weights[:, ICT_NAMES.index("jawOpen")] = 0.5 - 0.5 * np.cos(np.pi * times)
    return save_mesh(tmp_path_factory.mktemp("anim") / "talk.glb", model.neutral.numpy(), model,
                     animation=(times, weights))


def write_faceless_video(path: Path) -> None:
    """A 5-frame 64x64 H.264 clip of flat grey frames: a valid video with no face in it."""
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        for i in range(5):
            fr = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
            fr.pts = i
            for pkt in s.encode(fr):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
