"""face3d.geometry and face3d.camera against independent references (scipy, autograd)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from face3d import geometry
from face3d.camera import Camera, project, project_jacobian


def test_axis_angle_matches_scipy_both_ways():
    rng = np.random.default_rng(0)
    aa = rng.normal(size=(64, 3)) * rng.uniform(0, 3, size=(64, 1))
    aa[0] = 0  # the small-angle branch
    aa[1] = [1e-8, 0, 0]
    r = geometry.axis_angle_to_matrix(torch.from_numpy(aa)).numpy()
    np.testing.assert_allclose(r, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    back = geometry.matrix_to_axis_angle(torch.from_numpy(r)).numpy()
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), r, atol=1e-12)


def test_axis_angle_gradient_at_zero_is_the_skew_matrix():
    aa = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(geometry.axis_angle_to_matrix, (aa + 1e-3,))
    r = geometry.axis_angle_to_matrix(aa)
    r[0, 0, 1].backward()  # dR/dw at 0 is [w]x: R01 = -w_z
    assert aa.grad[0].tolist() == pytest.approx([0, 0, -1])


def test_skew_is_the_cross_product():
    rng = np.random.default_rng(1)
    v, u = (torch.from_numpy(rng.normal(size=(10, 3))) for _ in range(2))
    np.testing.assert_allclose((geometry.skew(v) @ u[..., None])[..., 0], torch.cross(v, u, dim=1), atol=1e-12)


def test_rigid_transform_and_normals():
    rng = np.random.default_rng(2)
    v = torch.from_numpy(rng.normal(size=(2, 5, 3)))
    rot, t, s = torch.from_numpy(rng.normal(size=(2, 3))), torch.from_numpy(rng.normal(size=(2, 3))), torch.tensor([2.0, 0.5], dtype=torch.float64)
    out = geometry.rigid_transform(v, rot, t, s).numpy()
    ref = np.stack([s[i].item() * Rotation.from_rotvec(rot[i].numpy()).apply(v[i].numpy()) + t[i].numpy() for i in range(2)])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    # a unit square in z = 0, counter-clockwise: normals +z
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
    n = geometry.vertex_normals(verts, np.array([[0, 1, 2], [0, 2, 3]]))
    np.testing.assert_allclose(n, [[0, 0, 1]] * 4, atol=1e-12)


def test_project_jacobian_matches_autograd():
    cam = Camera.for_image(640, 480)
    rng = np.random.default_rng(3)
    pts = torch.from_numpy(rng.normal(size=(7, 3)) * [10, 10, 5] + [0, 0, -60]).requires_grad_(True)
    jac = project_jacobian(pts.detach(), cam)
    auto = torch.autograd.functional.jacobian(lambda p: project(p, cam), pts)  # [7, 2, 7, 3]
    np.testing.assert_allclose(jac.numpy(), torch.stack([auto[i, :, i] for i in range(7)]).numpy(), rtol=1e-10)


def test_projection_pixel_convention():
    cam = Camera.for_image(101, 51)
    assert project(torch.tensor([[0.0, 0.0, -10.0]]), cam).tolist() == [[50.0, 25.0]]  # centre pixel
    x, y = project(torch.tensor([[1.0, 1.0, -10.0]]), cam)[0].tolist()
    assert x > 50 and y < 25  # x right, y up in camera space -> up in the image is smaller y
