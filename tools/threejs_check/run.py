"""Load a GLB in three.js inside headless Chromium and return what three.js sees.

``check_glb(glb, probe=[t...], shots=[t...], out_dir)`` serves this folder (index.html, check.js,
node_modules/three) and the GLB from a 127.0.0.1 HTTP server, opens the page in headless Chromium
(WebGL through SwiftShader) and waits for the page to POST its result: mesh count, morph-target names,
animation clips, morph influences at each probe time and one rendered PNG per shot time (written to
``out_dir/shot_<t>.png``). Needs ``chromium`` (Debian package) and ``npm ci --prefix tools/threejs_check``.

    python tools/threejs_check/run.py face.glb --probe 0,0.5 --shots 0.5 --out /tmp/shots
"""
from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
THREE = HERE / "node_modules" / "three" / "build" / "three.module.js"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-quic", "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
    "--window-size=600,600",
]


def chromium() -> str:
    """Path of the Chromium binary ($CHROMIUM or ``chromium`` on PATH); a clear error if absent."""
    exe = shutil.which(os.environ.get("CHROMIUM") or "chromium")
    if not exe:
        raise RuntimeError("chromium not found: install it (apt-get install chromium) or set $CHROMIUM")
    return exe


def check_setup() -> None:
    """Fail early, with the fix, when Chromium or three.js is missing."""
    chromium()
    if not THREE.is_file():
        raise RuntimeError(f"three.js is not installed: run `npm ci --prefix {HERE}`")


class _Handler(SimpleHTTPRequestHandler):
    """Static files from HERE, ``/model.glb`` from the file under test, ``POST /result`` to the runner."""

    def __init__(self, *args, glb: Path, sink: dict, done: threading.Event, **kwargs):
        self.glb, self.sink, self.done = glb, sink, done
        super().__init__(*args, directory=str(HERE), **kwargs)

    def translate_path(self, path: str) -> str:
        if path.split("?")[0] == "/model.glb":
            return str(self.glb)
        return super().translate_path(path)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
        if self.path == "/result" and not self.done.is_set():
            self.sink.update(json.loads(body))
            self.done.set()

    def log_message(self, *args) -> None:  # keep test output clean
        pass


def check_glb(glb: str | Path, probe=(), shots=(), out_dir: str | Path | None = None, timeout: float = 60.0,
              drive=(), rotate=(), pose=()) -> dict:
    """Run the page on ``glb``; returns the page's JSON with each shot's PNG saved as ``shots[i]["path"]``.

    ``drive``: target names, each set to 1 alone; ``rotate``: ``"joint:pitch:yaw:roll"`` (rad), each
    alone; ``moves[item]`` = ``{max, count}``, the largest vertex motion (m) and how many vertices moved
    over 10 µm (three.js skinning and morphing). ``pose``: ``"name:weight"`` items rendered together with
    the ``rotate`` rotations to ``pose_path`` (``out_dir/pose.png``).

    Raises RuntimeError if Chromium/three.js are missing, the page reports an error, or no result comes
    within ``timeout`` seconds.
    """
    check_setup()
    glb = Path(glb).resolve()
    result, done = {}, threading.Event()
    handler = functools.partial(_Handler, glb=glb, sink=result, done=done)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    query = (f"probe={','.join(map(str, probe))}&shots={','.join(map(str, shots))}&drive={','.join(drive)}"
             f"&rotate={','.join(rotate)}&pose={','.join(pose)}")
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html?{query}"
    with tempfile.TemporaryDirectory(prefix="face3d-chromium-") as profile:
        log = Path(profile) / "chromium.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}/user", url],
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            finished = done.wait(timeout)
        finally:
            _stop(proc)
            server.shutdown()
            server.server_close()
        if not finished:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"no result from the three.js page within {timeout:.0f} s; chromium said:\n{tail}")
    if "error" in result:
        raise RuntimeError(f"three.js page failed: {result['error']}\nconsole: {result.get('console')}")
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="face3d-threejs-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for shot in result["shots"]:
        shot["path"] = str(out_dir / f"shot_{shot['time']:.3f}.png")
        Path(shot["path"]).write_bytes(base64.b64decode(shot.pop("png").split(",", 1)[1]))
    if result.get("pose"):
        result["pose_path"] = str(out_dir / "pose.png")
        Path(result["pose_path"]).write_bytes(base64.b64decode(result.pop("pose").split(",", 1)[1]))
    return result


def _stop(proc: subprocess.Popen) -> None:
    """End the Chromium we started (its own process group: the browser and its helper processes)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("glb", type=Path)
    parser.add_argument("--probe", default="", help="comma-separated times (s) to sample morph influences at")
    parser.add_argument("--shots", default="", help="comma-separated times (s) to render PNGs at")
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: a new temp folder)")
    parser.add_argument("--drive", default="", help="comma-separated target names to drive to 1, one at a time")
    parser.add_argument("--rotate", default="", help="comma-separated joint:pitch:yaw:roll (rad) to turn")
    parser.add_argument("--pose", default="", help="comma-separated name:weight to render together (pose.png)")
    args = parser.parse_args()
    floats = lambda s: [float(x) for x in s.split(",") if x]  # noqa: E731
    words = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    result = check_glb(args.glb, floats(args.probe), floats(args.shots), args.out, drive=words(args.drive),
                       rotate=words(args.rotate), pose=words(args.pose))
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
