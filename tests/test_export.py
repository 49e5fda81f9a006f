import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from conftest import run_cli
from face3d.errors import BadInput
from face3d.formats.gltf import UNIT, read_accessor, read_curves
from face3d.formats.mesh import save_mesh
from face3d.materials import eyelash_alpha, split_seams
from face3d.names import ARKIT_NAMES, ICT_NAMES, ict_target_names
from face3d.rig import euler_to_quat, quat_to_euler, target_deltas, tongue_out_deltas


def _primitive_rows(model):
    """Model vertex of each vertex of the GLB's two primitives (skin, eyelashes)."""
    source, _, _ = split_seams(model)
    lash = eyelash_alpha(model)[source] >= 0
    return source[~lash], source[lash]


def test_glb_targets_are_arkits_52_and_reproduce_the_model(model, tmp_path):
    weights = np.zeros(53, np.float32)
    weights[ICT_NAMES.index("jawOpen")] = 1
    base = model.neutral.numpy()
    g = pygltflib.GLTF2.load(str(save_mesh(tmp_path / "f.glb", base, model, weights)))
    mesh = g.meshes[0]
    assert mesh.extras["targetNames"] == list(ARKIT_NAMES) and len(ARKIT_NAMES) == 52
    assert {"browInnerUp", "cheekPuff", "tongueOut"} <= set(mesh.extras["targetNames"])
    assert mesh.weights[ARKIT_NAMES.index("jawOpen")] == 1
    deltas = target_deltas(model, "arkit")
    for prim, rows in zip(mesh.primitives, _primitive_rows(model)):
        assert len(prim.targets) == 52
        pos = read_accessor(g, prim.attributes.POSITION) * UNIT
        np.testing.assert_allclose(pos, base[rows] * 0.01, atol=1e-7)
        for name in ("jawOpen", "browInnerUp", "tongueOut"):
            k = ARKIT_NAMES.index(name)
            got = read_accessor(g, prim.targets[k]["POSITION"]) * UNIT  # pygltflib loads targets as dicts
            want = deltas[k][rows] * 0.01
            small = np.linalg.norm(want, axis=1) < 1e-5
            assert np.abs(got - want)[~small].max(initial=0) <= 5.01e-6  # int16 in 10 µm steps: ≤ 0.005 mm off
            assert np.abs(got[small]).max(initial=0) == 0  # deltas under 0.01 mm are dropped
            assert prim.targets[k]["NORMAL"] is not None
    jaw_normals = read_accessor(g, mesh.primitives[0].targets[ARKIT_NAMES.index("jawOpen")]["NORMAL"])
    assert np.abs(jaw_normals).max() > 0.2, "jawOpen must turn the normals of the opening mouth"
    # browInnerUp / cheekPuff are ICT's halves together; tongueOut moves only the tongue, forward and down.
    np.testing.assert_allclose(deltas[ARKIT_NAMES.index("browInnerUp")],
                               model.expression_basis[2].numpy()
                               + model.expression_basis[3].numpy(), atol=1e-6)
    tongue = tongue_out_deltas(model)
    moving = np.flatnonzero(np.linalg.norm(tongue, axis=1) > 0)
    a, b = model.regions["gums_and_tongue"][:2]
    assert len(moving) > 200 and moving.min() >= a and moving.max() < b
    assert tongue[:, 2].max() > 2.5 and tongue[:, 1].min() < -0.5 and tongue[:, 2].min() >= 0


def test_glb_skin_joints_and_ict_targets(model, tmp_path):
    g = pygltflib.GLTF2.load(str(save_mesh(tmp_path / "f.glb", model.neutral.numpy(), model, targets="ict")))
    assert g.meshes[0].extras["targetNames"] == ict_target_names()
    assert [g.nodes[j].name for j in g.skins[0].joints] == ["neck", "head", "eyeLeft", "eyeRight"]
    prim = g.meshes[0].primitives[0]
    joints = read_accessor(g, prim.attributes.JOINTS_0)
    w = read_accessor(g, prim.attributes.WEIGHTS_0)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    rows = _primitive_rows(model)[0]
    e0, e1 = model.regions["eyeball_left"][:2]
    eye = (rows >= e0) & (rows < e1)
    assert (joints[eye, 0] == 2).all() and (w[eye, 0] == 1).all()  # the left eyeball follows its joint alone
    nose = rows == 0
    assert w[nose, 0] == 1 and joints[nose, 0] == 1  # the face follows the head joint


def test_bake_expression(model, tmp_path):
    w = np.zeros(53, np.float32)
    w[ICT_NAMES.index("jawOpen")] = 0.7
    w[ICT_NAMES.index("browInnerUp_L")] = 0.4  # asymmetric halves survive baking
    g = pygltflib.GLTF2.load(str(save_mesh(tmp_path / "f.glb", model.neutral.numpy(), model, w, tongue=0.5,
                                           bake=True)))
    assert g.meshes[0].weights == [0.0] * 52
    rows = _primitive_rows(model)[0]
    want = model(expression=torch.from_numpy(w)[None]).vertices[0].numpy() + 0.5 * tongue_out_deltas(model)
    np.testing.assert_allclose(read_accessor(g, g.meshes[0].primitives[0].attributes.POSITION) * UNIT,
                               want[rows] * 0.01, atol=2e-7)


def test_glb_animation_round_trip(model, tmp_path):
    from face3d.curves import Curves

    rng = np.random.default_rng(0)
    times = np.arange(10, dtype=np.float32) / 30
    curves = Curves(times, rng.random((10, 53)), head=rng.normal(0, 0.2, (10, 3)), eyes=rng.normal(0, 0.2, (10, 2, 3)),
                    tongue=rng.random(10))
    path = save_mesh(tmp_path / "a.glb", model.neutral.numpy(), model, animation=curves)
    back = read_curves(path)
    np.testing.assert_allclose(back.times, times)
    np.testing.assert_allclose(back.tongue, curves.tongue, atol=1e-7)
    np.testing.assert_allclose(back.head, curves.head, atol=1e-6)
    np.testing.assert_allclose(back.eyes, curves.eyes, atol=1e-6)
    from face3d.names import ict_to_arkit
    np.testing.assert_allclose(ict_to_arkit(back.weights), ict_to_arkit(curves.weights), atol=1e-7)
    angles = rng.uniform(-1, 1, (100, 3))
    np.testing.assert_allclose(quat_to_euler(euler_to_quat(angles)), angles, atol=1e-9)


@pytest.mark.parametrize("suffix, n_vertices", [(".obj", 28911), (".ply", 26719)])
def test_obj_and_ply_bake_the_expression_in_metres_with_normals(model, tmp_path, suffix, n_vertices):
    w = np.zeros(53, np.float32)
    w[ICT_NAMES.index("eyeBlink_L")] = 1
    path = save_mesh(tmp_path / f"f{suffix}", model.neutral.numpy(), model, w)
    mesh = trimesh.load(path, process=False, force="mesh")
    assert len(mesh.vertices) == n_vertices and len(mesh.faces) == len(model.faces)
    assert 0.2 < np.ptp(mesh.vertices[:, 1]) < 0.5, "a head is about 0.34 m tall"
    expected = model(expression=torch.from_numpy(w)[None]).vertices[0].detach().numpy()
    if suffix == ".ply":
        np.testing.assert_allclose(mesh.vertices, expected * 0.01, atol=1e-6)
        assert b"property float nx" in path.read_bytes()[:2000]
    else:
        text = path.read_text()
        assert (tmp_path / "f.mtl").is_file() and "usemtl M_Face" in text and "\ns 1\n" in text
        corner = text.split("\nf ", 1)[1].split()[0].split("/")
        assert text.count("\nvn ") == 26719 and len(corner) == 3 and corner[0] == corner[2]  # f v/vt/vn
    cm = save_mesh(tmp_path / f"g{suffix}", model.neutral.numpy(), model, w, units="cm")
    assert 20 < np.ptp(trimesh.load(cm, process=False, force="mesh").vertices[:, 1]) < 50


def test_unknown_format_leaves_nothing(model, tmp_path):
    with pytest.raises(BadInput):
        save_mesh(tmp_path / "f.stl", model.neutral.numpy(), model)
    assert list(tmp_path.iterdir()) == []


def test_cli_model_export(tmp_path):
    out = tmp_path / "f.glb"
    r = run_cli("model", "export", "--identity", "random", "--seed", "3", "--expression", "jawOpen=1",
                "tongueOut=0.5", "-o", out)
    assert r.returncode == 0, r.stderr
    g = pygltflib.GLTF2.load(str(out))
    assert g.meshes[0].weights[ARKIT_NAMES.index("jawOpen")] == 1
    assert g.meshes[0].weights[ARKIT_NAMES.index("tongueOut")] == 0.5
    assert g.meshes[0].extras["targetNames"] == list(ARKIT_NAMES)
    assert out.stat().st_size <= 6_000_000
    r = run_cli("model", "export", "--expression", "jawOpen=2", "-o", tmp_path / "g.glb")
    assert r.returncode == 1 and "[0, 1]" in r.stderr and not (tmp_path / "g.glb").exists()
    r = run_cli("model", "export", "--targets", "ict", "--bake-expression", "--expression", "jawOpen=1", "-o", out,
                "--overwrite")
    assert r.returncode == 0, r.stderr
    g = pygltflib.GLTF2.load(str(out))
    assert g.meshes[0].extras["targetNames"] == ict_target_names() and max(g.meshes[0].weights) == 0
