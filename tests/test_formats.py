"""face3d.formats: safe atomic outputs, the fit folder round trip, mesh files that carry the expression."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from face3d.errors import BadInput, OutputExists
from face3d.formats import atomic
from face3d.formats.obj import parse_obj_vertices


def test_atomic_files_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.glb", tmp_path / "b.csv"
    with pytest.raises(RuntimeError):
        with atomic.atomic_files([a, b]) as (ta, tb):
            ta.write_bytes(b"x")
            raise RuntimeError("the second writer failed")
    assert sorted(os.listdir(tmp_path)) == []  # neither output, no temporaries
    with pytest.raises(BadInput):
        with atomic.atomic_files([a, tmp_path / "." / "a.glb"]):
            pass


def test_atomic_dir_marker_and_replace_rules(tmp_path):
    out = tmp_path / "fit"
    with atomic.atomic_dir(out, "fit") as tmp:
        (tmp / "params.json").write_text("{}")
    assert atomic.marker_kind(out) == "fit"
    with pytest.raises(OutputExists):
        with atomic.atomic_dir(out, "fit"):
            pass
    with atomic.atomic_dir(out, "fit", overwrite=True) as tmp:
        (tmp / "new.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == [".face3d-output", "new.json"]
    other = tmp_path / "user"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(OutputExists):
        with atomic.atomic_dir(other, "fit", overwrite=True):
            pass
    assert (other / "thesis.tex").read_text() == "x"


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # that process has exited
    stale = tmp_path / f"{atomic.TMP_PREFIX}{pid}.out.abc"
    stale.mkdir()
    (stale / "half.glb").write_bytes(b"partial")
    live = tmp_path / f"{atomic.TMP_PREFIX}{os.getppid()}.other.abc"  # a running process's: kept
    live.mkdir()
    keep = tmp_path / ".hidden-user-file"
    keep.write_text("x")
    atomic.clean_stale(tmp_path)
    assert not stale.exists() and live.exists() and keep.exists()


def test_own_file_signatures(tmp_path, model):
    from face3d.formats.mesh import save_mesh

    for suffix in (".glb", ".obj", ".ply"):
        path = save_mesh(tmp_path / f"m{suffix}", model.neutral.numpy(), model)
        assert atomic.is_own_file(path), suffix
        foreign = tmp_path / f"foreign{suffix}"
        foreign.write_bytes(b"glTF" + bytes(40) if suffix == ".glb" else b"v 0 0 0\n")
        assert not atomic.is_own_file(foreign)
    assert atomic.is_own_file(tmp_path / "m.mtl")


def test_fit_folder_round_trip(tmp_path, model):
    from face3d.camera import Camera
    from face3d.fit import FitResult
    from face3d.formats.fitdir import read_fit
    from face3d.pipeline import save_fit

    rng = np.random.default_rng(0)
    res = FitResult(rng.normal(size=100).astype(np.float32), rng.uniform(0, 1, 53).astype(np.float32),
                    np.array([0.1, -0.2, 0.05], np.float32), np.array([1, 2, -60], np.float32),
                    Camera.for_image(640, 480), rng.uniform(0, 480, (68, 2)).astype(np.float32),
                    rng.uniform(0, 480, (478, 3)).astype(np.float32))
    back = read_fit(save_fit(res, tmp_path / "f", model=model))
    for name in ("identity", "expression", "rotation", "translation"):
        np.testing.assert_allclose(getattr(back, name), getattr(res, name), atol=1e-6)
    np.testing.assert_allclose(back.ibug68, res.ibug68, atol=1e-3)
    assert back.camera == res.camera


def test_obj_positions_carry_the_expression(tmp_path, model):
    from face3d.formats.mesh import save_mesh
    from face3d.names import ICT_NAMES

    w = np.zeros(53, np.float32)
    w[ICT_NAMES.index("jawOpen")] = 1.0
    neutral = parse_obj_vertices(save_mesh(tmp_path / "n.obj", model.neutral.numpy(), model).read_bytes())
    opened = parse_obj_vertices(save_mesh(tmp_path / "o.obj", model.neutral.numpy(), model, w).read_bytes())
    delta = model.expression_basis[ICT_NAMES.index("jawOpen")].numpy()
    moved = np.abs(delta).max(1) > 0.05
    ratio = (opened - neutral)[moved] / np.where(np.abs(delta[moved]) > 1e-3, delta[moved], np.nan)
    unit = np.nanmedian(ratio)  # the file's units per cm (1 in cm, 0.01 in metres)
    assert unit in (pytest.approx(1.0, rel=1e-3), pytest.approx(0.01, rel=1e-3))
    np.testing.assert_allclose(opened - neutral, delta * unit, atol=2e-6)


def test_scene_plays_the_joint_animation(tmp_path, model):
    """A GLB whose head turns (yaw 0 -> 20 degrees) and nods: the scene's mesh at each time is the rest mesh
    turned by that angle about one fixed pivot (the head joint), as three.js plays it; the neck stays."""
    from scipy.spatial.transform import Rotation

    from face3d.curves import Curves
    from face3d.formats.mesh import save_mesh
    from face3d.formats.scene import read_scene

    times = np.linspace(0, 1, 31, dtype=np.float32)
    head = np.stack([np.radians(10) * np.sin(2 * np.pi * times), np.radians(20) * times, 0 * times], 1)
    path = save_mesh(tmp_path / "turn.glb", model.neutral.numpy(), model,
                     animation=Curves(times, np.zeros((31, 53), np.float32), head=head))
    scene = read_scene(path)
    assert scene.animated and abs(scene.duration - 1.0) < 1e-6
    _, rest = scene.pose_at(0.0)
    nose = int(np.argmax(rest[:, 2] * (np.abs(rest[:, 0]) < 1)))  # the nose tip: frontmost on the midline
    face = rest[:, 2] > rest[nose, 2] - 6
    frames = []
    for k in (10, 23, 30):
        pitch, yaw, _ = head[k]
        r = Rotation.from_euler("YX", [yaw, pitch]).as_matrix()  # rig: Ry(yaw) @ Rx(pitch)
        frames.append((r, scene.pose_at(float(times[k]))[1]))
        assert np.linalg.norm(frames[-1][1][nose] - rest[nose]) > 0.5  # cm: the face really moves
    # v = r @ (rest - p) + p with one pivot p for all three frames: solve p, then check every face vertex
    a = np.concatenate([np.tile(np.eye(3) - r, (int(face.sum()), 1)) for r, _ in frames])
    b = np.concatenate([(v[face] - rest[face] @ r.T).reshape(-1) for r, v in frames])
    p = np.linalg.lstsq(a, b, rcond=None)[0]
    for r, v in frames:
        np.testing.assert_allclose(v[face], (rest[face] - p) @ r.T + p, atol=2e-3)
    assert np.abs(scene.pose_at(0.5)[1][rest[:, 1].argmin()] - rest[rest[:, 1].argmin()]).max() < 1e-4  # neck base
