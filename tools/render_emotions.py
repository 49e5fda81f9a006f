"""Render one still per ``--emotion`` (the README's emotion strip): the mean face with the emotion laid over
a speaking mouth, through the same GLB + renderer a user gets from ``face3d animate`` / ``face3d render``.

    .venv/bin/python tools/render_emotions.py [--out docs/emotions.png] [--intensity 0.8] [--size 320]

Per emotion: ``face3d.audio.perform.Emotion(name, intensity)`` applied to one frame of face3d's own output on
``../shared/speech/other/arctic_a0007.wav`` (an open vowel, so the smile/frown is seen on a talking
mouth), written as a one-frame Live Link CSV, played on the mean face by ``face3d.animate.animate_curves``
into a GLB and rendered front-on by ``face3d.viewer.media.render_file``; the stills are joined in one
labelled row, written atomically.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED  # noqa: E402
from face3d.audio.perform import EMOTIONS, Emotion  # noqa: E402
from face3d.names import ICT_NAMES  # noqa: E402

CROP = (0.30, 0.27, 0.70, 0.67)  # (left, top, right, bottom) of the front view that holds the face


def speaking_frame() -> np.ndarray:
    """[53] face3d's own frame at the widest jaw of the acceptance clip (no liveliness, no emotion)."""
    from face3d.audio.features import load_audio
    from face3d.audio.stream import Streamer

    w = Streamer(alive=False, head=False).run([load_audio(SHARED / "speech" / "other" / "arctic_a0007.wav")])
    jaw = w[:, ICT_NAMES.index("jawOpen")]
    return w[int(np.argsort(jaw)[int(0.9 * len(jaw))])]  # a typical open vowel, not the extreme


def main(argv: list[str] | None = None) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from face3d.animate import animate_curves
    from face3d.curves import Curves
    from face3d.formats.atomic import atomic_file
    from face3d.formats.livelink import write_csv
    from face3d.viewer.media import render_file

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/emotions.png"))
    ap.add_argument("--intensity", type=float, default=0.8)
    ap.add_argument("--size", type=int, default=320)
    args = ap.parse_args(argv)
    base = speaking_frame()
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in EMOTIONS:
            w = Emotion(name, args.intensity).apply(base[None].copy(), np.zeros(1))
            w = np.repeat(np.clip(w, 0, 1), 2, 0)  # two frames: an animation of one frame is no animation
            csv, glb, png = (Path(tmp) / f"{name}.{x}" for x in ("csv", "glb", "png"))
            write_csv(csv, Curves(np.array([0.0, 1 / 30]), w))
            animate_curves(csv, glb=glb)
            big = 3 * args.size  # the renderer frames head and neck: render large, keep the face
            render_file(glb, png, size=big, view="front", time_s=0.0, progress=False)
            im = Image.open(png).convert("RGB")
            box = [int(f * big) for f in CROP]
            tiles.append((name, im.crop(box).resize((args.size, args.size), Image.LANCZOS)))
    s = args.size
    strip = Image.new("RGB", (s * len(tiles), s + 28), "white")
    draw = ImageDraw.Draw(strip)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 18)
    except OSError:
        font = ImageFont.load_default()
    for i, (name, im) in enumerate(tiles):
        strip.paste(im, (i * s, 0))
        draw.text((i * s + s // 2, s + 4), name, fill="black", font=font, anchor="mt")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(args.out) as tmp:
        strip.save(tmp, format="PNG")
    print(args.out)


if __name__ == "__main__":
    main()
