"""Torch thread control for small-tensor work."""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_thread():
    """Run torch on one intra-op thread, then restore the caller's setting.

    The solver's and the speech model's tensors are small: extra OpenMP threads only add synchronisation,
    which on a busy 2-core machine costs several times the work itself.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
