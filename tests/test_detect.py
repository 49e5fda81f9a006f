"""face3d.detect: image loading and conversion, MediaPipe detection with retries, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from face3d.correspondence import read_correspondence
from face3d.detect import Detector, detect, load_image
from face3d.errors import BadInput, NoFace
from face3d.names import ARKIT_NAMES


@pytest.fixture(scope="module")
def astronaut(shared) -> np.ndarray:
    return np.asarray(Image.open(shared / "faces" / "astronaut.png").convert("RGB"))


@pytest.fixture(scope="module")
def detector():
    with Detector("image") as det:
        yield det


def test_load_image_converts_modes(astronaut, tmp_path):
    gray = astronaut.mean(2).astype(np.uint8)
    assert load_image(gray).shape == astronaut.shape
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(load_image(rgba), astronaut)
    np.testing.assert_array_equal(load_image(astronaut.astype(np.uint16) * 257), astronaut)
    np.testing.assert_array_equal(load_image(astronaut / 255.0), astronaut)
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # a 16-bit grayscale PNG
    out = load_image(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == astronaut.shape
    assert np.abs(out[..., 0].astype(int) - gray).max() <= 1


def test_exif_orientation_is_applied(astronaut, tmp_path, detector):
    im = Image.fromarray(astronaut[:, :400])
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it 90 degrees clockwise
    im.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "side.jpg", exif=exif)
    upright = load_image(tmp_path / "side.jpg")
    assert upright.shape == (512, 400, 3)
    assert np.abs(upright.astype(int) - astronaut[:, :400]).mean() < 8  # jpeg noise only
    (face,) = detector.detect(tmp_path / "side.jpg")
    eyes = face.landmarks[[33, 263], :2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.2 * abs(eyes[0, 0] - eyes[1, 0])  # eyes level: upright face


def test_detection_fields(astronaut, detector):
    (face,) = detector.detect(astronaut)
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    assert face.transform.shape == (4, 4)
    assert len(face.blendshapes) == 51 and set(face.blendshapes) < set(ARKIT_NAMES)  # all but tongueOut
    assert face.blendshapes["mouthSmileLeft"] > 0.3  # she smiles
    assert face.image_size == (512, 512)
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face, not elsewhere


@pytest.mark.parametrize("name", ["takeo.png", "astronaut.png"])
def test_tight_crop_is_found_by_padding(shared, detector, name):
    photo = load_image(shared / "faces" / name)
    (face,) = detector.detect(photo)
    x0, y0, x1, y1 = face.box.astype(int) + [20, 20, -20, -20]
    (found,) = detector.detect(photo[y0:y1, x0:x1])  # the face fills the frame: a first pass misses it
    inner = read_correspondence()["mediapipe68"][36:]  # eyes and mouth: the points still inside the crop
    np.testing.assert_allclose(found.landmarks[inner, :2] + [x0, y0], face.landmarks[inner, :2], atol=3)


def test_small_face_in_large_photo_is_found_by_crops(shared, detector):
    faces = detector.detect(shared / "faces" / "einstein.jpg")
    assert faces and 330 < faces[0].box[0] < 380 and 260 < faces[0].box[1] < 310


def test_large_image_is_detected_downscaled(astronaut, detector):
    big = np.asarray(Image.fromarray(astronaut).resize((2560, 2560)))
    (face,) = detector.detect(big)
    (ref,) = detector.detect(astronaut)
    np.testing.assert_allclose((face.landmarks[:468, :2] + 0.5) / 5 - 0.5, ref.landmarks[:468, :2], atol=3)


def test_no_face_and_bad_files(tmp_path, detector):
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert detector.detect(blank) == []
    with pytest.raises(NoFace):
        detect(blank)
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(BadInput, match="notes.jpg"):
        load_image(tmp_path / "notes.jpg")
    with pytest.raises(BadInput, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_video_mode(astronaut):
    with Detector("video") as det:
        first = det.detect(astronaut, timestamp_ms=0)
        second = det.detect(astronaut, timestamp_ms=33)
    assert len(first) == len(second) == 1
    np.testing.assert_allclose(first[0].landmarks[:, :2], second[0].landmarks[:, :2], atol=3)


GROUP_PHOTOS = ("astronaut.png", "takeo.png", "lfpw_train_image_0001.png", "lfpw_train_image_0003.png",
                "lfpw_train_image_0005.png", "IBUG_image_008_1_0.jpg")


def group_photo(shared, detector, iods, size=(3000, 2000), seed=0):
    """A large canvas with the shared photos' faces pasted at the inter-ocular distances ``iods`` (px) ->
    (image, [(centre x, centre y, iod)])."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", size, (118, 126, 110))
    truth, placed = [], []
    for k, iod in enumerate(iods):
        rgb = load_image(shared / "faces" / GROUP_PHOTOS[k % len(GROUP_PHOTOS)])
        face = detector.detect(rgb)[0]
        x0, y0, x1, y1 = face.box
        s = 1.6 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = int(iod * s / np.linalg.norm(face.landmarks[33, :2] - face.landmarks[263, :2]))
        crop = Image.fromarray(rgb).crop((int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2)))
        for _ in range(500):  # a free spot
            x, y = int(rng.integers(0, size[0] - side)), int(rng.integers(0, size[1] - side))
            if all(x + side < px or px + ps < x or y + side < py or py + ps < y for px, py, ps in placed):
                break
        placed.append((x, y, side))
        canvas.paste(crop.resize((side, side), Image.Resampling.LANCZOS), (x, y))
        truth.append((x + side / 2, y + side / 2, iod))
    return np.asarray(canvas), truth


def test_every_face_in_a_group_photo_is_found(shared, detector):
    """Faces 40-300 px between the eye corners on a 6 Mpx canvas: the first pass finds the large ones, the
    multi-scale pass (``every_face``) every one, with no extra detections."""
    iods = (40, 40, 55, 70, 100, 140, 200, 300)
    image, truth = group_photo(shared, detector, iods)
    hit = lambda faces: [any(f.box[0] < x < f.box[2] and f.box[1] < y < f.box[3] for f in faces)  # noqa: E731
                         for x, y, _ in truth]
    first = detector.detect(image)
    assert sum(hit(first)) < len(truth)  # the case this exists for: MediaPipe alone misses the small faces
    every = detector.detect(image, every_face=True)
    assert all(hit(every)), [t for t, h in zip(truth, hit(every)) if not h]
    assert len(every) == len(truth)
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in every]
    assert areas == sorted(areas, reverse=True)


def test_a_face_is_picked_by_number_or_box(shared, detector, tmp_path):
    from face3d.pipeline import fit

    photo = shared / "faces" / "breakingbad.jpg"
    faces = detector.detect(photo, every_face=True)
    assert len(faces) == 2
    second = fit(photo, face=1, refine=False, detector=detector)
    x0, y0, x1, y1 = faces[1].box
    assert x0 - 5 < second.ibug68[:, 0].mean() < x1 + 5 and y0 - 5 < second.ibug68[:, 1].mean() < y1 + 5
    by_box = fit(photo, box=(x0, y0, x1 - x0, y1 - y0), refine=False, detector=detector)
    np.testing.assert_allclose(by_box.ibug68, second.ibug68, atol=1.0)
    with pytest.raises(NoFace, match="face 2 asked for, but 2 found"):
        fit(photo, face=2, refine=False, detector=detector)
    with pytest.raises(NoFace, match="no face found in the box"):
        fit(photo, box=(0, 0, 30, 30), refine=False, detector=detector)
