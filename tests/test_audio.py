"""Speech model: audio decoding, bounds, causality, streaming == offline, liveliness, bad input."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch

from face3d.audio.alive import Alive
from face3d.audio.features import SAMPLE_RATE, iter_audio, load_audio
from face3d.audio.model import N_OUT, Audio2Face, Config
from face3d.audio.stream import WEIGHTS, Streamer, load_default
from face3d.errors import BadInput
from face3d.names import ICT_NAMES
from conftest import SHARED

CLIP = SHARED / "speech" / "other" / "arctic_a0007.wav"
JAW = ICT_NAMES.index("jawOpen")


@pytest.fixture(scope="module")
def model():
    assert WEIGHTS.exists(), "assets/audio2face.pt is missing"
    return load_default()


@pytest.fixture(scope="module")
def speech():
    assert CLIP.exists(), f"{CLIP} not found (set FACE3D_SHARED)"
    return load_audio(CLIP)


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _write_mp3(path: Path, x: np.ndarray, rate: int) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libmp3lame", rate=rate)
        s.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.stack([x, x]), format="fltp", layout="stereo")
        frame.sample_rate = rate
        for f in av.AudioResampler(format=s.codec_context.format, layout="stereo", rate=rate).resample(frame):
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@pytest.mark.parametrize("suffix,rate,channels", [(".wav", 44100, 2), (".flac", 8000, 1), (".ogg", 48000, 2),
                                                  (".mp3", 22050, 2)])
def test_any_format_rate_and_layout_decodes_to_16k_mono(tmp_path, suffix, rate, channels):
    x = _tone(1.5, rate)
    path = tmp_path / f"a{suffix}"
    if suffix == ".mp3":
        _write_mp3(path, x, rate)
    else:
        sf.write(path, np.stack([x] * channels, 1), rate)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SAMPLE_RATE - 1.5) < 0.06
    assert 0.25 < np.abs(y).max() < 0.36  # stereo is averaged, not summed
    chunks = list(iter_audio(path, chunk_seconds=0.25))
    assert all(len(c) == SAMPLE_RATE // 4 for c in chunks[:-1]) and np.allclose(np.concatenate(chunks), y)


def test_bad_audio_raises_one_line(tmp_path, speech):
    cases = {"empty.wav": b"", "text.wav": b"this is not audio\n" * 20}
    wav = tmp_path / "ok.wav"
    sf.write(wav, speech, SAMPLE_RATE, subtype="PCM_16")
    cases["truncated.wav"] = wav.read_bytes()[: len(wav.read_bytes()) // 2]
    cases["header_only.wav"] = wav.read_bytes()[:30]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput) as e:
            load_audio(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value)
    sf.write(tmp_path / "nothing.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(BadInput, match="no audio samples"):
        load_audio(tmp_path / "nothing.wav")
    with pytest.raises(BadInput, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_untrained_model_shapes_bounds_and_causality():
    torch.manual_seed(0)
    m = Audio2Face(Config()).eval()
    mel = torch.randn(2, 150, m.cfg.n_mels)
    with torch.no_grad():
        w = m(mel)
        assert w.shape == (2, 150, N_OUT) and 0 <= float(w.min()) and float(w.max()) <= 1
        mel2 = mel.clone()
        mel2[:, 100:] = torch.randn(2, 50, m.cfg.n_mels)  # tokens are causal: nothing before 100 changes
        w2 = m(mel2)
    assert torch.allclose(w[:, :100], w2[:, :100], atol=1e-6) and not torch.allclose(w[:, 100:], w2[:, 100:])


def test_shipped_model_is_causal_with_100ms_lookahead(model, speech):
    cut = 1.5
    other = speech.copy()
    other[int(cut * SAMPLE_RATE):] = np.random.default_rng(0).normal(0, 0.2, len(other) - int(cut * SAMPLE_RATE))
    a = Streamer(model, alive=False).run([speech])
    b = Streamer(model, alive=False).run([other])
    t = np.arange(len(a)) / 30
    assert np.allclose(a[t < cut - 0.1], b[t < cut - 0.1], atol=1e-6)
    assert not np.allclose(a[t > cut], b[t > cut], atol=1e-3)


def test_streaming_equals_offline(model, speech):
    offline = Streamer(model, fps=60, seed=3).run([speech])
    s = Streamer(model, fps=60, seed=3)
    rng = np.random.default_rng(1)
    parts, i = [], 0
    while i < len(speech):
        n = int(rng.integers(1, 4000))
        parts.append(s.push(speech[i: i + n]))
        i += n
    parts.append(s.flush())
    streamed = np.concatenate(parts)
    assert streamed.shape == offline.shape == (int(np.ceil(len(speech) / SAMPLE_RATE * 60)), N_OUT)
    assert np.abs(streamed - offline).max() < 1e-4


def test_streaming_latency_is_at_most_100ms(model, speech):
    s = Streamer(model, fps=30, alive=False)
    got, hop = 0, SAMPLE_RATE // 100
    for i in range(0, len(speech) - hop, hop):
        got += len(s.push(speech[i: i + hop]))
        audio_time = (i + hop) / SAMPLE_RATE
        assert (got - 1) / 30 >= audio_time - 0.1 - 1 / 30 - 1e-6  # every frame older than 100 ms is out


def test_speech_moves_the_jaw_and_silence_rests(model, speech):
    w = Streamer(model, alive=False).run([speech])
    assert 0 <= w.min() and w.max() <= 1
    assert w[:, JAW].max() > 0.15 and w[:, JAW].std() > 0.03
    silent = Streamer(model, alive=False).run([np.zeros(2 * SAMPLE_RATE, np.float32)])
    assert silent[:, JAW].max() < 0.05  # digital silence: relaxed closed mouth
    clipped = Streamer(model, alive=False).run([np.clip(speech * 30, -1, 1)])
    assert np.isfinite(clipped).all() and clipped[:, JAW].max() > 0.1


def test_alive_is_deterministic_varied_and_chunk_independent():
    frames = np.zeros((30 * 60, N_OUT), np.float32)
    a = Alive(30, seed=5)(frames)
    b = np.concatenate([Alive(30, seed=5)(frames[:7])] + [np.zeros((0, N_OUT), np.float32)])
    alive = Alive(30, seed=5)
    chunks = [alive(frames[i: i + 13]) for i in range(0, len(frames), 13)]
    assert np.allclose(np.concatenate(chunks), a, atol=1e-6) and np.allclose(b, a[:7])
    assert not np.allclose(Alive(30, seed=6)(frames), a)
    blink = a[:, ICT_NAMES.index("eyeBlink_L")]
    starts = np.flatnonzero((blink[1:] > 0.5) & (blink[:-1] <= 0.5)) / 30
    gaps = np.diff(starts)
    assert 8 <= len(starts) <= 40 and gaps.std() > 0.3  # ~every 2-6 s, not periodic
    closed = np.diff(np.flatnonzero(np.diff((blink > 0.5).astype(int))))[::2] / 30
    assert closed.max() < 0.25  # blinks are short
    for name in ("browInnerUp_L", "eyeLookOut_L", "eyeLookUp_L"):
        assert a[:, ICT_NAMES.index(name)].std() > 0.003
    mouth = [i for i, n in enumerate(ICT_NAMES) if n.startswith(("jaw", "mouth"))]
    assert np.all(a[:, mouth] == 0)  # liveliness never touches the mouth
