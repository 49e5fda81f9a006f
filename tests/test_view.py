"""The viewer's window tests (tests/window_cases.py) in a fresh interpreter: a GLX window in a process
that already made an EGL context (the overlay, track, render tests) crashes mesa, so they run apart."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_viewer_window_cases_in_their_own_process():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "window_cases.py")],
                       capture_output=True, text=True, cwd=ROOT / "tests", timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout
