"""Gaze from the irises: a face rendered (face3d.render) with known eye directions is fitted back."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d.camera import Camera
from face3d.correspondence import SCLERA_VERTICES
from face3d.fit import FitResult, eye_rotation, gaze_weights, mesh_vertices, turn_eyeballs
from face3d.detect import Detector
from face3d.correspondence import load_correspondence
from face3d.fit import fit_detection
from face3d.render import RenderContext, interpolate, lambert, pixel_normals, rasterize, sh_directional, to_clip
from face3d.render import vertex_normals

SKIN, SCLERA, IRIS, PUPIL, LASHES = (0.85, 0.66, 0.56), (0.92, 0.92, 0.9), (0.3, 0.2, 0.12), (0.03, 0.03, 0.03), (0.1, 0.08, 0.07)


@pytest.fixture(scope="module")
def ctx():
    with RenderContext() as c:
        yield c


def colours(model) -> torch.Tensor:
    """Per-vertex albedo [V, 3]: skin, white sclera, a brown iris with a black pupil, dark lashes."""
    v = model.neutral.numpy()
    col = np.tile(np.array(SKIN, np.float32), (len(v), 1))
    for side in ("left", "right"):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        centre = v[e0:e0 + SCLERA_VERTICES].mean(0)
        d = v[e0:e1] - centre  # both shells: the sclera's front (the cornea) is clear, so it shows the iris
        radial = np.linalg.norm(d[:, :2], axis=1)
        front = d[:, 2] > 0
        col[e0:e1] = SCLERA
        col[e0:e1][front & (radial < 0.6)] = IRIS
        col[e0:e1][front & (radial < 0.22)] = PUPIL
        l0, l1 = model.regions[f"eyelashes_{side}"][:2]
        col[l0:l1] = LASHES
    return torch.from_numpy(col)


def render_face(ctx, model, gaze: np.ndarray, rotation, size: int = 512) -> tuple[np.ndarray, Camera, torch.Tensor]:
    """A shaded picture [H, W, 3] uint8 of the mean face with the eyeballs turned by ``gaze [2, 2]`` (and
    the eyeLook lid shapes that go with it), the head turned by ``rotation [3]``; also the camera and the
    posed vertices."""
    camera = Camera.for_image(size, size)
    g = torch.from_numpy(gaze.astype(np.float32))
    with torch.no_grad():
        v = model(None, gaze_weights(g)[None]).vertices[0]
        v = turn_eyeballs(model, v, g)
        from face3d import geometry

        rot = geometry.axis_angle_to_matrix(torch.tensor(rotation, dtype=torch.float32)[None])[0]
        v = v @ rot.T + torch.tensor([0.0, -1.0, -42.0])
    parts = ("face", "head_and_neck", "eyeball_left", "eyeball_right", "eyelashes_left", "eyelashes_right")
    tri = torch.from_numpy(np.concatenate([model.region_faces(p) for p in parts])).int()
    rast = rasterize(ctx, to_clip(v[None], camera), tri, (size, size))
    albedo = interpolate(colours(model)[None], rast, tri)
    normals = pixel_normals(vertex_normals(v[None], tri), rast, tri)
    from face3d.render import sh_irradiance

    light = sh_irradiance(normals, sh_directional([0.3, 0.4, 1.0], ambient=0.45, diffuse=0.6))
    img = lambert(albedo, light)[0]
    covered = rast[0, ..., 3:4] > 0
    img = torch.where(covered, img, torch.full_like(img, 0.35))
    return (img.clamp(0, 1) * 255).round().byte().numpy(), camera, v


def gaze_directions(model, vertices: torch.Tensor) -> np.ndarray:
    """Unit directions [2, 3] (left, right eye) from each eyeball's centre through its pupil."""
    out = []
    for side in ("left", "right"):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        centre = vertices[e0:e0 + SCLERA_VERTICES].mean(0)
        iris = model.neutral[e0 + SCLERA_VERTICES:e1] - model.neutral[e0:e0 + SCLERA_VERTICES].mean(0)
        disk = iris[:, 2] > 0.9
        axis = vertices[e0 + SCLERA_VERTICES:e1][disk].mean(0) - centre
        out.append((axis / axis.norm()).numpy())
    return np.array(out)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_eye_rotation_convention():
    up = eye_rotation(torch.tensor(0.3), torch.tensor(0.0)) @ torch.tensor([0.0, 0.0, 1.0])
    left = eye_rotation(torch.tensor(0.0), torch.tensor(0.3)) @ torch.tensor([0.0, 0.0, 1.0])
    assert up[1] > 0.29 and abs(float(up[0])) < 1e-6  # pitch > 0 looks up
    assert left[0] > 0.29 and abs(float(left[1])) < 1e-6  # yaw > 0 looks towards +x (the subject's left)
    w = gaze_weights(torch.tensor([[0.0, np.radians(15)], [0.0, np.radians(15)]]))
    from face3d.names import ICT_NAMES

    assert w[ICT_NAMES.index("eyeLookOut_L")] == pytest.approx(0.5, abs=1e-5)
    assert w[ICT_NAMES.index("eyeLookIn_R")] == pytest.approx(0.5, abs=1e-5)
    assert w[ICT_NAMES.index("eyeLookIn_L")] == 0 and w[ICT_NAMES.index("eyeLookOut_R")] == 0


CASES = [((0, 0), (0.0, 0.0, 0.0)), ((12, 0), (0.0, 0.2, 0.0)), ((0, -15), (0.0, 0.1, 0.0)),
         ((-10, 15), (0.0, -0.15, 0.05)), ((0, 20), (0.0, 0.15, 0.0))]


def test_rendered_gaze_is_fitted_back(ctx, model):
    """Known (pitch, yaw) of both eyes, rendered, detected, fitted: the eye-in-head angles within the issue's
    5 degrees on average (3.0 measured), the eyeballs of the fitted mesh (camera space, with the fitted head
    pose) within 12 degrees of the truth (4.5-9.3 measured), and the fitted yaw on the side the eyes look to."""
    errors = []
    for gaze_deg, head in CASES:
        gaze = np.radians(np.array([gaze_deg, gaze_deg], np.float64))
        image, camera, posed = render_face(ctx, model, gaze, head)
        with Detector("image") as det:  # a fresh landmarker per picture, as for separate photos
            faces = det.detect(image)
        assert faces, f"no face in the render {gaze_deg}, {head}"
        res = fit_detection(faces[0], camera, load_correspondence(model))
        assert res.gaze is not None and res.gaze.shape == (2, 2)
        errors.append(np.abs(np.degrees(res.gaze) - np.array(gaze_deg)).mean())
        truth = gaze_directions(model, posed)
        fitted = gaze_directions(model, torch.from_numpy(mesh_vertices(model, res, posed=True)))
        for k in range(2):
            assert angle_deg(truth[k], fitted[k]) < 12.0, (gaze_deg, np.degrees(res.gaze))
        if abs(gaze_deg[1]) >= 15:
            assert np.sign(res.gaze[0, 1]) == np.sign(gaze_deg[1])
    assert np.mean(errors) < 5.0, errors


def test_closed_or_missing_irises_give_no_gaze(model):
    """Landmarks without irises (zeros): the eyes look straight ahead, the eyeLook shapes stay 0."""
    from face3d.correspondence import load_correspondence
    from face3d.detect import Detection
    from face3d.fit import fit_detection
    from face3d.camera import project

    corr = load_correspondence(model)
    camera = Camera.for_image(480, 480)
    pts = corr.landmarks.points(torch.zeros(153)) + torch.tensor([0.0, 0.0, -50.0])
    lm = np.zeros((478, 3), np.float32)
    lm[:468, :2] = project(pts, camera).numpy()
    res = fit_detection(Detection(lm, {}, np.eye(4, dtype=np.float32), (480, 480)), camera, corr)
    np.testing.assert_array_equal(res.gaze, 0)
    assert isinstance(res, FitResult)
