"""Hostile and edge inputs against every command: one stderr line, a documented exit code, and nothing
outside the expected outputs created, changed or deleted (the sandbox is snapshot before and after).

Exit codes: 1 bad input, 2 no face / nothing to do / output exists, 3 environment or assets.
Most cases run in this interpreter (``face3d.cli.main``) so that the suite stays fast; the huge-input
and signal cases run as a user would, in a fresh process, with time and memory measured.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED
from face3d.cli import main

FACE = SHARED / "faces" / "takeo.png"  # small and quick to fit
SPEECH = SHARED / "speech" / "other" / "arctic_a0007.wav"


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` -> a digest of its kind and contents."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath, d)
            out[str(p.relative_to(root))] = "link" if p.is_symlink() else "dir"
        for f in filenames:
            p = Path(dirpath, f)
            if p.is_symlink():
                out[str(p.relative_to(root))] = "link:" + os.readlink(p)
            elif not p.is_file():  # a FIFO or device: reading it would block
                out[str(p.relative_to(root))] = "special"
            else:
                out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working folder with a photo, a speech clip and an unrelated file; cwd inside it."""
    box = tmp_path / "box"
    (box / "photos").mkdir(parents=True)
    shutil.copy(FACE, box / "photos" / "a.png")
    shutil.copy(SPEECH, box / "speech.wav")
    (box / "notes.txt").write_text("the user's own file\n")
    monkeypatch.chdir(box)
    return box


def run(capfd, *args) -> tuple[int, str]:
    """``face3d ARGS`` in this interpreter -> (exit code, stderr)."""
    capfd.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse
        code = e.code
    err = capfd.readouterr().err
    if os.environ.get("FACE3D_CASE_LOG"):  # the table of cases, exit codes and messages for a report
        with open(os.environ["FACE3D_CASE_LOG"], "a") as log:
            line = err.strip().splitlines()[-1] if err.strip() else ""
            log.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]}\t{' '.join(map(str, args))}"
                      f"\t{code}\t{line}\n")
    return code, err


def one_line(err: str) -> str:
    assert "Traceback" not in err and "Warning" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def assert_unchanged(before: dict, after: dict, allowed_new: tuple[str, ...] = ()) -> None:
    """Nothing that existed changed or vanished; new paths only under ``allowed_new`` prefixes."""
    for k, v in before.items():
        assert after.get(k) == v, f"{k} was changed or removed"
    new = [k for k in after if k not in before]
    bad = [k for k in new if not any(k == a or k.startswith(a + os.sep) for a in allowed_new)]
    assert not bad, f"unexpected new paths: {bad}"


# ---------------------------------------------------------------------------------------------- data loss

@pytest.mark.parametrize("target", ["photos", ".", "..", "notes.txt", "existing"])
def test_fit_never_writes_over_what_it_did_not_make(sandbox, capfd, target):
    (sandbox / "existing").mkdir()
    (sandbox / "existing" / "keep.txt").write_text("keep")
    before = snapshot(sandbox.parent)
    code, err = run(capfd, "fit", "photos/a.png", "-o", target)
    assert code == 2
    assert target.strip(".") in one_line(err) or target in err
    assert_unchanged(before, snapshot(sandbox.parent))


def test_empty_output_path_is_bad_input(sandbox, capfd):
    before = snapshot(sandbox)
    code, err = run(capfd, "fit", "photos/a.png", "-o", "")
    assert code == 1 and "empty" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_fit_into_the_photos_folder_leaves_the_photos(sandbox, capfd):
    before = snapshot(sandbox)
    code, err = run(capfd, "fit", "photos/a.png", "photos/a.png", "-o", "photos", "--overwrite")
    assert code == 2 and "holds the input" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_batch_names_are_safe_unique_and_mapped(sandbox, capfd):
    (sandbox / "other").mkdir()
    for name in ("...png", "..png"):
        shutil.copy(FACE, sandbox / "photos" / name)
    shutil.copy(FACE, sandbox / "other" / "a.png")  # the same name in two folders
    before = snapshot(sandbox)
    code, err = run(capfd, "fit", "photos", "other", "photos/a.png", "-o", "out")
    assert code == 0, err
    assert_unchanged(before, snapshot(sandbox), allowed_new=("out",))
    summary = json.loads((sandbox / "out" / "summary.json").read_text())
    outputs = [r["output"] for r in summary["items"]]
    assert len(outputs) == len(set(outputs)) == 4  # photos/{...,..,a}.png, other/a.png; a.png again counts once
    for r in summary["items"]:
        out = Path(r["output"])
        assert r["status"] == "done" and out.parent == Path("out") and not out.name.startswith(".")
        assert (out / "params.json").is_file()


def test_rerun_resumes_and_overwrite_replaces_only_own_output(sandbox, capfd):
    shutil.copy(FACE, sandbox / "photos" / "b.png")
    assert run(capfd, "fit", "photos", "-o", "out")[0] == 0
    stamp = (sandbox / "out" / "a" / "params.json").stat().st_mtime_ns
    code, err = run(capfd, "fit", "photos", "-o", "out")  # resume: nothing to redo
    assert code == 0 and (sandbox / "out" / "a" / "params.json").stat().st_mtime_ns == stamp
    summary = json.loads((sandbox / "out" / "summary.json").read_text())
    assert [r["status"] for r in summary["items"]] == ["skipped", "skipped"]
    (sandbox / "out" / "mine.txt").write_text("a user's file dropped into the output folder")
    assert run(capfd, "fit", "photos", "-o", "out", "--overwrite")[0] == 0
    assert (sandbox / "out" / "mine.txt").read_text().startswith("a user's")
    assert (sandbox / "out" / "a" / "params.json").stat().st_mtime_ns != stamp
    # a single fit's folder: refused without --overwrite, replaced with it
    assert run(capfd, "fit", "photos/a.png", "-o", "single")[0] == 0
    code, err = run(capfd, "fit", "photos/a.png", "-o", "single")
    assert code == 2 and "--overwrite" in one_line(err)
    assert run(capfd, "fit", "photos/a.png", "-o", "single", "--overwrite")[0] == 0


def test_animate_csv_and_glb_may_not_be_one_file(sandbox, capfd):
    before = snapshot(sandbox)
    code, err = run(capfd, "animate", "--audio", "speech.wav", "-o", "x.glb", "--csv", "x.glb")
    assert code == 1 and "x.glb" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


@pytest.mark.parametrize("flag", ["-o", "--csv"])
def test_animate_output_naming_a_folder(sandbox, capfd, flag):
    (sandbox / "folder.glb").mkdir()
    (sandbox / "folder.csv").mkdir()
    before = snapshot(sandbox)
    args = ["-o", "folder.glb"] if flag == "-o" else ["-o", "t.glb", "--csv", "folder.csv"]
    code, err = run(capfd, "animate", "--audio", "speech.wav", *args)
    assert code == 1 and "folder" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_animate_refuses_to_replace_a_foreign_file(sandbox, capfd):
    (sandbox / "talk.glb").write_bytes(b"not face3d's")
    before = snapshot(sandbox)
    for extra in ([], ["--overwrite"]):
        code, err = run(capfd, "animate", "--audio", "speech.wav", "-o", "talk.glb", *extra)
        assert code == 2 and "talk.glb" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_animate_writes_glb_and_csv_together_or_not_at_all(sandbox, capfd):
    (sandbox / "t.csv").write_text("someone's spreadsheet\n")
    before = snapshot(sandbox)
    code, err = run(capfd, "animate", "--audio", "speech.wav", "-o", "t.glb", "--csv", "t.csv")
    assert code == 2 and "t.csv" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))  # no GLB without its CSV
    code, err = run(capfd, "animate", "--audio", "speech.wav", "-o", "t.glb", "--csv", "t2.csv")
    assert code == 0, err
    assert (sandbox / "t.glb").is_file() and (sandbox / "t2.csv").is_file()
    code, _ = run(capfd, "animate", "--audio", "speech.wav", "-o", "t.glb", "--csv", "t2.csv", "--overwrite")
    assert code == 0  # its own outputs


def test_mtl_path_that_is_a_folder(sandbox, capfd):
    (sandbox / "f.mtl").mkdir()
    before = snapshot(sandbox)
    code, err = run(capfd, "model", "export", "-o", "f.obj")
    assert code == 1 and "f.mtl" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_output_through_a_symlink_or_an_unwritable_place(sandbox, capfd):
    (sandbox / "elsewhere").mkdir()
    os.symlink(sandbox / "elsewhere", sandbox / "link")
    before = snapshot(sandbox)
    code, err = run(capfd, "fit", "photos/a.png", "-o", "link")
    assert code == 2 and "link" in one_line(err)
    code, err = run(capfd, "fit", "photos/a.png", "-o", "/proc/face3d-test/out")  # not writable, even as root
    assert code == 1 and "/proc" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


# ---------------------------------------------------------------------------------------------- bad files

def _png_bomb(path: Path, side: int) -> None:
    """A tiny PNG that declares ``side`` x ``side`` pixels (all zeros, compressed to almost nothing)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = zlib.compressobj(9)
    row = b"\0" * (side // 8 + 1)  # 1-bit grayscale rows, filter byte 0
    body = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_bomb_in_a_batch_is_skipped_and_the_rest_fitted(sandbox, capfd):
    _png_bomb(sandbox / "photos" / "0bomb.png", 13000)
    Image.new("RGB", (40000, 8)).save(sandbox / "photos" / "1strip.png")
    Image.new("RGB", (1, 1)).save(sandbox / "photos" / "2tiny.png")
    (sandbox / "photos" / "3text.png").write_text("not an image")
    code, err = run(capfd, "fit", "photos", "-o", "out")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in err and "Warning" not in err
    for name, line in zip(("0bomb", "1strip", "2tiny", "3text"), lines):
        assert name in line
    summary = json.loads((sandbox / "out" / "summary.json").read_text())
    status = {Path(r["input"]).name: r["status"] for r in summary["items"]}
    assert status == {"0bomb.png": "failed", "1strip.png": "failed", "2tiny.png": "failed",
                      "3text.png": "failed", "a.png": "done"}
    assert (sandbox / "out" / "a" / "mesh.glb").is_file()


@pytest.mark.parametrize("case", ["file", "folder_params", "nan", "huge", "all_faces"])
def test_face_folder_problems(sandbox, capfd, case):
    face = sandbox / "face"
    if case == "file":
        face.write_text("x")
    elif case == "folder_params":
        (face / "params.json").mkdir(parents=True)
    elif case in ("nan", "huge"):
        face.mkdir()
        (face / "params.json").write_text(json.dumps({"identity": [float("nan") if case == "nan" else 1e30] * 100}))
    else:
        (face / "face_0").mkdir(parents=True)
        (face / "face_0" / "params.json").write_text(json.dumps({"identity": [0.0] * 100}))
    before = snapshot(sandbox)
    code, err = run(capfd, "animate", "--audio", "speech.wav", "--face", "face", "-o", "t.glb")
    line = one_line(err)
    assert code == 1 and "face" in line
    if case == "all_faces":
        assert "face_0" in line
    if case in ("nan", "huge"):
        assert "100" not in line  # says what is wrong with the values, not their count
    assert_unchanged(before, snapshot(sandbox))


def _wav(path: Path, samples: np.ndarray, rate: int, width: int = 2) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def _float_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> None:
    """IEEE-float WAV (format 3), which can hold NaN and Inf."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" +
                     b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)


def _encoded(path: Path, samples: np.ndarray, codec: str, rate: int) -> None:
    """``samples`` at 16 kHz encoded with ffmpeg's ``codec`` (libmp3lame writes a Xing/Info header)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for f in av.AudioResampler(format=s.codec_context.format.name, layout="mono", rate=rate).resample(frame):
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


@pytest.mark.parametrize("case", ["nan", "inf", "rate1", "empty", "fifo", "folder", "truncated", "text",
                                  "truncated.mp3", "truncated.ogg"])
def test_bad_audio(sandbox, capfd, case):
    clip = sandbox / (case if "." in case else f"{case}.wav")
    t = np.arange(16000) / 16000
    if case in ("nan", "inf"):
        x = 0.3 * np.sin(2 * np.pi * 220 * t)
        x[5000:5100] = np.nan if case == "nan" else np.inf
        _float_wav(clip, x)
    elif case == "rate1":
        _wav(clip, np.zeros(36000), 1)
    elif case == "empty":
        clip.write_bytes(b"")
    elif case == "fifo":
        os.mkfifo(clip)
    elif case == "folder":
        clip.mkdir()
    elif case == "truncated":
        _wav(clip, 0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 16000), 16000)
        clip.write_bytes(clip.read_bytes()[:30000])
    elif case in ("truncated.mp3", "truncated.ogg"):  # ffmpeg decodes the first half without complaint
        x = 0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 16000)
        _encoded(clip, x, "libmp3lame" if case.endswith("mp3") else "libopus", 16000 if case.endswith("mp3") else 48000)
        data = clip.read_bytes()
        clip.write_bytes(data[:len(data) // 2])
    else:
        clip.write_text("hello")
    before = snapshot(sandbox)
    t0 = time.perf_counter()
    outputs = ["-o", "out"] if case == "folder" else ["-o", "t.glb", "--csv", "t.csv"]  # a folder is a batch
    code, err = run(capfd, "animate", "--audio", clip.name, *outputs)
    assert time.perf_counter() - t0 < 30
    assert code == 1 and clip.name in one_line(err)
    if case.startswith("truncated"):
        assert "truncated" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_bad_seeds_and_expressions(sandbox, capfd):
    before = snapshot(sandbox)
    for args in (["animate", "--audio", "speech.wav", "-o", "t.glb", "--seed", "-1"],
                 ["model", "export", "--identity", "random", "--seed", "1e23", "-o", "f.glb"],
                 ["model", "export", "--expression", "jawOpen=nan", "-o", "f.glb"],
                 ["model", "export", "--expression", "nosuch=1", "-o", "f.glb"],
                 ["model", "export", "-o", "f.stl"]):
        code, err = run(capfd, *args)
        assert code == 1, args
        one_line(err)
    assert_unchanged(before, snapshot(sandbox))


def test_inputs_that_are_not_files(sandbox, capfd):
    code, err = run(capfd, "fit", "/dev/null", "-o", "out")
    assert code == 1 and "/dev/null" in one_line(err) and "regular" in err
    code, err = run(capfd, "fit", "nosuch.jpg", "-o", "out")
    assert code == 1 and "nosuch.jpg" in one_line(err)
    assert not (sandbox / "out").exists()


# ---------------------------------------------------------------------------------------------- environment

@pytest.mark.parametrize("case", ["home_is_file", "truncated_cache", "truncated_landmarker"])
def test_broken_assets_exit_3(sandbox, capfd, monkeypatch, case):
    from face3d import assets
    from face3d.model import _load

    home = sandbox / "home"
    if case == "home_is_file":
        home.write_text("x")
    else:
        home.mkdir()
        real = assets.home() if os.environ.get("FACE3D_HOME") else Path.home() / ".cache" / "face3d"
        for name in ("ict_facekit.npz", "face_landmarker.task"):
            data = (real / name).read_bytes()
            damaged = (case == "truncated_cache") == (name == "ict_facekit.npz")
            (home / name).write_bytes(data[: len(data) // 3] if damaged else data)
    monkeypatch.setenv("FACE3D_HOME", str(home))
    _load.cache_clear()
    import face3d.pipeline as pipeline
    monkeypatch.setattr(pipeline, "_DETECTOR", None)
    before = snapshot(sandbox)
    code, err = run(capfd, "fit", "photos/a.png", "-o", "out")
    assert code == 3 and "install" in one_line(err)
    assert_unchanged(before, snapshot(sandbox))
    if case != "home_is_file":
        capfd.readouterr()
        assert main(["assets", "status"]) == 3
        assert "damaged" in capfd.readouterr().out
    _load.cache_clear()


def test_exif_focal_length_out_of_range_is_ignored(sandbox):
    from face3d.camera import exif_focal_35mm

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 1  # FocalLengthIn35mmFilm = 1 mm: a broken tag
    Image.open(FACE).convert("RGB").save(sandbox / "f1.jpg", exif=exif)
    assert exif_focal_35mm(sandbox / "f1.jpg") is None


# ---------------------------------------------------------------------------------------------- bounded

def _run_measured(args: list[str], cwd: Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float, float]:
    """A fresh ``face3d`` process -> (result, seconds, peak RSS of that child in MB)."""
    code = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
            "r = subprocess.run([sys.executable, '-m', 'face3d', *sys.argv[1:]], capture_output=True, text=True); "
            "print(json.dumps([r.returncode, r.stderr, time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    rc, err, seconds, mb = json.loads(r.stdout)
    return subprocess.CompletedProcess(args, rc, "", err), seconds, mb


def test_huge_photos_in_bounded_time_and_memory(sandbox):
    big = Image.open(FACE).convert("RGB").resize((9575, 12000), Image.Resampling.BILINEAR)
    big.save(sandbox / "big.jpg", quality=80)
    del big
    _png_bomb(sandbox / "bomb.png", 13000)
    r, seconds, mb = _run_measured(["fit", "big.jpg", "-o", "big"], sandbox)
    assert r.returncode == 0, r.stderr
    assert seconds < 60 and mb < 2500, (seconds, mb)
    params = json.loads((sandbox / "big" / "params.json").read_text())
    assert params["image_size"] == [9575, 12000]  # results in the photo's own pixels
    marks = json.loads((sandbox / "big" / "landmarks.json").read_text())
    ibug = np.array(marks["ibug68"])
    assert 2000 < ibug[:, 0].mean() < 7500 and 2000 < ibug[:, 1].mean() < 10000
    # The 3D-convention points too (they differ from the 2D ones by a few % of the face, not by the decode scale).
    gap = np.linalg.norm(np.array(marks["ibug68_3d"]) - ibug, axis=1).mean()
    assert gap < 0.05 * (ibug.max(0) - ibug.min(0)).max(), gap
    r, seconds, mb = _run_measured(["fit", "bomb.png", "-o", "bomb"], sandbox)
    assert r.returncode == 1 and "bomb.png" in one_line(r.stderr)
    assert seconds < 20 and mb < 1000, (seconds, mb)
    assert not (sandbox / "bomb").exists()


def test_sigterm_leaves_only_complete_items_and_a_rerun_finishes(sandbox):
    for i in range(6):
        shutil.copy(FACE, sandbox / "photos" / f"p{i}.png")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for delay in (4.0, 7.0):
        p = subprocess.Popen([sys.executable, "-m", "face3d", "fit", "photos", "-o", "out"], cwd=sandbox, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        assert "Traceback" not in err
        if (sandbox / "out").exists():
            leftovers = [q.name for q in (sandbox / "out").iterdir() if q.name.startswith(".face3d-tmp")]
            assert not leftovers
            for item in (sandbox / "out").iterdir():
                if item.is_dir():
                    assert (item / ".face3d-output").is_file() and (item / "params.json").is_file()
    r = subprocess.run([sys.executable, "-m", "face3d", "fit", "photos", "-o", "out"], cwd=sandbox,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads((sandbox / "out" / "summary.json").read_text())
    assert summary["counts"]["done"] + summary["counts"]["skipped"] == 7
    assert all((Path(sandbox, r["output"]) / "mesh.glb").is_file() for r in summary["items"])
