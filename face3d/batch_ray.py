"""The Ray engine of ``face3d.batch``: the same items, run as Ray tasks on a cluster.

``run_ray`` is called by ``face3d.batch.run`` with the items still to do; it runs each one as a Ray task
(``face3d.batch.run_item`` in a worker process, one CPU each) and hands every finished record back to the
driver's ``done``, which keeps ``summary.json`` up to date. Nothing else differs from the local engine: the
work function, its options and the atomic outputs are the same, so the outputs are the same bytes.

- The cluster: ``address`` (``HOST:PORT`` of a ``ray start --head``, ``auto`` for the one running on this
  machine, or ``ray://HOST:10001``), or a private local cluster with one worker per core when it is None.
- Assets load once per worker: Ray keeps its worker processes between tasks, and the work functions cache
  the model, the correspondence and the detector per process.
- A killed worker (a node lost, the out-of-memory killer) costs only its item: Ray reruns the task
  elsewhere (up to ``RETRIES`` times). Each task is told the state its output had when it was submitted; a
  rerun that finds the output completed since then (the worker died after the final rename) reports it
  done instead of writing it again, so every item is written exactly once.
- Paths travel as absolute paths (workers run in another folder, possibly on another machine that mounts
  the same storage) and come back as given, so the summary reads as the local engine's does.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from .errors import Face3DError

RETRIES = 3  # reruns of an item whose worker died; an item that kills every worker fails alone
INSTALL_HINT = "pip install 'face3d[ray]' (or: pip install 'ray>=2.40')"


class EngineMissing(Face3DError):
    """The requested batch engine is not installed or its cluster cannot be reached."""

    exit_code = 3


def require_ray(address: str | None = None):
    """The ``ray`` module, or EngineMissing saying how to install it. A ``HOST:PORT`` address is probed
    first: Ray itself would retry an address where nothing listens for minutes."""
    try:
        import ray
    except ImportError:
        raise EngineMissing(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    host, _, port = (address or "").rpartition(":")
    if host and port.isdigit() and "://" not in address:
        import socket

        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError as e:
            raise EngineMissing(f"{address}: no Ray cluster answers there ({e.strerror or type(e).__name__}); "
                                "start one with `ray start --head`") from None
    return ray


def output_state(dest: str) -> tuple[int, int] | None:
    """(inode, mtime ns) of a finished output — a marked folder's marker, or a file — else None.

    Every atomic write gives a new inode, so a changed state means the output was written meanwhile."""
    from .formats.atomic import MARKER

    path = Path(dest)
    target = path / MARKER if path.is_dir() else path
    try:
        st = target.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns) if target.is_file() else None


def item_task(work: str, source: str, dest: str, overwrite: bool, options: dict,
              before: tuple[int, int] | None, threads: int | None = None) -> dict:
    """One item in a Ray worker: ``face3d.batch.run_item``, unless a killed earlier attempt already
    finished the output (its state is no longer ``before``, the state at submission). ``threads``: the
    driver's torch thread count — Ray starts workers at one thread, and some stages (the albedo) sum in
    an order that depends on it, so the same count gives the local engine's bytes."""
    from .batch import run_item

    if threads:
        import torch

        torch.set_num_threads(threads)

    now = output_state(dest)
    if now is not None and now != before:
        return {"input": source, "output": dest, "status": "done", "error": None, "exit_code": 0, "seconds": 0.0}
    return run_item(work, source, dest, overwrite, options)


def _init(ray, address: str | None) -> None:
    # No usage statistics (no network at run time) and no dashboard; Ray's own log lines stay in its logs.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = dict(logging_level=logging.ERROR, log_to_driver=False)
    _errors_to_stderr(ray)
    try:
        if address is None:
            ray.init(address="local", include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as e:  # ConnectionError, or whatever Ray raises for an address it cannot use
        where = address or "a local cluster"
        text = " ".join(str(e).split())[:200]
        raise EngineMissing(f"{where}: cannot start or reach a Ray cluster ({type(e).__name__}: {text})") from None


def _errors_to_stderr(ray) -> None:
    """Ray prints the cluster's error notes ("a worker died ...") on the driver's stdout, which carries
    face3d's list of outputs: send them to stderr. (A private hook; without it they stay on stdout.)"""
    try:
        from ray._private import worker
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_face3d", False):
        return

    def to_stderr(data, *args, **kwargs):
        return original({**data, "is_err": True}, *args, **kwargs)

    to_stderr._face3d = True
    worker.print_to_stdstream = to_stderr


def _cluster_cpus(ray) -> int:
    try:
        return int(ray.cluster_resources().get("CPU", 0))
    except Exception:  # the GCS briefly unreachable: keep going with a small window
        return 0


def run_ray(work: str, todo: list[tuple[str, str]], overwrite: bool, options: dict, progress: bool, label: str,
            done: Callable[[dict], None], address: str | None = None) -> None:
    """Run ``todo`` (``(input, output)`` pairs) as Ray tasks; call ``done(record)`` here, in the driver, as
    each item finishes (in completion order). Starts a local cluster when ``address`` is None and Ray is
    not already initialised in this process; stops only what it started."""
    from rich.console import Console
    from rich.progress import Progress

    ray = require_ray()
    if not todo:  # everything was finished earlier: no cluster to start or reach
        return
    started = not ray.is_initialized()
    if started:
        _init(ray, address)
    task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(item_task)
    pending: dict = {}  # ObjectRef -> (input, output) as given
    queue = list(reversed(todo))
    torch = sys.modules.get("torch")  # the work's own import in this process, if any
    threads = torch.get_num_threads() if torch is not None else None
    console = Console(stderr=True)
    try:
        with Progress(console=console, transient=True, disable=not (progress and console.is_terminal)) as bar:
            cpus, checked = _cluster_cpus(ray), time.monotonic()
            bar_task = bar.add_task(f"{label} (Ray, {cpus} CPUs)", total=len(todo))
            while queue or pending:
                if time.monotonic() - checked > 5:  # nodes join and leave
                    cpus, checked = _cluster_cpus(ray), time.monotonic()
                    bar.update(bar_task, description=f"{label} (Ray, {cpus} CPUs)")
                # Enough in flight to keep every CPU busy while results travel back, not the whole batch:
                # a batch of a million items must not become a million queued tasks.
                while queue and len(pending) < 2 * max(cpus, 1) + 2:
                    src, dest = queue.pop()
                    a_src, a_dest = os.path.abspath(src), os.path.abspath(dest)
                    ref = task.remote(work, a_src, a_dest, overwrite, options, output_state(a_dest), threads)
                    pending[ref] = (src, dest)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    src, dest = pending.pop(ref)
                    done(_record(ray, ref, src, dest))
                    bar.advance(bar_task)
    except BaseException:
        for ref in pending:  # Ctrl-C, SIGTERM: stop the cluster's work too (workers clean their temporaries)
            try:
                ray.cancel(ref)
            except Exception:
                pass
        raise
    finally:
        if started:
            ray.shutdown()


def _record(ray, ref, src: str, dest: str) -> dict:
    """The finished task's record with the paths as given; a task Ray gave up on becomes a failed record."""
    a_src, a_dest = os.path.abspath(src), os.path.abspath(dest)
    try:
        record = dict(ray.get(ref))
    except ray.exceptions.RayError as e:
        why = ("out of memory" if isinstance(e, ray.exceptions.OutOfMemoryError) else
               "its worker died" if isinstance(e, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError))
               else type(e).__name__)
        return {"input": src, "output": dest, "status": "failed", "exit_code": 1, "seconds": None,
                "error": f"{src}: {why} ({RETRIES + 1} attempts on the Ray cluster)"}
    record["input"], record["output"] = src, dest
    if record.get("error"):
        record["error"] = record["error"].replace(a_src, src).replace(a_dest, dest)
    return record
