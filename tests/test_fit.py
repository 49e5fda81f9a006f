"""face3d.fit: the solver recovers known parameters; real photos; outputs; the `fit` command."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from face3d import geometry
from face3d.cli import main
from face3d.camera import Camera, project
from face3d.correspondence import load_correspondence
from face3d.detect import Detection, Detector
from face3d.fit import fit_detection
from face3d.formats.fitdir import fit_params
from face3d.pipeline import fit, save_fit
from face3d.names import ICT_NAMES

SMILE = [ICT_NAMES.index("mouthSmile_L"), ICT_NAMES.index("mouthSmile_R")]
JAW_OPEN = ICT_NAMES.index("jawOpen")


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two axis-angle rotations [3], degrees."""
    ra, rb = (geometry.axis_angle_to_matrix(torch.tensor(x, dtype=torch.float64)[None])[0].numpy() for x in (a, b))
    return float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))


def known_face(model):
    """Parameters of a test face: identity, expression [53], rotation (axis-angle), translation (cm)."""
    identity = 0.7 * torch.randn(100, generator=torch.Generator().manual_seed(3))
    expression = torch.zeros(53)
    expression[JAW_OPEN], expression[SMILE] = 0.5, 0.8
    return identity, expression, torch.tensor([0.1, 0.35, 0.05]), torch.tensor([1.0, -2.0, -60.0])


def test_recovers_pose_and_expression_from_exact_landmarks(model):
    """Landmarks projected from known parameters; the solver starts from a frontal pose and no expression."""
    identity, expression, rotation, translation = known_face(model)
    camera = Camera.for_image(480, 480)
    corr = load_correspondence(model)
    theta = torch.cat([identity, expression])
    rot = geometry.axis_angle_to_matrix(rotation[None])[0]
    pts = corr.landmarks.points(theta) @ rot.T + translation
    lm = np.zeros((478, 3), np.float32)
    lm[:468, :2] = project(pts, camera).numpy()
    det = Detection(lm, {}, np.eye(4, dtype=np.float32), (480, 480))
    res = fit_detection(det, camera, corr)
    assert angle_deg(res.rotation, rotation.numpy()) < 1.5
    assert abs(res.expression[JAW_OPEN] - 0.5) < 0.15
    assert (res.expression[SMILE] > 0.6).all()
    assert (res.expression >= 0).all() and (res.expression <= 1).all()
    truth = project(pts, camera).numpy()[corr.mediapipe68.numpy()[17:]]
    assert np.abs(res.ibug68[17:] - truth).max() < 0.02 * 480  # inner iBUG points are model surface points


def test_sparsity_keeps_unscored_channels_at_zero(model):
    """With MediaPipe-like scores (the shown channels scored, the rest 0), channels absent from the truth
    stay near 0 and the shown ones are recovered about as well as without the sparsity term."""
    import importlib

    fitmod = importlib.import_module("face3d.fit")
    from face3d.names import ICT_NAMES as names, ict_to_arkit_name

    identity, expression, rotation, translation = known_face(model)
    camera = Camera.for_image(480, 480)
    corr = load_correspondence(model)
    theta = torch.cat([identity, expression])
    rot = geometry.axis_angle_to_matrix(rotation[None])[0]
    lm = np.zeros((478, 3), np.float32)
    lm[:468, :2] = project(corr.landmarks.points(theta) @ rot.T + translation, camera).numpy()
    scores = {ict_to_arkit_name(n): 0.0 for n in names}
    for k in (JAW_OPEN, *SMILE):
        scores[ict_to_arkit_name(names[k])] = 0.3
    det = Detection(lm, scores, np.eye(4, dtype=np.float32), (480, 480))
    res = fit_detection(det, camera, corr)
    absent = (expression.numpy() == 0)
    absent[fitmod.LOOK_CHANNELS.numpy()] = False
    assert res.expression[absent].mean() < 0.05 and res.expression[absent].max() < 0.15
    assert abs(res.expression[JAW_OPEN] - 0.5) < 0.15 and (res.expression[SMILE] > 0.5).all()


def test_inner_lips_follow_their_own_lip(model):
    """ICT's neutral mouth is closed: MediaPipe's lower inner lip (14, 87, 317) must sit on the lower lip, which
    jawOpen moves down, not on the upper one beside it (13, 82, 312); so must iBUG 66 against 62."""
    corr = load_correspondence(model)
    down = corr.landmarks.basis[:, 1, 100 + JAW_OPEN]
    assert (down[[14, 87, 317]] < down[[13, 82, 312]] - 1.0).all()
    ibug_down = corr.ibug68.basis[:, 1, 100 + JAW_OPEN]
    assert ibug_down[66] < ibug_down[62] - 1.0


def render(model, identity, expression, rotation, translation, camera) -> np.ndarray:
    """A shaded picture [H, W, 3] of the whole head with known parameters, on grey."""
    from face3d.overlay import render_overlay

    with torch.no_grad():
        v = model(identity[None], expression[None], rotation[None], translation[None]).vertices[0].numpy()
    parts = ("face", "head_and_neck", "mouth_socket", "teeth", "gums_and_tongue", "eyeball_left", "eyeball_right")
    tris = np.concatenate([model.region_faces(p) for p in parts])
    grey = np.full((camera.height, camera.width, 3), 90, np.uint8)
    return np.asarray(render_overlay(None, grey, v, tris, camera, colour=(230, 190, 170), alpha=1.0))


def test_recovers_pose_and_expression_from_rendered_image(model):
    """Photo path end to end: render known parameters, detect with MediaPipe, fit."""
    identity, expression, rotation, translation = known_face(model)
    camera = Camera.for_image(480, 480)
    image = render(model, identity, expression, rotation, translation, camera)
    res = fit(image)
    assert angle_deg(res.rotation, rotation.numpy()) < 6
    assert res.expression[JAW_OPEN] > 0.25
    assert res.expression[SMILE].mean() > 0.4


@pytest.fixture(scope="module")
def astronaut_fit(shared):
    import face3d

    return face3d.fit(shared / "faces" / "astronaut.png")  # the top-level API


def test_astronaut_smiles_with_plausible_pose(astronaut_fit):
    res = astronaut_fit
    assert (res.expression[SMILE] > 0.5).all()
    pitch, yaw, roll = fit_params(res)["pose"]["pitch_yaw_roll_deg"]
    assert abs(yaw) < 15 and abs(roll) < 15 and abs(pitch) < 30  # she faces the camera
    assert 40 < -res.translation[2] < 300  # a head at a photographic distance (cm)
    x0, y0 = res.ibug68.min(0)
    x1, y1 = res.ibug68.max(0)
    assert 160 < x0 < x1 < 290 and 60 < y0 < y1 < 200  # on her face


def test_save_writes_every_output(astronaut_fit, model, shared, tmp_path):
    out = save_fit(astronaut_fit, tmp_path / "a", image=shared / "faces" / "astronaut.png", model=model)
    names = {p.name for p in out.iterdir()}
    assert {".face3d-output", "landmarks.json", "mesh.glb", "mesh.mtl", "mesh.obj", "overlay.png",
            "params.json"} <= names
    params = json.loads((out / "params.json").read_text())
    assert len(params["identity"]) == 100 and len(params["expression"]) == 53
    assert params["expression_arkit"]["mouthSmileLeft"] > 0.5
    assert params["image_size"] == [512, 512] and params["camera"]["focal_px"] > 0
    lms = json.loads((out / "landmarks.json").read_text())
    assert np.array(lms["ibug68"]).shape == (68, 2) and np.array(lms["mediapipe478"]).shape == (478, 3)
    overlay = np.asarray(Image.open(out / "overlay.png"))
    photo = np.asarray(Image.open(shared / "faces" / "astronaut.png").convert("RGB"))
    assert overlay.shape == photo.shape
    changed = np.abs(overlay.astype(int) - photo).sum(2) > 30
    ys, xs = np.nonzero(changed)
    assert 160 < np.median(xs) < 290 and 60 < np.median(ys) < 200  # the mesh is drawn on the face
    assert (out / "mesh.obj").read_text().count("\nvt ") > 1000


def test_cli_no_face_exits_2_with_one_line(tmp_path):
    """As a user runs it (a fresh process): exit code 2, one line on stderr, no output folder."""
    Image.new("RGB", (200, 160), (120, 120, 120)).save(tmp_path / "blank.png")
    r = run_cli("fit", tmp_path / "blank.png", "-o", tmp_path / "none")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no face" in r.stderr and "blank.png" in r.stderr
    assert not (tmp_path / "none").exists()


def test_cli_fit_outputs_and_bad_input(shared, tmp_path, capfd):
    assert main(["fit", str(shared / "faces" / "takeo.png"), "-o", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "mesh.glb").is_file() and (tmp_path / "t" / "overlay.png").is_file()
    capfd.readouterr()

    (tmp_path / "notes.png").write_text("hello")
    assert main(["fit", str(tmp_path / "notes.png"), "-o", str(tmp_path / "bad")]) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "notes.png" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_cli_several_images_and_all_faces(shared, tmp_path, capfd):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("breakingbad.jpg", "takeo.png"):
        (folder / name).write_bytes((shared / "faces" / name).read_bytes())
    (folder / "blank.png").write_bytes((shared / "faces" / "takeo.png").read_bytes()[:50])  # truncated file
    assert main(["fit", str(folder), "-o", str(tmp_path / "out"), "--all-faces"]) == 1  # one image skipped
    assert "blank.png" in capfd.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".face3d-output", "breakingbad", "summary.json", "takeo"]
    assert sorted(p.name for p in (tmp_path / "out" / "breakingbad").iterdir()) == [".face3d-output", "face_0", "face_1"]
    assert (tmp_path / "out" / "takeo" / "face_0" / "params.json").is_file()


def test_fit_is_deterministic(shared):
    with Detector("image") as det:
        a = fit(shared / "faces" / "lfpw_train_image_0002.png", detector=det)
        b = fit(shared / "faces" / "lfpw_train_image_0002.png", detector=det)
    np.testing.assert_array_equal(a.identity, b.identity)
    np.testing.assert_array_equal(a.ibug68, b.ibug68)


def test_focal_length_from_exif(shared, tmp_path):
    from face3d.camera import exif_focal_35mm

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 50  # FocalLengthIn35mmFilm
    Image.open(shared / "faces" / "astronaut.png").convert("RGB").save(tmp_path / "e.jpg", exif=exif)
    assert exif_focal_35mm(tmp_path / "e.jpg") == 50
    assert exif_focal_35mm(shared / "faces" / "astronaut.png") is None
    assert Camera.for_image(512, 384, 50).focal == pytest.approx(50 / 36 * 512)


def exact_detection(corr, theta, rotation, translation, camera) -> Detection:
    """A detection whose 468 landmarks are the model's, projected exactly (no irises, no scores)."""
    rot = geometry.axis_angle_to_matrix(rotation[None])[0]
    lm = np.zeros((478, 3), np.float32)
    lm[:468, :2] = project(corr.landmarks.points(theta) @ rot.T + translation, camera).numpy()
    return Detection(lm, {}, np.eye(4, dtype=np.float32), (camera.width, camera.height))


def test_estimated_focal_length_moves_towards_the_true_one(model):
    """Exact landmarks of a face seen through a wide-angle (0.6 x the side) or a long (2.4 x) lens, fitted
    from the default guess (1.2 x): ``estimate_focal`` moves the focal length most of the way towards the
    truth (at long focal lengths the perspective that tells them apart fades, so the prior keeps a share);
    without it the caller's camera is kept."""
    identity, _, rotation, _ = known_face(model)
    corr = load_correspondence(model)
    theta = torch.cat([identity, torch.zeros(53)])
    guess = Camera.for_image(480, 480)
    for true, low, high in ((0.6, 0.5, 0.85), (2.4, 1.45, 2.9)):
        camera = Camera(true * 480, guess.cx, guess.cy, 480, 480)
        det = exact_detection(corr, theta, rotation, torch.tensor([1.0, -2.0, -50.0 * true]), camera)
        res = fit_detection(det, guess, corr, estimate_focal=True)
        assert low * 480 < res.camera.focal < high * 480
        assert fit_detection(det, guess, corr).camera == guess


def test_annotated_jaw_moves_to_the_annotation(model):
    """``build_correspondence.with_annotated_jaw``: ground truth made by projecting jaw points placed 1 cm
    lower on the face (mirror-symmetric) in three fits at different yaws; the step moves the shipped jaw
    rows there: the jaw's reprojection error falls to under a quarter, the other rows are kept."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import build_correspondence as bc
    from face3d.correspondence import make_correspondence, read_correspondence
    from face3d.fit import FitResult

    arrays = read_correspondence()
    ict_v = model.neutral.numpy().astype(np.float64)
    start = (arrays["ibug68_3d_barycentric"][:, :, None] * ict_v[arrays["ibug68_3d_triangles"]]).sum(1)
    moved = start[:17] + [0.0, -1.0, 0.0]
    tri, bary = bc.embed(moved, ict_v, model.region_faces("narrow_face"))
    t, b = arrays["ibug68_3d_triangles"].copy(), arrays["ibug68_3d_barycentric"].copy()
    t[:17], b[:17] = tri, bary
    truth = make_correspondence(model, dict(arrays, ibug68_3d_triangles=t, ibug68_3d_barycentric=b))
    camera = Camera.for_image(480, 480)
    identity, expression, _, _ = known_face(model)
    theta = torch.cat([identity, expression])
    annotated = []
    for yaw in (-0.4, 0.0, 0.3):
        rotation, translation = torch.tensor([0.05, yaw, 0.0]), torch.tensor([0.0, 0.0, -60.0])
        rot = geometry.axis_angle_to_matrix(rotation[None])[0]
        gt = project(truth.ibug68_3d.points(theta) @ rot.T + translation, camera).double().numpy()
        fitted = FitResult(identity.numpy(), expression.numpy(), rotation.numpy(), translation.numpy(), camera,
                           np.zeros((68, 2), np.float32), np.zeros((478, 3), np.float32))
        annotated.append((fitted, gt))

    def jaw_error(a) -> float:
        corr = make_correspondence(model, a)
        errs = []
        for fitted, gt in annotated:
            rot = geometry.axis_angle_to_matrix(torch.from_numpy(fitted.rotation)[None])[0]
            p = project(corr.ibug68_3d.points(theta) @ rot.T + torch.from_numpy(fitted.translation), camera)
            errs.append(np.linalg.norm(p.numpy()[:17] - gt[:17], axis=1).mean())
        return float(np.mean(errs))

    out = bc.with_annotated_jaw(model, arrays, annotated)
    assert jaw_error(out) < 0.25 * jaw_error(arrays)
    np.testing.assert_array_equal(out["ibug68_3d_triangles"][17:], arrays["ibug68_3d_triangles"][17:])
    np.testing.assert_array_equal(out["ibug68_3d_barycentric"][17:], arrays["ibug68_3d_barycentric"][17:])
