"""face3d GLBs in a real viewer: three.js (GLTFLoader + AnimationMixer) in headless Chromium.

Needs `chromium` (Debian) and `npm ci --prefix tools/threejs_check`; without them these tests FAIL with the fix.
"""
import importlib.util

import numpy as np
import pytest
import soundfile
from PIL import Image

from conftest import ROOT, run_cli
from face3d.formats.gltf import read_target_names
from face3d.formats.mesh import save_mesh
from face3d.names import ICT_NAMES, ict_target_names

_spec = importlib.util.spec_from_file_location("threejs_check", ROOT / "tools" / "threejs_check" / "run.py")
threejs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(threejs)

FPS = 30


@pytest.fixture(scope="module", autouse=True)
def browser():
    try:
        threejs.check_setup()
    except RuntimeError as e:
        pytest.fail(str(e))


def _synthetic_curve(duration: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """``times [T]``, ``weights [T,53]``: jawOpen a raised cosine (0 -> 1 at 1 s -> 0), eyeBlink_L a step."""
    times = np.arange(round(duration * FPS) + 1, dtype=np.float32) / FPS
    weights = np.zeros((len(times), 53), np.float32)
    weights[:, ICT_NAMES.index("jawOpen")] = 0.5 - 0.5 * np.cos(2 * np.pi * times / duration)
    weights[:, ICT_NAMES.index("eyeBlink_L")] = (times >= 0.4) & (times < 0.8)
    return times, weights


def _image(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32)


def test_glb_loads_and_plays_in_threejs(model, tmp_path):
    times, weights = _synthetic_curve()
    glb = save_mesh(tmp_path / "face.glb", model.neutral.numpy(), model, animation=(times, weights))
    probe = [0.0, 0.37, 0.5, 0.61, 0.79, 1.0, 1.013, 1.5, 1.99, 2.0]  # on and between keyframes, the last one
    result = threejs.check_glb(glb, probe=probe, shots=[0.0, 1.0, 2.0], out_dir=tmp_path / "shots")

    assert result["meshes"] == 1
    assert result["targets"] == ict_target_names() == read_target_names(glb)
    assert [(c["name"], c["tracks"]) for c in result["clips"]] == [("speech", 1)]
    assert result["clips"][0]["duration"] == pytest.approx(times[-1], abs=1e-6)
    # glTF LINEAR sampling: three.js must reproduce the written curve, all 53 targets, between keyframes too.
    seen = np.array([p["influences"] for p in result["probes"]])
    expected = np.stack([np.interp(probe, times, weights[:, k]) for k in range(53)], 1)
    np.testing.assert_allclose(seen, expected, atol=1e-3)
    assert not [m for m in result["console"] if m["level"] in ("warn", "error")], result["console"]

    closed, open_, closed_again = (_image(s["path"]) for s in result["shots"])
    assert closed.std() > 20, "blank render"
    changed = np.abs(open_ - closed).max(-1) > 30
    assert changed.mean() > 0.002, "jawOpen = 1 did not change the rendered face"
    assert np.array_equal(closed, closed_again), "same weights, different pictures"


def test_cli_speech_animation_plays_in_threejs(shared, tmp_path):
    wav = shared / "speech" / "other" / "arctic_a0007.wav"
    glb = tmp_path / "speech.glb"
    done = run_cli("animate", "--audio", wav, "-o", glb)
    assert done.returncode == 0, done.stderr
    duration = soundfile.info(str(wav)).duration
    probe = np.arange(0, duration, 0.04).round(3).tolist()
    result = threejs.check_glb(glb, probe=probe, out_dir=tmp_path / "shots")

    assert len(result["clips"]) == 1 and result["targets"] == ict_target_names()
    assert abs(result["clips"][0]["duration"] - duration) < 0.1
    jaw = np.array([p["influences"][result["targets"].index("jawOpen")] for p in result["probes"]])
    assert jaw.std() > 0.02, "jawOpen hardly moves while the audio speaks"
