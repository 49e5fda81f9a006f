"""Voice-activity gate, bilabial closure, emotion, head motion and gaze (face3d.audio.perform / vad)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from face3d.audio.features import SAMPLE_RATE, load_audio
from face3d.audio.perform import GAP, GAP0, Emotion
from face3d.audio.stream import Streamer, load_default
from face3d.errors import BadInput
from face3d.names import ICT_NAMES
from conftest import SHARED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # training code lives outside the package
from training import mixes  # noqa: E402
from training.losses import lip_gap_coefficients  # noqa: E402

CLIP = SHARED / "speech" / "other" / "arctic_a0007.wav"
J = {n: i for i, n in enumerate(ICT_NAMES)}


@pytest.fixture(scope="module")
def speech():
    assert CLIP.exists(), f"{CLIP} not found (set FACE3D_SHARED)"
    return load_audio(CLIP)


def test_runtime_lip_gap_matches_the_face_model(model):
    g0, d = lip_gap_coefficients(model)
    assert abs(g0 - GAP0) < 1e-3 and np.abs(d - GAP).max() < 0.01


def test_streaming_equals_offline_with_head_emotion_and_gate(speech):
    m = load_default()
    off = Streamer(m, fps=60, seed=4, emotion="happy").run_curves([speech])
    s = Streamer(m, fps=60, seed=4, emotion="happy")
    rng = np.random.default_rng(2)
    w, h, i = [], [], 0
    while i < len(speech):
        n = int(rng.integers(1, 3000))
        w.append(s.push(speech[i: i + n]))
        h.append(s.last_head)
        i += n
    w.append(s.flush())
    h.append(s.last_head)
    assert np.abs(np.concatenate(w) - off.weights).max() < 1e-4
    assert np.abs(np.concatenate(h) - off.head).max() < 1e-5 and off.head.shape == (len(off.weights), 3)


def test_head_moves_with_speech_is_seeded_and_small(speech):
    audio = np.concatenate([np.zeros(3 * SAMPLE_RATE, np.float32), speech, speech])
    a = Streamer(seed=1).run_curves([audio])
    b = Streamer(seed=1).run_curves([audio])
    c = Streamer(seed=2).run_curves([audio])
    assert np.array_equal(a.head, b.head) and not np.allclose(a.head, c.head)
    assert np.abs(a.head).max() < 0.25  # rad: nods and turns, not a spin
    t = a.times
    vel = np.abs(np.diff(a.head, axis=0)).sum(1) * 30
    assert vel[t[1:] > 3.2].mean() > 2 * vel[t[1:] < 2.8].mean()  # speech moves it, silence only drifts
    assert a.head[t < 2.8].std(0).max() > 1e-4  # ... but not frozen
    assert Streamer(head=False).run_curves([speech]).head is None


def test_crowd_noise_and_music_alone_leave_the_mouth_closed():
    rng = np.random.default_rng(5)
    for kind in ("applause", "music"):
        bed = 0.1 * mixes.bed(kind, 6 * SAMPLE_RATE, rng, "eval")
        w = Streamer(alive=False, head=False).run([bed])
        gap = GAP0 + w @ GAP
        assert (gap[30:] < 0.2).mean() > 0.8, kind
        raw = Streamer(alive=False, head=False, vad=False).run([bed])
        assert w[30:, J["jawOpen"]].mean() < raw[30:, J["jawOpen"]].mean()  # the gate is what closes it


def test_emotion_shapes_the_face_and_keeps_closures(speech):
    neutral = Streamer(alive=False, head=False).run([speech])
    happy = Streamer(alive=False, head=False, emotion="happy", intensity=1.0).run([speech])
    sad = Streamer(alive=False, head=False, emotion="sad").run([speech])
    assert happy[:, J["mouthSmile_L"]].mean() > neutral[:, J["mouthSmile_L"]].mean() + 0.3
    assert sad[:, J["browInnerUp_L"]].mean() > 0.4 and sad[:, J["mouthFrown_L"]].mean() > 0.3
    closed = lambda w: GAP0 + w @ GAP < 0.2  # noqa: E731
    assert closed(happy).sum() >= 0.9 * closed(neutral).sum()  # the lips still close where they did
    keys = Emotion([(0.0, "neutral", 0.0), (2.0, "angry", 1.0)])
    e = keys.at(np.array([0.0, 1.0, 2.0, 3.0]))[:, J["browDown_L"]]
    assert e[0] == 0 and 0.3 < e[1] < 0.5 and e[2] == e[3] > 0.7
    for bad in (("joyful", 0.5), ("happy", 1.5)):
        with pytest.raises(BadInput):
            Emotion(*bad)


def test_gaze_returns_to_camera_at_phrase_starts(speech):
    audio = np.concatenate([np.zeros(2 * SAMPLE_RATE, np.float32), speech])
    s = Streamer(seed=3)
    w = s.run([audio])
    look = [J[n] for n in ICT_NAMES if n.startswith("eyeLook")]
    start = int(np.argmax(np.abs(np.diff(Streamer(seed=3, alive=False, head=False).run([audio])[:, J["jawOpen"]])) > 0.02))
    held = w[start + 4: start + 15][:, look]
    assert held.max() < 1e-3  # looking at the camera just after the phrase starts


def test_vad_features_do_not_depend_on_chunking_and_foreign_weights_fail_in_one_line(tmp_path, speech):
    from face3d.audio import vad
    from face3d.audio.features import LogMel
    from face3d.errors import AssetMissing

    mel = LogMel()(np.concatenate([speech, 0.05 * mixes.bed("music", SAMPLE_RATE, np.random.default_rng(1), "eval")]))
    whole = vad.features(mel, vad.VADState())
    state = vad.VADState()
    parts = np.concatenate([vad.features(c, state) for c in np.split(mel, [1, 2, 50, 51, 200])])
    assert np.abs(parts - whole).max() < 1e-4
    # music holds its spectral shape, speech does not: the stability feature tells them apart
    n = len(LogMel()(speech))
    assert np.median(whole[n + 10:, vad.BANDS + 1]) > 2 * np.median(whole[:n, vad.BANDS + 1])
    bad = tmp_path / "vad.npz"
    np.savez(bad, w1=np.zeros((119, 32)), b1=np.zeros(32), w2=np.zeros((32, 1)), b2=np.zeros(1))
    with pytest.raises(AssetMissing, match="119 inputs"):
        vad.VAD(bad)


def test_a_crowd_after_a_quiet_lead_in_leaves_the_mouth_closed():
    # the noise floor is a windowed minimum: a bed that starts after near-silence (or swells) is not read as
    # speech for the seconds a creeping floor would need to catch up with it
    rng = np.random.default_rng(8)
    quiet = 1e-4 * rng.normal(0, 1, SAMPLE_RATE).astype(np.float32)
    bed = 0.05 * mixes.bed("applause", 8 * SAMPLE_RATE, rng, "eval")
    w = Streamer(alive=False, head=False).run([np.concatenate([quiet, bed])])
    gap = GAP0 + w @ GAP
    assert (gap[30 * 4:] < 0.2).mean() > 0.9  # from 3 s on (2 s into the bed)


def test_closure_follows_the_models_mouthclose_against_jawopen():
    from face3d.audio.perform import Mouth, MouthConfig

    w = np.zeros((3, len(ICT_NAMES)), np.float32)
    w[:, J["jawOpen"]] = 0.2
    w[:, J["mouthClose"]] = [0.0, 0.2 * 0.1, 0.2 * 0.5]  # no, weak (ratio 0.1), firm (0.5) closure evidence
    c = Mouth.closure(w, MouthConfig())
    assert c[0] == 0 and c[1] == 0 and c[2] == 1


def test_training_acoustic_augmentation_matches_a_waveform_mix_and_keeps_its_span(speech):
    """tools/training/augment.py: a background added to the cached log-mel in the power domain is the log-mel of
    the waveform mix (up to the random cross-term); a background confined to the item leaves the crop's
    digital-silence margins silent; the draws are seeded."""
    import torch
    from face3d.audio.features import LogMel
    from training.augment import MelAugment

    lm = LogMel()
    noise = mixes.bed("pink", len(speech), np.random.default_rng(5), "train")
    s = float(np.mean(speech.astype(np.float64) ** 2))
    g2 = s / float(np.mean(noise.astype(np.float64) ** 2)) / 10.0  # 10 dB SNR
    melmix = np.log(np.exp(lm(speech)) - lm.floor + g2 * (np.exp(lm(noise)) - lm.floor) + lm.floor)
    assert np.median(np.abs(lm(mixes.mix(speech, noise, 10.0)) - melmix)) < 0.2  # vs ~2.5 for the noise itself

    mel = lm(speech)[:100]
    items = [dict(mel=mel.astype(np.float16), power=s)] * 10
    silence = np.full((20, mel.shape[1]), np.log(lm.floor), np.float32)
    crop = torch.from_numpy(np.concatenate([silence, mel, silence]))[None].repeat(8, 1, 1)
    power, span = torch.full((8,), s), torch.tensor([[20, 120]] * 8)
    outs = []
    for _ in range(2):
        aug = MelAugment(lm, items, seed=3, p_reverb=0, p_eq=0, p_warp=0, p_noise=1.0, bank_s=4.0, n_beds=6)
        outs.append(aug(crop.clone(), power, span))
    assert torch.equal(outs[0], outs[1]) and torch.isfinite(outs[0]).all()
    lead = outs[0][:, :20].amax((1, 2)) > np.log(lm.floor) + 1e-3  # noise in the leading margin
    assert 0 < int(lead.sum()) < 8  # some backgrounds run through the margins, some start with the item
    full = MelAugment(lm, items, seed=3, bank_s=4.0, n_beds=6)(crop.clone(), power, span)
    assert torch.isfinite(full).all() and (full - crop).abs().mean() > 0.1


def test_training_rumble_is_low_frequency_and_off_by_default(speech):
    """tools/training/augment.py: the rumble / mains-hum component adds power below ~150 Hz only, and with
    ``p_rumble`` 0 (the default) every other draw is the same as without it."""
    import torch
    from face3d.audio.features import LogMel
    from training.augment import MelAugment, rumble

    lm = LogMel()
    mel = lm(speech)[:100]
    s = float(np.mean(speech.astype(np.float64) ** 2))
    items = [dict(mel=mel.astype(np.float16), power=s)] * 10
    crop, power, span = torch.from_numpy(mel)[None].repeat(4, 1, 1), torch.full((4,), s), torch.tensor([[0, 100]] * 4)
    out = MelAugment(lm, items, seed=3, p_reverb=0, p_eq=0, p_warp=0, p_noise=0, bank_s=4.0, n_beds=6,
                     p_rumble=1.0)(crop.clone(), power, span)
    change = (out - crop).mean((0, 1)).numpy()
    # the lowest mel bands lie below ~150 Hz; hum harmonics reach ~300 Hz (band 7), window leakage a little more
    assert change[:3].min() > 1.0 and change[12:].max() < 0.1 and change[20:].max() < 0.01
    base = MelAugment(lm, items, seed=3, bank_s=4.0, n_beds=6)(crop.clone(), power, span)
    off = MelAugment(lm, items, seed=3, bank_s=4.0, n_beds=6, p_rumble=0.0)(crop.clone(), power, span)
    assert torch.equal(base, off)
    x = rumble(16000, np.random.default_rng(1))
    assert abs(float(np.mean(x.astype(np.float64) ** 2)) - 1) < 1e-3
