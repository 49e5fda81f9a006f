"""The fit's small solvers against references: bounded least squares vs scipy, pose from exact points."""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import lsq_linear

from face3d import geometry
from face3d.camera import Camera, project
from face3d.fit import Pose, solve_bounded, solve_pose


def test_solve_bounded_matches_scipy_lsq_linear():
    rng = np.random.default_rng(0)
    for trial in range(5):
        a = rng.normal(size=(80, 20))
        y = rng.normal(size=80) * 3
        lo, hi = np.zeros(20), np.ones(20)
        ref = lsq_linear(a, y, bounds=(lo, hi), tol=1e-12, lsmr_tol="auto", max_iter=1000).x
        h, b = torch.from_numpy(a.T @ a), torch.from_numpy(a.T @ y)
        x = solve_bounded(h, b, torch.from_numpy(lo), torch.from_numpy(hi), torch.full((20,), 0.5, dtype=torch.float64),
                          iterations=100).numpy()
        assert (x >= 0).all() and (x <= 1).all()
        f = lambda v: 0.5 * np.sum((a @ v - y) ** 2)  # noqa: E731
        assert f(x) <= f(ref) + 1e-8 * max(1.0, f(ref)), trial
        np.testing.assert_allclose(x, ref, atol=1e-5)


def test_solve_pose_recovers_a_known_pose():
    rng = np.random.default_rng(1)
    cam = Camera.for_image(640, 480)
    points = torch.from_numpy(rng.normal(size=(60, 3)) * 5).float()
    rot = geometry.axis_angle_to_matrix(torch.tensor([[0.2, -0.3, 0.1]]))[0]
    t = torch.tensor([2.0, -1.0, -60.0])
    target = project(points @ rot.T + t, cam)
    start = Pose(torch.eye(3), torch.tensor([0.0, 0.0, -50.0]))
    pose = solve_pose(points, target, torch.ones(60), cam, start, iterations=10)
    assert torch.allclose(pose.rotation, rot, atol=1e-4)
    assert torch.allclose(pose.translation, t, atol=1e-2)
