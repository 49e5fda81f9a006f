"""face3d GLBs in a real viewer: three.js (GLTFLoader, AnimationMixer, skinning) in headless Chromium.

Needs `chromium` (Debian) and `npm ci --prefix tools/threejs_check`; without them these tests FAIL with the fix.
"""
import importlib.util

import numpy as np
import pytest
import soundfile
from PIL import Image

from conftest import ROOT, run_cli
from face3d.curves import Curves
from face3d.formats.gltf import read_target_names
from face3d.formats.mesh import save_mesh
from face3d.names import ARKIT_NAMES, ICT_NAMES
from face3d.rig import euler_to_quat

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


def _synthetic_curves(duration: float = 2.0) -> Curves:
    """jawOpen a raised cosine (0 -> 1 at 1 s -> 0), eyeBlink_L a step, the head nodding 0.3 rad at 1 s."""
    times = np.arange(round(duration * FPS) + 1, dtype=np.float32) / FPS
    weights = np.zeros((len(times), 53), np.float32)
    bump = 0.5 - 0.5 * np.cos(2 * np.pi * times / duration)
    weights[:, ICT_NAMES.index("jawOpen")] = bump
    weights[:, ICT_NAMES.index("eyeBlink_L")] = (times >= 0.4) & (times < 0.8)
    head = np.zeros((len(times), 3), np.float32)
    head[:, 0] = 0.3 * bump
    return Curves(times, weights, head=head)


def _image(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32)


def test_glb_loads_and_plays_in_threejs(model, tmp_path):
    curves = _synthetic_curves()
    glb = save_mesh(tmp_path / "face.glb", model.neutral.numpy(), model, animation=curves)
    probe = [0.0, 0.37, 0.5, 0.61, 0.79, 1.0, 1.013, 1.5, 1.99, 2.0]  # on and between keyframes, the last one
    result = threejs.check_glb(glb, probe=probe, shots=[0.0, 1.0, 2.0], out_dir=tmp_path / "shots")

    assert result["meshes"] == 2  # skin and eyelashes
    assert result["targets"] == list(ARKIT_NAMES) == read_target_names(glb)
    assert result["joints"] == ["neck", "head", "eyeLeft", "eyeRight"]
    assert [c["name"] for c in result["clips"]] == ["animation"]
    assert result["clips"][0]["duration"] == pytest.approx(curves.times[-1], abs=1e-6)
    # glTF LINEAR sampling: three.js must reproduce the written curve, all 52 targets, between keyframes too.
    from face3d.names import ict_to_arkit

    arkit = ict_to_arkit(curves.weights)
    seen = np.array([p["influences"] for p in result["probes"]])
    expected = np.stack([np.interp(probe, curves.times, arkit[:, k]) for k in range(52)], 1)
    np.testing.assert_allclose(seen, expected, atol=1e-3)
    head = np.array([p["rotations"]["head"] for p in result["probes"]])
    want = euler_to_quat(np.stack([np.interp(probe, curves.times, curves.head[:, 0]), 0 * np.array(probe),
                                   0 * np.array(probe)], 1))
    np.testing.assert_allclose(np.abs((head * want).sum(1)), 1, atol=1e-4)  # the same rotation (q ~ -q)
    assert not [m for m in result["console"] if m["level"] in ("warn", "error")], result["console"]

    closed, open_, closed_again = (_image(s["path"]) for s in result["shots"])
    assert closed.std() > 20, "blank render"
    changed = np.abs(open_ - closed).max(-1) > 30
    assert changed.mean() > 0.005, "jawOpen = 1 and a nod did not change the rendered face"
    assert np.array_equal(closed, closed_again), "same weights, different pictures"


def test_targets_by_name_and_head_joint_move_the_mesh(model, tmp_path):
    glb = save_mesh(tmp_path / "face.glb", model.neutral.numpy(), model)
    result = threejs.check_glb(glb, drive=["browInnerUp", "cheekPuff", "tongueOut"],
                               rotate=["head:0.3:0:0", "eyeLeft:0:0.3:0"], pose=["jawOpen:0.6", "tongueOut:1"],
                               out_dir=tmp_path / "shots")
    moves = result["moves"]
    assert moves["browInnerUp"]["max"] > 0.003 and moves["cheekPuff"]["max"] > 0.005
    assert moves["tongueOut"]["max"] > 0.025 and 200 < moves["tongueOut"]["count"] < 2000
    assert moves["head:0.3:0:0"]["max"] > 0.03 and moves["head:0.3:0:0"]["count"] > 20000
    assert 0.002 < moves["eyeLeft:0:0.3:0"]["max"] < 0.01 and moves["eyeLeft:0:0.3:0"]["count"] < 2000
    assert _image(result["pose_path"]).std() > 20


def test_cli_speech_animation_plays_in_threejs(shared, tmp_path):
    wav = shared / "speech" / "other" / "arctic_a0007.wav"
    glb = tmp_path / "speech.glb"
    done = run_cli("animate", "--audio", wav, "-o", glb)
    assert done.returncode == 0, done.stderr
    duration = soundfile.info(str(wav)).duration
    probe = np.arange(0, duration, 0.04).round(3).tolist()
    result = threejs.check_glb(glb, probe=probe, out_dir=tmp_path / "shots")

    assert len(result["clips"]) == 1 and result["targets"] == list(ARKIT_NAMES)
    assert abs(result["clips"][0]["duration"] - duration) < 0.1
    jaw = np.array([p["influences"][result["targets"].index("jawOpen")] for p in result["probes"]])
    assert jaw.std() > 0.02, "jawOpen hardly moves while the audio speaks"


def test_live_link_capture_plays_in_threejs(shared, tmp_path):
    glb = tmp_path / "l.glb"
    done = run_cli("animate", "--curves", shared / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv", "-o", glb)
    assert done.returncode == 0, done.stderr
    probe = np.arange(0, 30, 0.5).round(3).tolist()
    result = threejs.check_glb(glb, probe=probe, out_dir=tmp_path / "shots")
    assert result["clips"][0]["name"] == "capture" and 30.5 < result["clips"][0]["duration"] < 31
    eyes = np.array([p["rotations"]["eyeLeft"] for p in result["probes"]])
    assert np.ptp(eyes[:, :3], 0).max() > 0.05, "the captured eye rotations do not play"
    blink = np.array([p["influences"][result["targets"].index("eyeBlinkLeft")] for p in result["probes"]])
    assert blink.max() > 0.3 and blink.std() > 0.05
