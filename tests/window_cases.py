"""``face3d view``: the viewer in a real window under Xvfb (started here), driven through its own handlers.

Needs the ``xvfb`` Debian package (.ci/run installs it); without it these tests FAIL naming it.
"""
import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

FPS = 30


@pytest.fixture(scope="module")
def display():
    """An Xvfb display of our own for this module; DISPLAY points at it while the tests run."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.fail("Xvfb not found: apt-get install -y xvfb")
    for number in range(90, 140):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    proc = subprocess.Popen([exe, f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(f"/tmp/.X11-unix/X{number}"):
            break
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    yield f":{number}"
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def fit_folder(model, tmp_path_factory):
    """A fit folder (as `face3d fit` writes it) with a photo and an albedo texture of pure colours."""
    from face3d.camera import Camera
    from face3d.fit import FitResult
    from face3d.pipeline import save_fit
    folder = tmp_path_factory.mktemp("fit") / "fit"
    camera = Camera.for_image(640, 480)
    result = FitResult(np.zeros(100, np.float32), np.zeros(53, np.float32), np.array([0.0, 0.3, 0.0], np.float32),
                       np.array([0.0, 0.0, -70.0], np.float32), camera, np.zeros((68, 2), np.float32),
                       np.zeros((478, 3), np.float32))
    save_fit(result, folder, model=model)
    photo = np.zeros((480, 640, 3), np.uint8)
    photo[..., 2] = 230  # a blue photo
    Image.fromarray(photo).save(folder / "photo.png")
    tex = np.zeros((256, 256, 3), np.uint8)
    tex[..., 1] = 255  # green
    tex[::32, :] = tex[:, ::32] = (255, 0, 255)
    Image.fromarray(tex).save(folder / "albedo.png")
    return folder


def _centre(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return img[h // 3: 2 * h // 3, w // 3: 2 * w // 3].astype(np.float32)


def test_animated_glb_in_a_window(display, animated_glb, tmp_path):
    from face3d.formats.scene import read_scene
    from face3d.viewer.draw import BACKGROUND
    from face3d.viewer.window import Viewer
    with Viewer(read_scene(animated_glb), (480, 360)) as v:
        assert v.scene.animated and v.scene.duration == pytest.approx(2.0)
        v.on_key("space")  # play -> pause
        assert not v.clock.playing
        shot = v.screenshot(tmp_path / "closed.png", t=0.0, panel=False)
        closed = np.asarray(Image.open(shot).convert("RGB"))
        assert closed.shape == (360, 480, 3)
        bg = np.array(BACKGROUND) * 255
        face = np.abs(_centre(closed) - bg).max(-1) > 30
        assert face.mean() > 0.5, "no face in the centre of the window"
        open_ = v.image(t=1.0)
        assert (np.abs(open_.astype(float) - closed).max(-1) > 30).mean() > 0.002, "jawOpen did not move the mouth"
        v.on_key("right")  # one frame on
        assert v.clock.time == pytest.approx(1 / FPS, abs=1e-6)
        v.on_mouse_button(0, True, 240, 180)
        v.on_cursor(340, 200)
        v.on_mouse_button(0, False, 340, 200)
        orbited = v.image(t=0.0)
        assert (np.abs(orbited.astype(float) - closed).max(-1) > 30).mean() > 0.05, "the drag did not orbit"
        v.on_key("w")
        wire = v.image(t=0.0)
        assert (np.abs(wire.astype(float) - orbited).max(-1) > 30).mean() > 0.02, "wireframe toggle changed nothing"
        v.on_key("w")
        v.on_key("r")
        assert np.abs(v.image(t=0.0).astype(float) - closed).mean() < 1.0, "reset did not restore the view"
        v.on_key("h")
        assert v.show_help
        panel = v.image(t=0.0, panel=True)
        assert (np.abs(panel[:120, :200].astype(float) - v.image(t=0.0)[:120, :200]).max(-1) > 30).mean() > 0.05


def test_fit_folder_texture_and_photo(display, fit_folder):
    from face3d.formats.scene import read_scene
    from face3d.viewer.window import Viewer
    scene = read_scene(fit_folder)
    assert scene.texture is not None and scene.photo is not None and scene.camera is not None
    with Viewer(scene, (480, 360)) as v:
        assert v.state.textured
        img = v.image().astype(int)
        green = (img[..., 1] > img[..., 0] + 60) & (img[..., 1] > img[..., 2] + 60)
        assert green.mean() > 0.05, "the albedo texture's green is not on screen"
        v.on_key("t")
        plain = v.image().astype(int)
        assert ((plain[..., 1] > plain[..., 0] + 60) & (plain[..., 1] > plain[..., 2] + 60)).mean() < 0.001
        v.on_key("p")  # the photo behind the face, through the fitted camera
        photo = v.image().astype(int)
        blue = (photo[..., 2] > 180) & (photo[..., 0] < 60)
        assert blue.mean() > 0.3, "the photo is not behind the face"
        assert not blue[150:210, 210:270].all(), "the face is not in front of the photo"
        v.on_key("l")
        marks = v.image().astype(int)
        dots = (marks[..., 1] > 200) & (marks[..., 0] < 80)
        assert dots.sum() > 68, "landmarks not drawn"


def test_screenshot_command(display, animated_glb, tmp_path):
    out = tmp_path / "shot.png"
    done = run_cli("view", animated_glb, "--screenshot", out, "--time", "1.0", "--size", "320x240",
                   "--view", "three-quarter")
    assert done.returncode == 0, done.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (240, 320, 3) and img.std() > 20
    again = run_cli("view", animated_glb, "--screenshot", out)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "exists" in again.stderr


def test_no_display_says_what_to_use_instead(animated_glb):
    done = run_cli("view", animated_glb, env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "face3d render" in done.stderr


def test_audio_without_sound_output_plays_silently(display, animated_glb, tmp_path):
    from face3d.formats.scene import read_scene
    from face3d.viewer.clock import AudioOutput
    from face3d.viewer.window import Viewer
    lines = []
    samples = np.zeros(44100, np.float32)
    out, reason = AudioOutput.open(samples, 44100)
    with Viewer(read_scene(animated_glb), (320, 240), audio=(samples, 44100), say=lines.append) as v:
        if out is None:  # this machine: no sound device
            assert len(lines) == 1 and "playing silently" in lines[0] and v.clock.audio_position is None
        else:
            out.close()
            assert v.clock.audio_position is not None
        v.image()


def test_clock_follows_the_audio_device_without_drift():
    from face3d.viewer.clock import PlaybackClock
    wall = [0.0]
    # a sound card whose crystal runs 0.2 % fast against the wall clock, delivering 10 ms blocks
    device = lambda: np.floor(wall[0] * 1.002 * 100) / 100  # noqa: E731
    clock = PlaybackClock(120.0, loop=False, now=lambda: wall[0], audio_position=device)
    clock.seek(0.0)
    worst = 0.0
    for step in range(60 * 60):  # one minute of 60 Hz frames
        wall[0] = step / 60
        worst = max(worst, abs(clock.time - device()))
    assert worst < 1 / FPS, worst
    silent = PlaybackClock(120.0, loop=False, now=lambda: wall[0])
    start = wall[0]
    silent.seek(0.0)
    wall[0] = start + 2.5
    assert silent.time == pytest.approx(2.5)
    silent.pause()
    wall[0] += 5
    assert silent.time == pytest.approx(2.5)
    silent.set_speed(2.0)
    silent.play()
    wall[0] += 1
    assert silent.time == pytest.approx(4.5)
    looped = PlaybackClock(2.0, loop=True, now=lambda: wall[0])
    looped.seek(0.0)
    wall[0] += 2.5
    assert looped.time == pytest.approx(0.5)


def test_live_tracking_follows_a_face_in_the_window(display, tmp_path):
    """``face3d track --camera``'s loop with a real clip standing in for the camera: the face is tracked
    frame by frame into the window (identity settled from the first frames, the head turning with the
    clip's), and the window shows it."""
    from face3d.viewer.live import live

    from conftest import SHARED

    clip = SHARED / "video" / "liveportrait_d10.mp4"
    shot = tmp_path / "live.png"
    stats = live(clip, frames=45, screenshot=shot, size=(480, 360))
    assert stats["frames"] == 45 and stats["detected"] >= 40, stats
    assert np.ptp(stats["yaw_deg"]) > 1.0, stats  # the head moves in this clip, so does the model's
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert np.abs(_centre(img) - img[5, 5]).sum(-1).mean() > 30  # the face, not the background, fills the centre


def test_camera_that_is_not_there_is_one_line(tmp_path):
    done = run_cli("track", "--camera", "57")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no camera 57" in done.stderr, done.stderr
