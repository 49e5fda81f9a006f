"""`face3d view PATH --html OUT.html`: one self-contained page, opened offline (file://, network off) in the
headless Chromium of tools/threejs_check: the face is drawn, in the middle, from the front, and time runs.

Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``): the page is loaded with the network
emulated offline, ``window.face3d`` (the page's own state) read twice a second apart, and a screenshot taken.
"""
import base64
import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import ROOT, run_cli
from face3d.curves import Curves
from face3d.errors import BadInput, OutputExists
from face3d.formats.mesh import save_mesh
from face3d.names import ICT_NAMES
from face3d.viewer.html import SIGNATURE, web_file, write_html

_spec = importlib.util.spec_from_file_location("threejs_check", ROOT / "tools" / "threejs_check" / "run.py")
threejs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(threejs)

FPS = 30
BACKGROUND = (0x2A, 0x2C, 0x31)  # the page's background (web/page.html)
SIZE = (640, 480)  # the page's viewport (CSS pixels)
SHOTS = os.environ.get("FACE3D_HTML_SHOTS")  # a folder: keep the screenshots there to look at


@pytest.fixture(scope="module")
def glb(model, tmp_path_factory) -> Path:
    """A 2 s animated face: jawOpen up and down, a nod."""
    times = np.arange(2 * FPS + 1, dtype=np.float32) / FPS
    weights = np.zeros((len(times), 53), np.float32)
    weights[:, ICT_NAMES.index("jawOpen")] = 0.5 - 0.5 * np.cos(np.pi * times)
    head = np.zeros((len(times), 3), np.float32)
    head[:, 0] = 0.2 * weights[:, ICT_NAMES.index("jawOpen")]
    return save_mesh(tmp_path_factory.mktemp("glb") / "face.glb", model.neutral.numpy(), model,
                     animation=Curves(times, weights, head=head))


# ---------------------------------------------------------------------------------------------- Chromium

class _DevTools:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, NUL-framed JSON)."""

    def __init__(self, profile: str):
        threejs.check_setup()
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def fds():  # in the child: its fd 3 reads our commands, fd 4 carries its answers (inheritable copies)
            a, b = os.dup(to_child), os.dup(from_child)  # first out of the way: the pipes may be fds 3 and 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._log = open(Path(profile) / "chromium.log", "wb")
        flags = [*threejs.CHROMIUM_FLAGS, f"--user-data-dir={profile}/user", "--remote-debugging-pipe",
                 "--autoplay-policy=no-user-gesture-required", "--proxy-server=127.0.0.1:9", "about:blank"]
        self.proc = subprocess.Popen([threejs.chromium(), *flags], stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=fds, close_fds=False, start_new_session=True)
        os.close(to_child)
        os.close(from_child)
        self._id, self._buffer, self.session = 0, b"", None
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise RuntimeError(f"{method}: no answer from Chromium within {timeout:.0f} s")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"{method}: Chromium closed its pipe")
            self._buffer += chunk

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        threejs._stop(self.proc)
        for fd in (self._write, self._read):
            os.close(fd)
        self._log.close()


def _open_page(page: Path, wait: float = 1.0, then=None) -> tuple[dict, dict, np.ndarray]:
    """Open ``page`` offline; the page's state once it plays, again ``wait`` s later, and a screenshot [H,W,3].
    ``then(chrome)``: more to do in the page before it closes."""
    from io import BytesIO

    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="face3d-chromium-") as profile:
        chrome = _DevTools(profile)
        try:
            chrome.call("Network.enable")
            chrome.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                        uploadThroughput=-1)
            chrome.call("Emulation.setDeviceMetricsOverride", width=SIZE[0], height=SIZE[1], deviceScaleFactor=1,
                        mobile=False)
            chrome.call("Page.navigate", url=page.resolve().as_uri())
            deadline = time.monotonic() + 60
            while (first := chrome.evaluate("window.face3d ? JSON.stringify(window.face3d) : null")) is None or \
                    json.loads(first)["state"] == "loading":
                assert time.monotonic() < deadline, f"the page did not start within 60 s: {first}"
                time.sleep(0.2)
            time.sleep(wait)
            second = json.loads(chrome.evaluate("JSON.stringify(window.face3d)"))
            png = base64.b64decode(chrome.call("Page.captureScreenshot", format="png")["data"])
            if then is not None:
                then(chrome)
        finally:
            chrome.close()
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        Path(SHOTS, page.stem + ".png").write_bytes(png)
    return json.loads(first), second, np.asarray(Image.open(BytesIO(png)).convert("RGB"), np.int16)


def _face_mask(shot: np.ndarray) -> np.ndarray:
    """Pixels that differ from the page's background (the bars at top and bottom left out)."""
    mask = np.abs(shot - np.array(BACKGROUND)).max(-1) > 24
    h = len(mask)
    mask[: h // 10] = mask[-h // 6:] = False
    return mask


def _assert_face_in_front(shot: np.ndarray) -> None:
    mask = _face_mask(shot)
    h, w = mask.shape
    centre = mask[h // 2 - h // 8: h // 2 + h // 8, w // 2 - w // 8: w // 2 + w // 8]
    assert centre.mean() > 0.8, "no face in the middle of the page"  # eyes, nostrils, mouth: dark
    assert 0.15 < mask.mean() < 0.8, f"the face covers {mask.mean():.0%} of the page"
    xs = np.nonzero(mask)[1]
    assert abs(xs.mean() - w / 2) < 0.03 * w, "the face is not centred (not seen from the front?)"
    assert shot[mask].std() > 8, "the face is one flat colour (no lighting?)"


# ---------------------------------------------------------------------------------------------- tests

def _press_space(chrome) -> list[str]:
    """The page's state after each of two presses of the space bar (play/pause)."""
    states = []
    for _ in range(2):
        for kind in ("keyDown", "keyUp"):
            chrome.call("Input.dispatchKeyEvent", type=kind, key=" ", code="Space", windowsVirtualKeyCode=32)
        states.append(chrome.evaluate("window.face3d.state"))
    return states


def test_animated_glb_page_plays_offline(glb, tmp_path):
    page = write_html(glb, tmp_path / "face.html")
    text = page.read_text()
    assert page.read_bytes().startswith(SIGNATURE)
    assert "http://" not in text and "https://" not in text, "the page names a network address"
    presses = []
    first, second, shot = _open_page(page, then=lambda chrome: presses.extend(_press_space(chrome)))
    assert presses == ["paused", "playing"], "space does not pause and play"
    assert first["error"] is None and second["error"] is None, second["error"]
    assert second["state"] == "playing" and second["duration"] == pytest.approx(2.0, abs=1e-3)
    advanced = (second["time"] - first["time"]) % 2.0  # it loops
    assert advanced > 0.3, f"the animation time did not advance: {first['time']} -> {second['time']}"
    assert second["frames"] > first["frames"]
    _assert_face_in_front(shot)


def test_obj_with_sound_plays_on_the_sound_clock(model, tmp_path):
    """An OBJ converted to a GLB in the page; an AIFF (not for browsers) re-encoded as an MP3 that drives time."""
    obj = save_mesh(tmp_path / "face.obj", model.neutral.numpy(), model)
    rate = 22050
    t = np.arange(int(1.5 * rate)) / rate
    soundfile.write(tmp_path / "tone.aiff", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    page = write_html(obj, tmp_path / "face.html", audio=tmp_path / "tone.aiff")
    config = page.read_text().split('id="face3d-config">', 1)[1].split("</script>", 1)[0]
    assert json.loads(config)["audioType"] == "audio/mpeg"
    first, second, shot = _open_page(page, wait=0.8)
    assert second["error"] is None, second["error"]
    assert second["duration"] == pytest.approx(1.5, abs=0.06)  # the sound's length (MP3 pads a little)
    assert second["state"] == "playing"
    assert (second["time"] - first["time"]) % second["duration"] > 0.2, (first, second)
    _assert_face_in_front(shot)


def test_bad_input_is_one_line_and_leaves_no_file(glb, tmp_path):
    out = tmp_path / "out.html"
    r = run_cli("view", tmp_path / "missing.glb", "--html", out)
    assert r.returncode == 1 and "missing.glb: not found" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BadInput, match="is a file, not a folder"):  # an output that cannot be written
        write_html(glb, blocker / "out.html")
    empty = tmp_path / "empty.glb"
    import pygltflib as gl
    gl.GLTF2(scenes=[gl.Scene(nodes=[0])], nodes=[gl.Node(name="nothing")]).save_binary(str(empty))
    with pytest.raises(BadInput, match="holds no mesh"):
        write_html(empty, out)
    with pytest.raises(BadInput, match="audio not found"):
        write_html(glb, out, audio=tmp_path / "missing.wav")
    with pytest.raises(BadInput, match=r"\.html file"):
        write_html(glb, tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.glb", "file"]  # no page, no temporary


def test_existing_files_are_kept_unless_face3d_wrote_them(glb, tmp_path):
    mine = tmp_path / "notes.html"
    mine.write_text("<!DOCTYPE html><p>my notes</p>")
    r = run_cli("view", glb, "--html", mine, "--overwrite")
    assert r.returncode == 2 and "not written by face3d" in r.stderr, r.stderr
    assert mine.read_text() == "<!DOCTYPE html><p>my notes</p>"
    page = write_html(glb, tmp_path / "face.html")
    with pytest.raises(OutputExists):
        write_html(glb, page)
    before = page.stat().st_mtime_ns
    write_html(glb, page, overwrite=True, view="side")
    assert page.stat().st_mtime_ns != before and '"yaw": 1.5707' in page.read_text()


def test_without_a_display_view_names_render_and_html(glb):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "face3d", "view", str(glb)], capture_output=True, text=True, env=env)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "face3d render" in r.stderr and "--html" in r.stderr, r.stderr


def test_the_three_bundle_can_be_inlined():
    bundle = web_file("three-bundle.min.js").read_text()
    assert "</script" not in bundle and "http://" not in bundle and "https://" not in bundle
    assert bundle.startswith("/*! three.js ") and "FACE3D_THREE" in bundle
    assert web_file("three-LICENSE.txt").read_text().startswith("The MIT License")
