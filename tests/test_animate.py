"""`face3d animate`: GLB with a 53-target weight animation synced to the audio, Live Link Face CSV, bad input."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from face3d.formats.livelink import timecodes
from face3d.audio.features import SAMPLE_RATE, load_audio
from face3d.cli import main
from face3d.names import ICT_NAMES
from conftest import SHARED

CLIP = SHARED / "speech" / "other" / "arctic_a0007.wav"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The acceptance clip cut to 2 s (keeps the test fast) and written at 44.1 kHz stereo."""
    assert CLIP.exists(), f"{CLIP} not found (set FACE3D_SHARED)"
    x = load_audio(CLIP)[: 2 * SAMPLE_RATE]
    path = tmp_path_factory.mktemp("clip") / "speech.flac"
    up = np.interp(np.arange(int(len(x) * 44100 / SAMPLE_RATE)) * SAMPLE_RATE / 44100, np.arange(len(x)), x)
    sf.write(path, np.stack([up, up], 1), 44100)
    return path


def test_animate_writes_glb_and_livelink_csv(tmp_path, clip, model, capsys):
    from face3d.formats.gltf import read_curves, read_target_names
    from face3d.formats.livelink import COLUMNS
    from face3d.names import ARKIT_NAMES

    glb, table = tmp_path / "talk.glb", tmp_path / "talk.csv"
    assert main(["animate", "--audio", str(clip), "-o", str(glb), "--csv", str(table)]) == 0
    assert capsys.readouterr().out.split() == [str(glb), str(table)]

    assert read_target_names(glb) == list(ARKIT_NAMES)  # exactly ARKit's 52
    curves = read_curves(glb)
    times, weights = curves.times, curves.weights
    duration = len(load_audio(clip)) / SAMPLE_RATE
    assert abs(duration - 2.0) < 0.01
    assert len(times) == int(np.ceil(duration * 30)) and duration - 1 / 30 <= times[-1] < duration
    assert np.allclose(np.diff(times), 1 / 30, atol=1e-5)
    assert 0 <= weights.min() and weights.max() <= 1
    jaw = weights[:, ICT_NAMES.index("jawOpen")]
    assert jaw.max() > 0.15  # the clip is speech: the mouth opens

    rows = list(csv.reader(table.open()))
    assert rows[0] == ["Timecode", "BlendshapeCount", *COLUMNS]
    assert len(rows) == 1 + len(times)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d:\d\d\.\d{3}", r[0]) and r[1] == str(len(COLUMNS)) and
               len(r) == 2 + len(COLUMNS) for r in rows[1:])
    values = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    assert np.allclose(values[:, COLUMNS.index("JawOpen")], jaw, atol=1e-5)
    assert np.all(values[:, COLUMNS.index("TongueOut")] == 0)


def test_animate_60fps_with_fitted_face(tmp_path, clip, model):
    from face3d.formats.scene import read_scene

    fit = tmp_path / "fit"
    fit.mkdir()
    identity = np.random.default_rng(0).normal(size=100)
    (fit / "params.json").write_text(json.dumps({"identity": identity.tolist()}))
    table, glb, mean_glb = tmp_path / "t.csv", tmp_path / "t.glb", tmp_path / "m.glb"
    assert main(["animate", "--audio", str(clip), "--face", str(fit), "-o", str(glb), "--csv", str(table),
                 "--fps", "60"]) == 0
    rows = list(csv.reader(table.open()))[1:]
    assert len(rows) == int(np.ceil(len(load_audio(clip)) / SAMPLE_RATE * 60))
    assert rows[1][0] == "00:00:00:01.000" and rows[2][0] == "00:00:00:02.000"  # the frame field counts 60 a second
    assert main(["animate", "--audio", str(clip), "-o", str(mean_glb)]) == 0
    fitted = model.blend(torch.from_numpy(identity).float()[None])[0].numpy()
    size = lambda v: np.ptp(v, axis=0)  # noqa: E731
    a, b = read_scene(glb), read_scene(mean_glb)
    np.testing.assert_allclose(size(a.positions), size(fitted), rtol=2e-3)  # the fitted face, back in cm
    np.testing.assert_allclose(size(b.positions), size(model.neutral.numpy()), rtol=2e-3)
    assert not np.allclose(size(a.positions), size(b.positions), rtol=1e-3)


def test_timecodes_follow_livelink():
    assert timecodes(3, 60) == ["00:00:00:00.000", "00:00:00:01.000", "00:00:00:02.000"]
    assert timecodes(3, 30) == ["00:00:00:00.000", "00:00:00:02.000", "00:00:00:04.000"]
    assert timecodes(60 * 3661 + 1, 60)[-1] == "01:01:01:00.000"


@pytest.mark.parametrize("content", [b"", b"RIFF....WAVEfmt garbage" * 3, None])
def test_bad_audio_fails_with_one_line_and_no_output(tmp_path, capsys, content):
    bad = tmp_path / "bad.wav"
    if content is None:  # truncated: a real WAV cut in half
        sf.write(bad, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE, subtype="PCM_16")
        bad.write_bytes(bad.read_bytes()[: SAMPLE_RATE])
    else:
        bad.write_bytes(content)
    out = tmp_path / "out.glb"
    assert main(["animate", "--audio", str(bad), "-o", str(out), "--csv", str(tmp_path / "out.csv")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("face3d: error: ") and str(bad) in err[0]
    assert list(tmp_path.iterdir()) == [bad]


def test_bad_face_folder_fails_cleanly(tmp_path, clip, capsys):
    (tmp_path / "params.json").write_text('{"identity": [1, 2]}')
    assert main(["animate", "--audio", str(clip), "--face", str(tmp_path), "-o", str(tmp_path / "x.glb")]) == 1
    assert "identity" in capsys.readouterr().err and not (tmp_path / "x.glb").exists()
