"""What the tools share: the repository and shared-data paths, the iBUG ``.pts`` reader, the median timers and
the machine-load line that every benchmark prints beside its figures. Tools import it as ``from common import ...`` (the tools
folder is on ``sys.path`` when a tool runs as a script)."""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACE3D_SHARED", ROOT.parent / "shared"))  # ../shared beside the checkout


def read_pts(path: Path):
    """[68, 2] float64 0-based pixel coordinates from an iBUG .pts file (1 subtracted: 1-based pixel origin)."""
    import numpy as np

    lines = path.read_text().split("{")[1].split("}")[0].split()
    return np.array(lines, np.float64).reshape(-1, 2) - 1.0


def median_times(fn, repeat: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of ``fn()`` over ``repeat`` calls, after ``warmup``
    untimed ones (CPU time is what a busy shared machine does not inflate)."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(max(1, repeat)):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def median_s(fn, repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls, after ``warmup`` untimed ones."""
    return median_times(fn, repeat, warmup)[0]


def median_ms(fn, repeat: int, warmup: int = 1) -> float:
    """:func:`median_s` in milliseconds."""
    return 1e3 * median_s(fn, repeat, warmup)


def load() -> float:
    """The 1-minute load average (a loaded machine reads slow: print it beside every speed)."""
    return os.getloadavg()[0]


def machine() -> str:
    """One line: load average and core count."""
    return f"load average {load():.1f} on {os.cpu_count()} cores"
