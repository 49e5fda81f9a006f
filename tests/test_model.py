import re

import numpy as np
import pytest
import torch

from face3d.assets import _archive_reader, parse_obj_vertices
from face3d.model import N_EXPRESSION, N_IDENTITY, REGIONS
from face3d.names import ICT_NAMES


@pytest.fixture(scope="session")
def upstream(shared):
    """Reader for the upstream FaceXModel OBJ files, straight from the shared archive."""
    return _archive_reader(shared / "ict-facekit" / "FaceXModel.tar.xz")


def _max_err(model, upstream, name, **coeffs):
    with torch.no_grad():
        v = model(**coeffs).vertices[0].numpy()
    return np.abs(v - parse_obj_vertices(upstream(name))).max()


def test_zero_coefficients_reproduce_neutral(model, upstream):
    assert model.n_vertices == 26719
    assert _max_err(model, upstream, "generic_neutral_mesh.obj") < 1e-5


def test_each_expression_reproduces_its_obj(model, upstream):
    for i, name in enumerate(ICT_NAMES):
        e = torch.zeros(1, N_EXPRESSION)
        e[0, i] = 1
        assert _max_err(model, upstream, f"{name}.obj", expression=e) < 1e-5, name


def test_each_identity_mode_reproduces_its_obj(model, upstream):
    for i in range(N_IDENTITY):
        c = torch.zeros(1, N_IDENTITY)
        c[0, i] = 1
        assert _max_err(model, upstream, f"identity{i:03d}.obj", identity=c) < 1e-5, i


def test_batched_pose_matches_single(model):
    g = torch.Generator().manual_seed(0)
    ident, expr = torch.randn(3, N_IDENTITY, generator=g), torch.rand(3, N_EXPRESSION, generator=g)
    rot, trans = torch.randn(3, 3, generator=g) * 0.3, torch.randn(3, 3, generator=g) * 5
    scale = torch.tensor([1.0, 0.9, 1.1])
    batch = model(identity=ident, expression=expr, rotation=rot, translation=trans, scale=scale).vertices
    assert batch.shape == (3, 26719, 3)
    for b in range(3):
        one = model(identity=ident[b:b + 1], expression=expr[b:b + 1], rotation=rot[b:b + 1],
                    translation=trans[b:b + 1], scale=scale[b:b + 1]).vertices[0]
        torch.testing.assert_close(batch[b], one, atol=1e-4, rtol=0)
    # a rigid transform keeps distances (times the scale)
    unposed = model(identity=ident, expression=expr).vertices
    d0 = (unposed[:, 0] - unposed[:, 5000]).norm(dim=-1)
    d1 = (batch[:, 0] - batch[:, 5000]).norm(dim=-1)
    torch.testing.assert_close(d1, d0 * scale, rtol=1e-4, atol=1e-4)


def test_forward_is_differentiable(model):
    expr = torch.zeros(1, N_EXPRESSION, requires_grad=True)
    rot = torch.zeros(1, 3, requires_grad=True)
    v = model(expression=expr, rotation=rot).vertices
    v[0, model.landmarks68].sum().backward()
    assert expr.grad.abs().sum() > 0 and torch.isfinite(rot.grad).all()


def test_mirror_map_pairs_opposite_x(model):
    v = model.neutral.numpy()
    m = model.mirror
    face = np.arange(*REGIONS["face"][:2])
    assert (m[face] >= 0).mean() > 0.99
    ok = np.flatnonzero(m >= 0)
    np.testing.assert_allclose(v[m[ok], 0], -v[ok, 0], atol=1e-3)
    np.testing.assert_allclose(v[m[ok], 1:], v[ok, 1:], atol=1e-3)
    # mirroring twice lands where it started (coincident duplicate vertices may swap places)
    twice = ok[m[m[ok]] >= 0]
    np.testing.assert_allclose(v[m[m[twice]]], v[twice], atol=2e-3)


def test_landmarks_match_ict_readme(model, shared):
    text = (shared / "ict-facekit" / "UPSTREAM_README.md").read_text()
    block = text.split("Multi-PIE 68 point facial landmarks indices:")[1]
    listed = [int(x) for x in re.findall(r"\d+", block.split("![")[0])]
    assert listed == model.landmarks68.tolist()


def test_regions_tile_the_mesh(model):
    spans = sorted(v for k, v in REGIONS.items() if k != "narrow_face")
    assert spans[0][0] == 0 and spans[-1][1] == model.n_vertices and spans[-1][3] == len(model.polygons)
    for a, b in zip(spans, spans[1:]):
        assert a[1] == b[0] and a[3] == b[2]
    assert len(model.region_faces("teeth")) > 0


def test_triangulation_and_uvs(model):
    faces = model.faces.numpy()
    n_quads = int((model.polygons[:, 3] >= 0).sum())
    assert len(faces) == len(model.polygons) + n_quads
    assert faces.max() == model.n_vertices - 1
    assert model.uv_faces.shape == faces.shape and model.uv_faces.max() < len(model.uvs)
    n = model.vertex_normals(model.neutral.numpy())
    np.testing.assert_allclose(np.linalg.norm(n[:9409], axis=1), 1, atol=1e-5)
    # the nose tip normal points toward the viewer (+z)
    assert n[model.landmarks68[30], 2] > 0.5
