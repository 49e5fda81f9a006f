"""The coarticulation model that turns phone timings into ICT mouth weights (training targets)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # training code lives outside the package
from training.visemes import load_phones, normalize_phone, phones_to_weights  # noqa: E402
from face3d.errors import BadInput  # noqa: E402
from face3d.names import ICT_NAMES  # noqa: E402

FPS = 30
J = {n: i for i, n in enumerate(ICT_NAMES)}


def _phones(*spec):
    """('sil', 0.3), ('p', 0.08), ... -> contiguous phone records."""
    out, t = [], 0.0
    for phone, dur in spec:
        out.append({"phone": phone, "start": t, "end": t + dur})
        t += dur
    return out


# "sil pop aa mum uw sil ... fife": every case the tests look at, with neighbours that pull the other way.
PHONES = _phones(("sil", 0.4), ("p", 0.09), ("aa", 0.18), ("p", 0.07), ("sil", 0.05), ("m", 0.1), ("ah", 0.12),
                 ("m", 0.04), ("uw", 0.2), ("sil", 0.6), ("f", 0.1), ("ay1", 0.2), ("v", 0.08), ("SIL", 0.5))
T = int(np.ceil(PHONES[-1]["end"] * FPS))


def _frames(phone_index):
    """Frame indices whose time i / FPS falls inside the given phone."""
    p = PHONES[phone_index]
    t = np.arange(T) / FPS
    return np.nonzero((t >= p["start"]) & (t < p["end"]))[0]


@pytest.fixture(scope="module")
def w():
    return phones_to_weights(PHONES, FPS, T)


def test_shape_range_and_untouched_channels(w):
    assert w.shape == (T, 53) and w.dtype == np.float32
    assert w.min() >= 0 and w.max() <= 1
    for name in ("eyeBlink_L", "eyeLookUp_R", "browInnerUp_L", "browDown_R", "noseSneer_L"):
        assert np.all(w[:, J[name]] == 0), name


def test_bilabials_close_lips_for_their_whole_duration(w):
    for k in (1, 3, 5, 7):  # p, p, m, and a 40 ms m between two vowels
        f = _frames(k)
        if len(f) == 0:  # shorter than a frame: the frame nearest its centre closes
            f = [int(round((PHONES[k]["start"] + PHONES[k]["end"]) / 2 * FPS))]
        assert np.all(np.abs(w[f, J["mouthClose"]] - w[f, J["jawOpen"]]) < 1e-6), PHONES[k]
        assert np.all(w[f, J["mouthLowerDown_L"]] == 0) and np.all(w[f, J["mouthFunnel"]] == 0)
        assert np.all(w[f, J["mouthPress_L"]] >= 0.3)


def test_open_vowel_opens_jaw_and_rounded_vowel_puckers(w):
    aa, uw, m = _frames(2), _frames(8), _frames(5)
    assert w[aa, J["jawOpen"]].max() > 0.35
    assert w[aa, J["jawOpen"]].max() > 2 * w[m, J["jawOpen"]].max()
    assert w[uw, J["mouthPucker"]].max() > 0.5
    assert w[uw, J["mouthPucker"]].max() > 3 * w[aa, J["mouthPucker"]].max()


def test_labiodentals_roll_lower_lip(w):
    for k in (10, 12):  # f before an open diphthong, v after it: the jaw nearly closes, lower lip rolls in
        f = _frames(k)
        assert w[f, J["mouthRollLower"]].max() > 0.25 and w[f, J["jawOpen"]].min() < 0.2, PHONES[k]


def test_silence_relaxes_mouth(w):
    t = np.arange(T) / FPS
    for k in (0, 9, 13):  # leading, inner and trailing silence, 200 ms away from speech
        p = PHONES[k]
        lo = p["start"] + 0.2 if k else 0.0
        hi = p["end"] - 0.2 if k < len(PHONES) - 1 else p["end"]
        f = (t >= lo) & (t < hi)
        assert f.any() and w[f].max() < 0.05, (p, w[f].max())


def test_frame_timing_follows_fps():
    """A lone 'aa' at 1.0-1.2 s peaks near 1.1 s at any frame rate; no frame is shifted."""
    ph = _phones(("sil", 1.0), ("aa", 0.2), ("sil", 1.0))
    for fps in (25, 30, 60):
        jaw = phones_to_weights(ph, fps, int(2.2 * fps))[:, J["jawOpen"]]
        assert abs(np.argmax(jaw) / fps - 1.1) <= 1.0 / fps + 1e-9
    assert phones_to_weights(ph, 30, 0).shape == (0, 53)
    assert np.all(phones_to_weights([], 30, 10) == 0)


def test_phone_labels_normalised():
    assert normalize_phone("AH0") == "ah" and normalize_phone("ey2") == "ey"
    for s in ("sil", "SIL", "sp", "spn", "pau", "h#", "+NSN+", "<sil>", ""):
        assert normalize_phone(s) == "sil", s


def test_lips_touch_on_the_face_model(model):
    """On the ICT mesh the inner-lip centre gap is ~0 (or negative: pressed) on p/b/m frames and opens on aa."""
    w = phones_to_weights(PHONES, FPS, T)
    upper, lower = model.landmarks68[62], model.landmarks68[66]
    with torch.no_grad():
        v = model(expression=torch.from_numpy(w)).vertices.numpy()
    gap = v[:, upper, 1] - v[:, lower, 1]  # cm
    for k in (1, 3, 5):
        assert gap[_frames(k)].max() < 0.1, (PHONES[k], gap[_frames(k)])
    assert gap[_frames(2)].max() > 1.0


def test_load_phones_reads_shared_file_and_rejects_bad(shared, tmp_path):
    ph = load_phones(shared / "speech/arctic/bdl/arctic_a0001.phone.json")
    assert ph[0]["phone"] == "sil" and ph[0]["start"] == 0.0
    assert all(a["end"] <= b["start"] + 1e-9 for a, b in zip(ph, ph[1:]))
    bad = tmp_path / "bad.phone.json"
    bad.write_text(json.dumps([{"phone": "aa", "start": 0.0}]))
    with pytest.raises(BadInput):
        load_phones(bad)
    bad.write_text("not json")
    with pytest.raises(BadInput):
        load_phones(bad)
