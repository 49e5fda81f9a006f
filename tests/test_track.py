"""face3d track: the solver's pieces, the filter, gaps, the outputs of a short real clip, a short synthetic
ground-truth clip, and bad input (one line, exit 2, no output folder)."""
from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from face3d.track import (FILTER, MAX_GAP_S, axis_angle, fill_gaps, head_angles, matrix_to_quat, rodrigues, smooth,
                          solve_bounded)

from conftest import write_faceless_video

ROOT = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    from conftest import SHARED  # noqa: PLC0415  (tests/conftest.py: the one shared-data path)

    return Path(SHARED)


def _tool():
    spec = importlib.util.spec_from_file_location("eval_track", ROOT / "tools" / "eval_track.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _short_clip(tmp_path: Path, seconds: float = 2.0) -> Path:
    """The first ``seconds`` of a shared clip with speech (re-encoded, with its audio)."""
    import av

    from face3d.formats.video import open_video, read_audio, video_writer

    src = _shared() / "video" / "tpsmm_driving.mp4"
    info = open_video(src).info
    audio = read_audio(src)
    audio = (audio[0][:, :int(seconds * audio[1])], audio[1], audio[2])
    out = tmp_path / "short.mp4"
    w = video_writer(out, info.width // 2 * 2, info.height // 2 * 2, info.fps, audio)
    for t, rgb in open_video(src).frames():
        if t >= seconds:
            break
        w.add(rgb[:info.height // 2 * 2, :info.width // 2 * 2], t)
    w.close()
    assert av.open(str(out)).streams.audio
    return out


# ---------------------------------------------------------------------------------------------- pieces

def test_rotations_round_trip_through_rig_angles():
    from face3d.rig import euler_to_quat

    rng = np.random.default_rng(1)
    angles = rng.uniform(-0.8, 0.8, (20, 3))
    q = euler_to_quat(angles)
    w = np.stack([axis_angle(_qm(qq)) for qq in q])
    np.testing.assert_allclose(head_angles(w), angles, atol=1e-5)
    for v in w:
        np.testing.assert_allclose(axis_angle(rodrigues(v)), v, atol=1e-9)
        assert np.allclose(np.abs(matrix_to_quat(rodrigues(v)) @ euler_to_quat(head_angles(v[None]))[0]), 1, atol=1e-5)


def _qm(q):
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_bounded_solver_matches_scipy():
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 12))
    y = rng.standard_normal(40)
    x = solve_bounded(a.T @ a, a.T @ y, np.zeros(12), np.ones(12), np.full(12, 0.5), iterations=50)
    ref = lsq_linear(a, y, bounds=(0, 1)).x
    np.testing.assert_allclose(x, ref, atol=1e-5)


def test_points_turned_away_from_the_camera_weigh_less():
    """FrameSolver.visibility: frontal, the face's points keep their weight; turned 60 degrees, the side that
    turns away (the model's +x side for a turn about +y) drops towards VIS_FLOOR, the near side does not."""
    from face3d.correspondence import load_correspondence
    from face3d.model import load_model
    from face3d.track import VIS_FLOOR, FrameSolver, point_normals

    solver = FrameSolver(load_correspondence(load_model()), np.zeros(100))
    n = point_normals(solver.lm_mean)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-6)
    assert (n[:, 2] > 0).mean() > 0.9  # the face looks down +z: outward normals mostly towards the camera
    t = np.array([0.0, 0.0, -60.0])
    front = solver.visibility(np.eye(3), t)
    assert front.min() >= VIS_FLOOR and front.max() <= 1.0 and np.median(front) == 1.0
    turned = solver.visibility(rodrigues(np.array([0.0, np.radians(60), 0.0])), t)
    x = solver.lm_mean[solver.fixed, 0] - solver.centre[0]
    far, near = x > 4.0, x < -4.0
    assert far.sum() > 10 and near.sum() > 10
    assert turned[far].mean() < 0.5 * turned[near].mean(), (turned[far].mean(), turned[near].mean())
    assert turned[near].mean() > 0.9


def test_filter_removes_jitter_without_lag_and_keeps_a_blink():
    t = np.arange(300) / 30.0
    rng = np.random.default_rng(0)
    slow = 0.3 + 0.2 * np.sin(2 * np.pi * 0.5 * t)
    blink = np.clip(1 - np.abs(t - 5.0) / 0.1, 0, 1)  # 0.2 s, the fastest thing a face does
    noisy = slow + blink + rng.normal(0, 0.02, len(t))
    out = smooth(noisy[:, None], t, *FILTER["expression"])[:, 0]
    d2 = lambda x: np.abs(np.diff(x, 2)).mean()  # noqa: E731
    assert d2(out) < 0.35 * d2(noisy)
    assert out.max() > 0.85 * (slow + blink).max()  # the blink survives
    # no lag: the smoothed slow curve peaks where the true one does (within a frame)
    quiet = (t > 6) & (t < 9.9)
    lag = np.argmax(np.correlate(out[quiet] - out[quiet].mean(), slow[quiet] - slow[quiet].mean(), "full")) - (quiet.sum() - 1)
    assert abs(lag) <= 1


def test_pose_filter_keeps_the_face_centre_still_while_the_head_turns():
    """The filter smooths where the face is, not the model origin ~10 cm behind it: a head turning on the
    spot (noisy rotation about the face's centre) keeps its centre in place after the filter."""
    from face3d.track import centre_position, smooth_pose

    t = np.arange(90) / 30.0
    rng = np.random.default_rng(0)
    rot = np.stack([0.05 * rng.standard_normal(90), 0.6 * np.sin(2 * np.pi * t), np.zeros(90)], 1)
    centre = np.array([0.0, 0.2, 9.8])
    where = np.array([0.0, 0.5, -60.0])
    trans = where - np.stack([rodrigues(w) for w in rot]) @ centre
    rot_s, trans_s = smooth_pose(rot, trans, t, centre)
    np.testing.assert_allclose(centre_position(rot_s, trans_s, centre), np.tile(where, (90, 1)), atol=1e-9)
    assert np.abs(np.diff(rot_s[:, 0], 2)).mean() < 0.5 * np.abs(np.diff(rot[:, 0], 2)).mean()


def test_gaps_short_interpolated_long_held():
    t = np.arange(60) / 30.0
    v = t[:, None].copy()
    found = np.ones(60, bool)
    found[10:13] = False  # 0.1 s: interpolated
    found[30:50] = False  # 0.67 s > MAX_GAP_S: held
    assert 20 / 30 > MAX_GAP_S
    out, held = fill_gaps(np.where(found[:, None], v, np.nan), found, t)
    np.testing.assert_allclose(out[10:13, 0], t[10:13], atol=1e-9)
    assert not held[10:13].any() and held[30:50].all()
    np.testing.assert_allclose(out[30:50, 0], t[29])


# ---------------------------------------------------------------------------------------------- end to end

def test_track_real_clip_writes_every_output(tmp_path):
    import av
    import pygltflib as gl

    from face3d.formats.gltf import read_curves
    from face3d.formats.livelink import read_csv

    clip = _short_clip(tmp_path)
    out = tmp_path / "v"
    r = subprocess.run([sys.executable, "-m", "face3d", "track", str(clip), "-o", str(out)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    p = np.load(out / "params.npz")
    n = len(p["times"])
    assert 45 <= n <= 52 and p["detected"].all() and p["identity"].shape == (100,)
    assert p["expression"].shape == (n, 53) and 0 <= p["expression"].min() and p["expression"].max() <= 1
    assert np.all(np.diff(p["times"]) > 0) and abs(p["times"][1] - 1 / 25) < 1e-3
    # the GLB: morph weights, head rotation and the rig's translation at the frame times
    curves = read_curves(out / "anim.glb")
    np.testing.assert_allclose(curves.times, p["times"], atol=1e-6)
    np.testing.assert_allclose(curves.head, p["head"], atol=1e-4)
    g = gl.GLTF2.load(str(out / "anim.glb"))
    paths = {(g.nodes[c.target.node].name, c.target.path) for c in g.animations[0].channels}
    assert {("face", "weights"), ("head", "rotation"), ("rig", "translation")} <= paths
    assert np.abs(p["head"]).max() > math.radians(2)  # the head moves in this clip
    csv = read_csv(out / "anim.csv")
    assert len(csv) == n and np.abs(csv.head - p["head"]).max() < 1e-5
    with av.open(str(out / "overlay.mp4")) as c:
        assert c.streams.audio and c.streams.video
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == n


def test_synthetic_ground_truth_short():
    """A 2 s rendered clip from known curves (head turn to 45 degrees, blinks, speech-like jaw)."""
    import tempfile

    from face3d.track import track

    tool = _tool()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "syn.mp4"
        truth = tool.synthesize(clip, seconds=2.0, fps=25.0, size=(320, 240))
        s = tool.score_synthetic(track(clip, progress=False), truth)
    assert s["detected"] > 0.9
    # Regression guards below the level measured now (2 s, 320x240: jawOpen 0.83, blink 0.93 / 0.90, head
    # 3.5 degrees); the targets (r >= 0.9, head <= 2 degrees) are not all met yet
    # (tools/eval_track.py reports the full clip).
    assert s["r_jawOpen"] > 0.7 and s["r_eyeBlink_L"] > 0.7 and s["r_eyeBlink_R"] > 0.7, s
    assert s["head_error_deg_median"] < 5.0, s


def test_blink_score_of_an_eye_turned_away_leans_on_the_other():
    from face3d.names import ICT_NAMES
    from face3d.track import shared_blink

    bl, br = ICT_NAMES.index("eyeBlink_L"), ICT_NAMES.index("eyeBlink_R")
    s = np.zeros(len(ICT_NAMES))
    s[bl], s[br], s[0] = 0.1, 0.8, 0.3
    np.testing.assert_allclose(shared_blink(s, 0.9, 0.9), s)  # both eyes seen alike (a wink stays a wink)
    out = shared_blink(s, 0.3, 0.9)  # the left eye turned away
    assert out[br] == s[br] and out[0] == s[0]
    np.testing.assert_allclose(out[bl], 0.1 / 3 + 0.8 * 2 / 3)


# ---------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "audio-only", "no-face"])
def test_bad_input_one_line_exit_2_no_output(tmp_path, kind):
    import av

    path = tmp_path / "in.mp4"
    if kind == "text":
        path.write_text("hello")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = (_shared() / "video" / "tpsmm_driving.mp4").read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "audio-only":
        path = tmp_path / "in.m4a"
        with av.open(str(path), "w") as c:
            s = c.add_stream("aac", rate=16000)
            s.layout = "mono"
            f = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, 0
            for pkt in [*s.encode(f), *s.encode()]:
                c.mux(pkt)
    else:
        write_faceless_video(path)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "face3d", "track", str(path), "-o", str(out), "--no-overlay"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path.name) in lines[0] and "Traceback" not in r.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".face3d-tmp")]


def test_camera_without_device_is_one_line_exit_2():
    from face3d.track import camera_unavailable

    index = 0 if camera_unavailable(0) else 63  # a machine with a webcam: ask for one that is not there
    r = subprocess.run([sys.executable, "-m", "face3d", "track", "--camera", str(index)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and f"camera {index}" in r.stderr
