"""What the tools share: the repository and shared-data paths, a median timer and the machine-load line
that every benchmark prints beside its figures. Tools import it as ``from common import ...`` (the tools
folder is on ``sys.path`` when a tool runs as a script)."""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACE3D_SHARED", ROOT.parent / "shared"))  # ../shared beside the checkout


def median_s(fn, repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load() -> float:
    """The 1-minute load average (a loaded machine reads slow: print it beside every speed)."""
    return os.getloadavg()[0]


def machine() -> str:
    """One line: load average and core count."""
    return f"load {load():.1f} on {os.cpu_count()} cores"
