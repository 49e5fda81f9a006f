"""Torch and BLAS thread control for small-tensor work."""
from __future__ import annotations

import contextlib
import threading

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED = 0


@contextlib.contextmanager
def one_thread():
    """Run torch on one intra-op thread, then restore the caller's setting.

    The solver's and the speech model's tensors are small: extra OpenMP threads only add synchronisation,
    which on a busy 2-core machine costs several times the work itself. The setting is process-wide, so
    concurrent users (threads) share it: the first sets it, the last restores it.
    """
    import torch

    global _DEPTH, _SAVED
    with _LOCK:
        if _DEPTH == 0:
            _SAVED = torch.get_num_threads()
            torch.set_num_threads(1)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                torch.set_num_threads(_SAVED)


def one_blas_thread():
    """numpy's BLAS on one thread (a context manager): the solvers' and the viewer's matrices are small, and
    OpenBLAS's threads on a busy 2-core machine cost 50x the work (1.4 ms -> 100 ms for one normal-equation
    product, measured; 8-14 ms a frame for the viewer's skinning)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a transitive dependency (scikit-learn via librosa)
        return contextlib.nullcontext()
    return threadpool_limits(1)
