"""Live Link Face CSV (the iPhone app's capture layout): ``Timecode,BlendshapeCount,`` then the ARKit
columns, one row per frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..names import LIVELINK_COLUMNS, ict_to_arkit

TIMECODE_FPS = 30  # Live Link Face timecodes count 30 frames a second; faster rows get a sub-frame fraction


def timecodes(n: int, fps: int) -> list[str]:
    """Live Link Face ``HH:MM:SS:FF.fff`` for frames 0..n-1 at ``fps`` (FF counts 30 per second)."""
    out = []
    for i in range(n):
        ticks = i * TIMECODE_FPS / fps  # in timecode frames
        whole = int(ticks + 1e-6)
        s, ff = divmod(whole, TIMECODE_FPS)
        sub = round((ticks - whole) * 1000) % 1000
        out.append(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}.{sub:03d}")
    return out


def write_csv(path, weights: np.ndarray, fps: int) -> Path:
    """Write ICT ``weights [T, 53]`` as a Live Link Face CSV (ARKit columns, tongueOut = 0) at ``path``
    (callers write to a temporary of ``formats.atomic``)."""
    arkit = ict_to_arkit(weights)
    with open(path, "w", newline="") as f:
        f.write(",".join(("Timecode", "BlendshapeCount", *LIVELINK_COLUMNS)) + "\n")
        for tc, row in zip(timecodes(len(arkit), fps), arkit):
            f.write(f"{tc},{len(row)}," + ",".join(f"{v:.6f}" for v in row) + "\n")
    return Path(path)
