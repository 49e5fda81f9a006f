"""Fuzz face3d's readers: random bytes, truncations and bit flips of real files never give anything but
a clean result or a one-line ``Face3DError``.

    python tools/fuzz.py --examples 2000            # per target; prints counts, failures and time
    python tools/fuzz.py --seconds 120 --target image

Targets: image (``formats.image.read_photo``), audio (``audio.features.iter_audio``: WAV, MP3, OGG),
csv (``formats.livelink.read_csv``), fit (``formats.fitdir.read_fit`` on params/landmarks.json).
``tests/test_fuzz.py`` runs the same targets briefly with a fixed seed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED  # noqa: E402

from face3d.errors import Face3DError  # noqa: E402


def seeds(folder: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Real files per target, made small (fast to decode, so mutations are cheap)."""
    import av
    import numpy as np
    from PIL import Image

    img = Image.open(SHARED / "faces" / "takeo.png").convert("RGB").resize((96, 96))
    out: dict[str, list[tuple[str, bytes]]] = {"image": [], "audio": [], "csv": [], "fit": []}
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("BMP", ".bmp")):
        p = folder / f"seed{suffix}"
        img.save(p, fmt)
        out["image"].append((suffix, p.read_bytes()))
    wav = SHARED / "speech" / "other" / "arctic_a0007.wav"
    data = wav.read_bytes()
    out["audio"].append((".wav", data[:44 + 16000 * 2]))  # the header and one second
    samples = np.frombuffer(data[44:44 + 16000 * 2], "<i2").astype(np.float32) / 32768
    for codec, suffix in (("libmp3lame", ".mp3"), ("libvorbis", ".ogg"), ("flac", ".flac")):
        p = folder / f"seed{suffix}"
        try:
            with av.open(str(p), "w") as c:
                s = c.add_stream(codec, rate=16000)
                s.layout = "mono"
                frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
                frame.rate = 16000
                for packet in s.encode(frame):
                    c.mux(packet)
                for packet in s.encode(None):
                    c.mux(packet)
            out["audio"].append((suffix, p.read_bytes()))
        except (av.error.FFmpegError, ValueError):  # an encoder this PyAV build lacks
            pass
    capture = SHARED / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv"
    out["csv"].append((".csv", b"".join(capture.read_bytes().splitlines(keepends=True)[:12])))
    facegood = sorted((SHARED / "animation").glob("*.arkit.csv"))
    if facegood:
        out["csv"].append((".csv", b"".join(facegood[0].read_bytes().splitlines(keepends=True)[:12])))
    out["fit"] = [("params.json", _params_json()), ("landmarks.json", _landmarks_json())]
    return out


def _params_json() -> bytes:
    import json

    import numpy as np

    from face3d.camera import Camera
    from face3d.fit import FitResult
    from face3d.formats.fitdir import fit_params

    fields = FitResult.__dataclass_fields__
    r = FitResult(**{k: v for k, v in dict(
        identity=np.zeros(100, np.float32), expression=np.full(53, 0.1, np.float32),
        rotation=np.zeros(3, np.float32), translation=np.array([0, 0, -60], np.float32),
        camera=Camera.for_image(64, 64), ibug68=np.full((68, 2), 32, np.float32),
        mediapipe478=np.full((478, 3), 32, np.float32)).items() if k in fields})
    return json.dumps(fit_params(r)).encode()


def _landmarks_json() -> bytes:
    import json

    return json.dumps({"ibug68": [[32.0, 32.0]] * 68, "mediapipe478": [[32.0, 32.0, 0.0]] * 478}).encode()


def run_target(target: str, name: str, data: bytes, folder: Path, fit_seeds: dict[str, bytes] | None = None) -> None:
    """Feed ``data`` (named like ``name``) to ``target``'s reader; raises AssertionError on anything
    other than success or a one-line Face3DError."""
    from face3d.audio.features import iter_audio
    from face3d.formats.fitdir import read_fit
    from face3d.formats.image import read_photo
    from face3d.formats.livelink import read_csv

    if target == "fit":
        d = Path(tempfile.mkdtemp(dir=folder))
        files = dict(fit_seeds or {})
        files[name] = data
        for n, b in files.items():
            (d / n).write_bytes(b)
        path, call = d, read_fit
    else:
        path = folder / f"case{name}"
        path.write_bytes(data)
        call = {"image": read_photo, "audio": lambda p: sum(len(c) for c in iter_audio(p)),
                "csv": read_csv}[target]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning is a message on stderr: not allowed either
            call(path)
    except Face3DError as e:
        assert "\n" not in str(e) and str(e).strip(), repr(e)


def strategy(seed_files: list[tuple[str, bytes]]):
    """Hypothesis strategy of (name, bytes): random bytes, a truncation, or bit flips of a seed."""
    from hypothesis import strategies as st

    def truncate(pair, cut):
        name, data = pair
        return name, data[: int(cut * len(data))]

    def flip(pair, positions):
        name, data = pair
        b = bytearray(data)
        for p in positions:
            b[p % len(b)] ^= 1 << (p % 8)
        return name, bytes(b)

    base = st.sampled_from(seed_files)
    return st.one_of(
        st.tuples(st.sampled_from([n for n, _ in seed_files]), st.binary(max_size=2048)),
        st.builds(truncate, base, st.floats(0, 1)),
        st.builds(flip, base, st.lists(st.integers(0, 1 << 30), min_size=1, max_size=8)),
    )


def main() -> None:
    from hypothesis import HealthCheck, given, settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=500, help="examples per target")
    ap.add_argument("--target", choices=("image", "audio", "csv", "fit"), action="append")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        all_seeds = seeds(folder)
        fit_seeds = dict(all_seeds["fit"])
        for target in args.target or ("image", "audio", "csv", "fit"):
            count = [0]
            t0 = time.perf_counter()

            @settings(max_examples=args.examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(strategy(all_seeds[target]))
            def case(pair):
                count[0] += 1
                run_target(target, pair[0], pair[1], folder, fit_seeds)

            try:
                case()
                status = "no failure"
            except Exception as e:  # report, then go on with the next target
                status = f"FAILED: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            print(f"{target:6s} {count[0]:6d} examples in {time.perf_counter() - t0:6.1f} s: {status}", flush=True)


if __name__ == "__main__":
    main()
