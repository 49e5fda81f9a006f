"""Property-based fuzzing of the readers (random bytes, truncations, bit flips of real files), briefly
and with a fixed seed; ``python tools/fuzz.py --examples N`` runs the same targets for longer."""
from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, seed, settings

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import fuzz  # noqa: E402


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory):
    return fuzz.seeds(tmp_path_factory.mktemp("seeds"))


@pytest.mark.parametrize("target,examples", [("image", 60), ("audio", 40), ("csv", 60), ("fit", 60)])
def test_readers_never_give_a_traceback(target, examples, seed_files, tmp_path):
    assert seed_files[target], f"no seed files for {target}"
    fit_seeds = dict(seed_files["fit"])

    @seed(1234)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(fuzz.strategy(seed_files[target]))
    def case(pair):
        fuzz.run_target(target, pair[0], pair[1], tmp_path, fit_seeds)

    case()


def _wav(tag: int, extra: bytes = b"") -> bytes:
    """A 1 s 16 kHz WAV with format ``tag`` and ``extra`` chunks before its data."""
    import struct

    import numpy as np

    data = (3000 * np.sin(np.arange(16000) / 5)).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", tag, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_found_by_the_long_fuzz_run(tmp_path):
    """Cases `tools/fuzz.py --examples 5000` found: tags that are not UTF-8 (PyAV raised UnicodeDecodeError
    opening the file) and a codec ffmpeg does not know (no codec context)."""
    import struct

    from face3d.audio.features import load_audio
    from face3d.errors import BadInput

    name = b"\xe4\xff\xfe\xfd\x00\x00"
    info = b"INFO" + b"INAM" + struct.pack("<I", len(name)) + name
    (tmp_path / "tags.wav").write_bytes(_wav(1, b"LIST" + struct.pack("<I", len(info)) + info))
    assert len(load_audio(tmp_path / "tags.wav")) == 16000  # damaged tags are no reason to refuse the sound
    (tmp_path / "codec.wav").write_bytes(_wav(0x1234))
    with pytest.raises(BadInput, match="codec.wav: unsupported audio codec"):
        load_audio(tmp_path / "codec.wav")
