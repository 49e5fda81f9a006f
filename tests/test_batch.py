"""Batches (face3d.batch): summary, resume, error isolation, names; the Ray engine on a real local cluster;
`face3d track` batches (local and Ray, the same bytes)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, write_faceless_video

from face3d import batch
from face3d.formats.atomic import TMP_PREFIX, atomic_dir

PHOTOS = ["einstein.jpg", "takeo.png", "lfpw_train_image_0001.png", "lfpw_train_image_0002.png"]


def copy_item(source: str, folder: str, overwrite: bool = False, fail_on: str = "bad") -> str:
    """A cheap work function (tests only): the input's bytes into ``folder/copy``; inputs named
    ``fail_on`` fail as bad input would."""
    from face3d.errors import BadInput

    if fail_on in Path(source).name:
        raise BadInput(f"{source}: not a usable input")
    with atomic_dir(folder, "fit", overwrite) as tmp:
        (tmp / "copy").write_bytes(Path(source).read_bytes())
    return folder


def _inputs(tmp_path: Path, names: list[str]) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for n in names:
        (folder / n).write_text(n)
    return [folder / n for n in names]


# ---------------------------------------------------------------------------------------------- local engine

def test_summary_error_isolation_and_resume(tmp_path):
    inputs = _inputs(tmp_path, ["a.txt", "bad.txt", "c.txt"])
    out = tmp_path / "out"
    records = batch.run(inputs, "test_batch:copy_item", out, progress=False)
    assert [r["status"] for r in records] == ["done", "failed", "done"]
    assert records[1]["error"] == f"{inputs[1]}: not a usable input" and records[1]["exit_code"] == 1
    assert batch.print_records(records) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 2, "skipped": 0, "failed": 1, "pending": 0}
    assert [i["input"] for i in summary["items"]] == [str(p) for p in inputs]
    assert all(isinstance(i["seconds"], float) for i in summary["items"])
    assert (out / "a" / "copy").read_text() == "a.txt" and not (out / "bad").exists()

    # a re-run skips finished items and retries the failed one
    (inputs[1]).rename(tmp_path / "in" / "b.txt")
    inputs[1] = tmp_path / "in" / "b.txt"
    records = batch.run(inputs, "test_batch:copy_item", out, progress=False)
    assert [r["status"] for r in records] == ["skipped", "done", "skipped"]
    assert batch.print_records(records) == 0


def test_resume_after_a_kill_between_output_and_summary(tmp_path):
    """An item whose output is complete but whose summary line was never written (killed in between)
    counts as finished on the re-run, not as a failure."""
    inputs = _inputs(tmp_path, ["a.txt", "c.txt"])
    out = tmp_path / "out"
    batch.run(inputs, "test_batch:copy_item", out, progress=False)
    (out / "summary.json").unlink()
    (out / (TMP_PREFIX + "999999999.c.xyz")).mkdir()  # a dead worker's temporary
    records = batch.run(inputs, "test_batch:copy_item", out, progress=False)
    assert [r["status"] for r in records] == ["skipped", "skipped"] and batch.print_records(records) == 0
    assert not any(p.name.startswith(TMP_PREFIX) for p in out.iterdir())
    records = batch.run(inputs, "test_batch:copy_item", out, overwrite=True, progress=False)
    assert [r["status"] for r in records] == ["done", "done"]


def test_output_names_stable_and_unique(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    paths = [tmp_path / "x" / "Face one.png", tmp_path / "y" / "face one.jpg", tmp_path / "x" / ".hidden.png"]
    names = batch.output_names(paths)
    assert names[0].startswith("Face_one-") and names[1].startswith("face_one-") and names[0] != names[1]
    assert names[2] == "hidden"
    assert batch.output_names(paths) == names  # stable across runs


def test_list_file_and_folder_inputs(tmp_path):
    inputs = _inputs(tmp_path, ["a.txt", "b.txt"])
    lst = tmp_path / "list.txt"
    lst.write_text("# photos\nin/a.txt\n\n" + str(inputs[1]) + "\n")
    assert batch.expand_inputs([f"@{lst}"], (".txt",)) == [tmp_path / "in" / "a.txt", inputs[1]]
    assert batch.expand_inputs([tmp_path / "in"], (".txt",)) == inputs


def test_unknown_engine_and_missing_ray(tmp_path, shared):
    with pytest.raises(Exception, match="unknown engine"):
        batch.run(_inputs(tmp_path, ["a.txt"]), "test_batch:copy_item", tmp_path / "o", engine="spark")
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    out = tmp_path / "out"
    r = run_cli("fit", shared / "faces", "-o", out, "--engine", "ray",
                env={"PYTHONPATH": f"{fake.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert r.returncode == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'face3d[ray]'" in lines[0], r.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- Ray engine

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tagged(tag: str) -> list[int]:
    """Processes of this test's cluster: they carry its tag in their environment."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if tag.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray cluster on loopback: `ray start --head` with 2 CPUs (two worker processes), its own temp
    folder and auth token; stopped (its whole process group) at the end, even on failure."""
    import ray  # noqa: F401  fails loudly when the extra is missing

    tag = uuid.uuid4().hex
    port = _free_port()
    env = {**os.environ, "FACE3D_RAY_TEST": tag, "RAY_USAGE_STATS_ENABLED": "0",
           # Ray otherwise picks the machine's outward address; this makes it 127.0.0.1 (single node only)
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    temp = Path(f"/tmp/f3d-ray-{tag[:8]}")  # short: Ray's unix sockets live under it
    log = tmp_path_factory.mktemp("ray") / "head.log"
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                             "--disable-usage-stats", f"--dashboard-agent-listen-port={_free_port()}",
                             f"--temp-dir={temp}"],
                            env=env, start_new_session=True, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        yield address, env, tag
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for pid in _tagged(tag):  # workers that left the group
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["rm", "-rf", str(temp)])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ray_cluster_same_outputs_with_a_worker_killed(cluster, shared, tmp_path):
    address, env, tag = cluster
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in PHOTOS:
        (photos / n).symlink_to(shared / "faces" / n)
    local = tmp_path / "local"
    r = run_cli("fit", photos, "-o", local)
    assert r.returncode == 0, r.stderr

    lst = tmp_path / "list.txt"
    lst.write_text("".join(f"photos/{n}\n" for n in PHOTOS))
    out = tmp_path / "ray"
    proc = subprocess.Popen([sys.executable, "-m", "face3d", "fit", f"@{lst}", "-o", str(out), "--engine", "ray",
                             "--address", address], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        for pid in _tagged(tag):  # a worker busy with an item is titled ray::item_task
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::item_task"):
                time.sleep(1.0)  # mid-item: the model is loaded, the fit under way
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=180)
    assert killed is not None, "no worker was seen working"
    assert proc.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": len(PHOTOS), "skipped": 0, "failed": 0, "pending": 0}
    assert sorted(i["input"] for i in summary["items"]) == sorted(str(tmp_path / "photos" / n) for n in PHOTOS)
    assert len(stdout.split()) == len(PHOTOS)
    # every item exactly once: one folder each, nothing half-written left behind, the same bytes as locally
    assert sorted(p.name for p in out.iterdir()) == sorted([".face3d-output", "summary.json",
                                                            *(Path(n).stem for n in PHOTOS)])
    for n in PHOTOS:
        a, b = _files(local / Path(n).stem), _files(out / Path(n).stem)
        assert a.keys() == b.keys() and {"mesh.glb", "overlay.png", "params.json"} <= a.keys()
        assert all(a[k] == b[k] for k in a), f"{n}: {[k for k in a if a[k] != b[k]]} differ"

    # a re-run finds everything finished; an address where no cluster listens is one line, exit 3
    r = run_cli("fit", f"@{lst}", "-o", out, "--engine", "ray", "--address", address, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text())["counts"]["skipped"] == len(PHOTOS)
    r = run_cli("fit", f"@{lst}", "-o", tmp_path / "none", "--engine", "ray", "--address", f"127.0.0.1:{_free_port()}")
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1 and "no Ray cluster" in r.stderr, r.stderr
    assert not (tmp_path / "none").exists()


# ---------------------------------------------------------------------------------------------- face3d track

@pytest.fixture(scope="module")
def track_clips(tmp_path_factory, shared):
    """Two short real inputs (1 s of a clip with its sound; 20 frames of another as a folder of PNGs), a
    text file named .mp4 and a video without a face; ``list.txt`` names all four."""
    from PIL import Image

    from face3d.formats.video import open_video, read_audio, video_writer

    root = tmp_path_factory.mktemp("track")
    src = shared / "video" / "tpsmm_driving.mp4"
    info = open_video(src).info
    w, h = info.width // 2 * 2, info.height // 2 * 2
    audio = read_audio(src)
    writer = video_writer(root / "talk.mp4", w, h, info.fps, (audio[0][:, :audio[1]], audio[1], audio[2]))
    for t, rgb in open_video(src).frames():
        if t >= 1.0:
            break
        writer.add(rgb[:h, :w], t)
    writer.close()
    (root / "frames").mkdir()
    for i, (_, rgb) in enumerate(open_video(shared / "video" / "liveportrait_d3.mp4").frames()):
        if i == 20:
            break
        Image.fromarray(rgb).save(root / "frames" / f"{i:04d}.png")
    (root / "broken.mp4").write_text("not a video\n")
    write_faceless_video(root / "blank.mp4")
    (root / "list.txt").write_text("talk.mp4\nframes\nbroken.mp4\nblank.mp4\n")
    return root


@pytest.fixture(scope="module")
def track_local(track_clips, tmp_path_factory):
    """The local engine's batch over ``track_clips``' list: (output folder, its CompletedProcess)."""
    out = tmp_path_factory.mktemp("track-local") / "out"
    return out, run_cli("track", f"@{track_clips / 'list.txt'}", "-o", out)


def test_track_inputs_frames_folder_is_one_clip(tmp_path):
    from face3d.errors import BadInput
    from face3d.track import BadVideo, track_inputs

    frames, videos, empty = tmp_path / "frames", tmp_path / "videos", tmp_path / "empty"
    for d in (frames, videos, empty):
        d.mkdir()
    (frames / "0001.png").write_bytes(b"")
    for n in ("b.mp4", "a.MOV", "notes.txt"):
        (videos / n).write_bytes(b"")
    (videos / "sub").mkdir()
    assert track_inputs([frames]) == ([frames], True)
    assert track_inputs([videos / "b.mp4"]) == ([videos / "b.mp4"], True)
    assert track_inputs([videos]) == ([videos / "a.MOV", videos / "b.mp4"], False)
    assert track_inputs([frames, videos / "b.mp4"]) == ([frames, videos / "b.mp4"], False)
    (tmp_path / "l.txt").write_text("frames\nvideos/b.mp4\n")
    assert track_inputs([f"@{tmp_path / 'l.txt'}"]) == ([frames, videos / "b.mp4"], False)
    with pytest.raises(BadVideo, match="no frames .* and no videos"):
        track_inputs([empty])
    with pytest.raises(BadVideo, match="no such file"):
        track_inputs([tmp_path / "missing.mp4"])
    with pytest.raises(BadInput, match="empty"):
        track_inputs([""])


def test_track_batch_local_isolates_bad_clips_and_resumes(track_clips, track_local):
    out, r = track_local
    assert r.returncode == 2, r.stderr  # the worst failure: an unreadable video / no face, exit 2
    skipped = [ln for ln in r.stderr.splitlines() if ln.startswith("face3d: skipped:")]
    assert len(skipped) == 2 and "broken.mp4: not a readable video" in skipped[0] and "blank.mp4: no face" in skipped[1]
    assert r.stdout.split() == [str(out / "talk"), str(out / "frames")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 2, "skipped": 0, "failed": 2, "pending": 0}
    assert [i["status"] for i in summary["items"]] == ["done", "done", "failed", "failed"]
    assert [i["exit_code"] for i in summary["items"]] == [0, 0, 2, 2]
    assert sorted(p.name for p in out.iterdir()) == [".face3d-output", "frames", "summary.json", "talk"]
    for name in ("talk", "frames"):
        assert {p.name for p in (out / name).iterdir()} == {".face3d-output", "anim.glb", "anim.csv", "params.npz",
                                                             "overlay.mp4"}
    import numpy as np

    assert len(np.load(out / "frames" / "params.npz")["times"]) == 20

    # a re-run skips the finished clips and retries the failed ones (still failing)
    before = {n: (out / n / "anim.glb").stat().st_mtime_ns for n in ("talk", "frames")}
    r = run_cli("track", f"@{track_clips / 'list.txt'}", "-o", out)
    assert r.returncode == 2, r.stderr
    assert r.stdout.split() == [str(out / "talk"), str(out / "frames")]
    summary = json.loads((out / "summary.json").read_text())
    assert [i["status"] for i in summary["items"]] == ["skipped", "skipped", "failed", "failed"]
    assert {n: (out / n / "anim.glb").stat().st_mtime_ns for n in ("talk", "frames")} == before


def test_track_batch_ray_same_bytes(cluster, track_clips, track_local, tmp_path):
    address, env, _ = cluster
    local, r = track_local
    assert r.returncode == 2, r.stderr
    out = tmp_path / "ray"
    r = run_cli("track", f"@{track_clips / 'list.txt'}", "-o", out, "--engine", "ray", "--address", address, env=env)
    assert r.returncode == 2, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [i["status"] for i in summary["items"]] == ["done", "done", "failed", "failed"]
    assert [i["error"] for i in summary["items"]] == [i["error"] for i in
                                                     json.loads((local / "summary.json").read_text())["items"]]
    for name in ("talk", "frames"):
        a, b = _files(local / name), _files(out / name)
        assert a.keys() == b.keys() and {"anim.glb", "anim.csv", "params.npz", "overlay.mp4"} <= a.keys()
        assert all(a[k] == b[k] for k in a), f"{name}: {[k for k in a if a[k] != b[k]]} differ"
