"""Live Link Face CSV: the iPhone's layout out (61 columns, 60-per-second frame field) and in (a real
capture, FACEGOOD's curves, face3d's own), and the CSV -> GLB -> CSV round trip."""
import csv

import numpy as np
import pytest

from conftest import run_cli
from face3d.curves import Curves
from face3d.errors import BadInput
from face3d.formats.gltf import read_curves
from face3d.formats.livelink import COLUMNS, read_csv, timecodes, write_csv
from face3d.names import ICT_NAMES


def _table(path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(open(path)))
    return rows[0], rows[1:]


def test_timecodes_count_60_frames_a_second():
    assert timecodes(4, 30) == ["00:00:00:00.000", "00:00:00:02.000", "00:00:00:04.000", "00:00:00:06.000"]
    assert timecodes(np.array([1.0, 61 / 60, 3661.5 + 1 / 120]))[1:] == ["00:00:01:01.000", "01:01:01:30.500"]


def test_written_csv_has_the_iphones_61_columns(tmp_path):
    rng = np.random.default_rng(0)
    curves = Curves(np.arange(5) / 30, rng.random((5, 53)), head=rng.normal(0, 0.1, (5, 3)))
    header, rows = _table(write_csv(tmp_path / "c.csv", curves))
    assert header[:2] == ["Timecode", "BlendshapeCount"] and header[2:] == list(COLUMNS) and len(COLUMNS) == 61
    assert header[-9:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                           "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
    assert {r[1] for r in rows} == {"61"} and rows[1][0] == "00:00:00:02.000"
    # face3d pitch = Live Link pitch; face3d yaw/roll = -Live Link yaw/roll (see formats.livelink)
    assert float(rows[2][header.index("HeadPitch")]) == pytest.approx(curves.head[2, 0], abs=1e-7)
    assert float(rows[2][header.index("HeadYaw")]) == pytest.approx(-curves.head[2, 1], abs=1e-7)


def test_reads_the_iphone_capture(shared):
    c = read_csv(shared / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv")
    assert len(c) == 1848 and c.times[0] == 0 and 30.5 < c.times[-1] < 31
    assert 59 < (len(c) - 1) / c.times[-1] < 61  # ~60 rows a second
    assert c.head is not None and c.eyes.shape == (1848, 2, 3) and c.tongue.shape == (1848,)
    # eyes look down (pitch > 0) when eyeLookDown dominates, as face3d's convention says
    down = c.weights[:, ICT_NAMES.index("eyeLookDown_L")] - c.weights[:, ICT_NAMES.index("eyeLookUp_L")]
    assert np.corrcoef(down, c.eyes[:, 0, 0])[0, 1] > 0.9
    out = c.weights[:, ICT_NAMES.index("eyeLookOut_L")] - c.weights[:, ICT_NAMES.index("eyeLookIn_L")]
    assert np.corrcoef(out, c.eyes[:, 0, 1])[0, 1] > 0.9  # the left eye looking out turns to the left: yaw > 0


def test_reads_facegood_and_its_own_files(shared, tmp_path):
    fg = read_csv(shared / "animation" / "facegood_1114_2_01.arkit.csv")
    assert len(fg) == 3295 and fg.times[1] == pytest.approx(1 / 30) and fg.head is None and fg.eyes is None
    assert fg.weights[:, ICT_NAMES.index("jawOpen")].max() > 0.3
    again = read_csv(write_csv(tmp_path / "fg.csv", fg))
    np.testing.assert_allclose(again.weights, fg.weights, atol=1e-7)
    np.testing.assert_allclose(again.times, fg.times, atol=1e-6)


def test_csv_glb_csv_round_trip(shared, model, tmp_path):
    from face3d.formats.mesh import save_mesh

    src = shared / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv"
    curves = read_csv(src)
    glb = save_mesh(tmp_path / "c.glb", model.neutral.numpy(), model, animation=curves)
    out = write_csv(tmp_path / "back.csv", read_curves(glb))
    (h1, a), (h2, b) = _table(src), _table(out)
    assert h1 == h2
    va = np.array([[float(x) for x in r[2:]] for r in a])
    vb = np.array([[float(x) for x in r[2:]] for r in b])
    assert np.abs(va - vb).max() <= 1e-6
    start = read_csv(src).times
    np.testing.assert_allclose(read_csv(out).times, start, atol=2e-5)  # timecodes restart at 0


@pytest.mark.parametrize("text, problem", [
    ("a,b\n1,2\n", "first column must be Timecode"),
    ("Timecode,BlendshapeCount,EyeBlinkLeft\n00:00:00:00.000,1,0\n", "missing column"),
])
def test_bad_csv_is_one_line(tmp_path, text, problem):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(BadInput, match=problem):
        read_csv(p)


def test_bad_values_name_the_row(tmp_path, shared):
    lines = (shared / "animation" / "facegood_1114_2_01.arkit.csv").read_text().splitlines()[:4]
    lines[3] = lines[3].replace(",52,0,", ",52,x,", 1)
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput, match="row 4"):
        read_csv(p)
    lines[3] = lines[1]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput, match="does not advance"):
        read_csv(p)


def test_cli_animate_curves(shared, tmp_path):
    src = shared / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv"
    r = run_cli("animate", "--curves", src, "-o", tmp_path / "l.glb", "--csv", tmp_path / "l.csv")
    assert r.returncode == 0, r.stderr
    back = read_curves(tmp_path / "l.glb")
    assert len(back) == 1848 and np.abs(back.eyes).max() > 0.2
    r = run_cli("animate", "--curves", tmp_path / "l.glb", "-o", tmp_path / "x.glb")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "l.glb" in r.stderr and not (tmp_path / "x.glb").exists()
    r = run_cli("animate", "-o", tmp_path / "x.glb")
    assert r.returncode == 1 and "--curves" in r.stderr
