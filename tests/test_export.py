import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from conftest import run_cli
from face3d.errors import BadInput
from face3d.formats.mesh import save_mesh
from face3d.materials import split_seams
from face3d.names import ICT_NAMES, ict_target_names


def _accessor(g: pygltflib.GLTF2, index: int) -> np.ndarray:
    """Decode a float/uint accessor of a loaded GLB, sparse or dense."""
    blob = g.binary_blob()
    acc = g.accessors[index]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc.type]
    dtype = np.float32 if acc.componentType == pygltflib.FLOAT else np.uint32

    def view(i, n, dt):
        return np.frombuffer(blob, dt, n, g.bufferViews[i].byteOffset or 0)

    out = np.zeros((acc.count, width), dtype)
    if acc.bufferView is not None:
        out[:] = view(acc.bufferView, acc.count * width, dtype).reshape(-1, width)
    if acc.sparse:
        idx = view(acc.sparse.indices.bufferView, acc.sparse.count, np.uint32)
        out[idx] = view(acc.sparse.values.bufferView, acc.sparse.count * width, dtype).reshape(-1, width)
    return out


def test_glb_morph_targets_reproduce_the_model(model, tmp_path):
    weights = np.zeros(53, np.float32)
    weights[ICT_NAMES.index("jawOpen")] = 1
    base = model.neutral.numpy()
    path = save_mesh(tmp_path / "f.glb", base, model, weights)
    g = pygltflib.GLTF2.load(str(path))
    mesh = g.meshes[0]
    prim = mesh.primitives[0]
    assert mesh.extras["targetNames"] == ict_target_names() and len(prim.targets) == 53
    assert mesh.weights[ICT_NAMES.index("jawOpen")] == 1
    source, _, _ = split_seams(model)
    pos = _accessor(g, prim.attributes.POSITION)
    assert len(pos) >= 26719 and np.array_equal(np.unique(source), np.arange(26719))
    np.testing.assert_allclose(pos, base[source] * 0.01, atol=1e-7)
    jaw = _accessor(g, prim.targets[ICT_NAMES.index("jawOpen")]["POSITION"])  # pygltflib loads targets as dicts
    expected = model.expression_basis[ICT_NAMES.index("jawOpen")].numpy()[source] * 0.01
    np.testing.assert_allclose(jaw, expected, atol=1e-7)
    loaded = trimesh.load(path, process=False, force="mesh")
    assert len(loaded.vertices) == len(pos) and len(loaded.faces) == len(model.faces)


def test_glb_animation(model, tmp_path):
    times = np.arange(10, dtype=np.float32) / 30
    frames = np.random.default_rng(0).random((10, 53)).astype(np.float32)
    g = pygltflib.GLTF2.load(str(save_mesh(tmp_path / "a.glb", model.neutral.numpy(), model, animation=(times, frames))))
    sampler = g.animations[0].samplers[0]
    assert g.animations[0].channels[0].target.path == "weights"
    np.testing.assert_allclose(_accessor(g, sampler.input)[:, 0], times)
    np.testing.assert_allclose(_accessor(g, sampler.output).reshape(10, 53), frames)


@pytest.mark.parametrize("suffix, n_vertices", [(".obj", 28911), (".ply", 26719)])
def test_obj_and_ply_bake_the_expression(model, tmp_path, suffix, n_vertices):
    w = np.zeros(53, np.float32)
    w[ICT_NAMES.index("eyeBlink_L")] = 1
    path = save_mesh(tmp_path / f"f{suffix}", model.neutral.numpy(), model, w)
    mesh = trimesh.load(path, process=False, force="mesh")
    assert len(mesh.vertices) == n_vertices and len(mesh.faces) == len(model.faces)
    if suffix == ".ply":
        expected = model(expression=torch.from_numpy(w)[None]).vertices[0].detach().numpy()
        np.testing.assert_allclose(mesh.vertices, expected, atol=1e-4)
    else:
        assert (tmp_path / "f.mtl").is_file() and "usemtl M_Face" in path.read_text()


def test_unknown_format_leaves_nothing(model, tmp_path):
    with pytest.raises(BadInput):
        save_mesh(tmp_path / "f.stl", model.neutral.numpy(), model)
    assert list(tmp_path.iterdir()) == []


def test_cli_model_export(tmp_path):
    out = tmp_path / "f.glb"
    r = run_cli("model", "export", "--identity", "random", "--seed", "3", "--expression", "jawOpen=1", "-o", out)
    assert r.returncode == 0, r.stderr
    g = pygltflib.GLTF2.load(str(out))
    assert g.meshes[0].weights[ICT_NAMES.index("jawOpen")] == 1
    assert g.meshes[0].extras["targetNames"] == ict_target_names()
    r = run_cli("model", "export", "--expression", "jawOpen=2", "-o", tmp_path / "g.glb")
    assert r.returncode == 1 and "[0, 1]" in r.stderr and not (tmp_path / "g.glb").exists()
