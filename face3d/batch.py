"""Batches: many inputs, one output item each, resumable, one bad input never stops the rest.

``run(inputs, "module:function", root)`` calls ``function(input, item_output, overwrite=..., **options)``
for every input. ``root`` gets one item per input, named from the input (``output_names``), and
``root/summary.json``: every input with its output, status (``done``, ``failed``, ``skipped``), the error
line and the time taken. A re-run skips items whose output is complete (outputs are atomic, so a killed
run leaves none half-written) and retries failed ones; ``overwrite`` redoes everything.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from .errors import BadInput, Face3DError
from .threads import one_blas_thread, one_thread
from .formats.atomic import (MARKER, atomic_file, check_output_dir, clean_stale, marker_kind, output_path,
                             write_marker)

SUMMARY = "summary.json"


def expand_inputs(inputs: Iterable[str | os.PathLike], suffixes: tuple[str, ...],
                  whole: Callable[[Path], bool] | None = None) -> list[Path]:
    """Files as given; folders expand to their files with ``suffixes`` (sorted, not recursive);
    ``@list.txt`` reads one path per line (relative to the list's folder; blank and # lines skipped).
    ``whole(folder)``: true for a named folder that is one input itself (a folder of video frames), not
    a folder of inputs. The same file reached twice counts once. Raises BadInput for a missing path
    or when nothing is left."""
    out: list[Path] = []
    for raw in inputs:
        text = str(raw)
        if text.startswith("@"):
            lst = Path(text[1:])
            try:
                lines = lst.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise BadInput(f"{lst}: cannot read the input list ({type(e).__name__})") from None
            entries = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
            out += expand_inputs([p if Path(p).is_absolute() else lst.parent / p for p in entries], suffixes, whole)
            continue
        item = Path(raw)
        if text == "":
            raise BadInput("an input path is empty")
        if item.is_dir() and whole is not None and whole(item):
            out.append(item)
        elif item.is_dir():
            out += sorted(p for p in item.iterdir() if p.suffix.lower() in suffixes and p.is_file())
        elif item.exists():
            if not item.is_file():
                raise BadInput(f"{item}: not a regular file")
            out.append(item)
        else:
            raise BadInput(f"{item}: no such file or folder")
    if not out:
        raise BadInput(f"no inputs found in {', '.join(map(str, inputs))}")
    seen: set[Path] = set()
    unique = []
    for p in out:  # a file named twice (or inside a named folder too) is done once
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def output_names(paths: list[Path]) -> list[str]:
    """A safe, unique, stable output name per input: its stem with unsafe characters replaced and no
    leading dots (so never ``.`` or ``..``); stems that collide (the same name in two folders, a file
    given twice) all get a suffix from a hash of the input's absolute path (``expand_inputs`` has already
    dropped repeats of one file)."""
    base = [(_UNSAFE.sub("_", p.stem).lstrip(".") or "item")[:100] for p in paths]
    key = [b.lower() for b in base]
    out = []
    for p, b, k in zip(paths, base, key):
        if key.count(k) > 1:
            b += "-" + hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]
        out.append(b)
    return out


def resolve(work: str) -> Callable:
    """``"module:function"`` -> the function (a name, so that any worker process can import it)."""
    module, _, name = work.partition(":")
    return getattr(importlib.import_module(module), name)


def run_item(work: str, source: str, dest: str, overwrite: bool, options: dict) -> dict:
    """Run one item and return its record; a face3d error becomes a failed record, never an exception."""
    t0 = time.perf_counter()
    record = {"input": source, "output": dest, "status": "done", "error": None, "exit_code": 0}
    try:
        # One torch and one BLAS thread, whatever the process's settings: a sum split over threads rounds
        # differently, and an item must come out byte for byte the same locally as on a Ray worker (whose
        # OMP_NUM_THREADS is 1). Every stage's tensors are small enough that more threads gain nothing.
        with one_thread(), one_blas_thread():
            resolve(work)(source, dest, overwrite=overwrite, **options)
    except Face3DError as e:
        record.update(status="failed", error=str(e), exit_code=e.exit_code)
    except MemoryError:
        record.update(status="failed", error=f"{source}: out of memory", exit_code=1)
    except Exception as e:  # a bug must not stop the batch; the line says what it was
        record.update(status="failed", error=f"{source}: unexpected {type(e).__name__}: {e}", exit_code=1)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def run(inputs: list[Path], work: str, root: str | os.PathLike, single: bool = False, overwrite: bool = False,
        options: dict | None = None, engine: str = "local", address: str | None = None, progress: bool = True,
        label: str = "working", suffix: str = "", on_error: Callable[[dict], None] | None = None,
        kind: str = "fit") -> list[dict]:
    """Run ``work`` over ``inputs`` into ``root`` (see the module docstring); returns the records.

    ``single``: one input whose output is ``root`` itself (no summary; its error is raised; ``kind``: the
    marker kind of that folder, e.g. "fit" or "track", which may be resumed or replaced). ``suffix``:
    added to each item's name (items that are files, e.g. ".glb"; "" for folders). ``on_error(record)`` is
    called as each failure happens. ``engine``: "local" (this process) or "ray" (``address`` or a local
    cluster).
    """
    options = options or {}
    root = output_path(root)
    if engine not in ("local", "ray"):
        raise BadInput(f"unknown engine '{engine}' (use local or ray)")
    if engine == "ray":  # before any output: without Ray, say how to install it
        from .batch_ray import require_ray

        require_ray(address)
    if single:
        if not suffix:
            state = check_output_dir(root, inputs, overwrite, kinds=(kind,))
            if state == "own" and not overwrite:
                raise _exists(root)
        t0 = time.perf_counter()
        with one_thread(), one_blas_thread():  # as run_item
            resolve(work)(str(inputs[0]), str(root), overwrite=overwrite, **options)  # errors propagate
        return [{"input": str(inputs[0]), "output": str(root), "status": "done", "error": None, "exit_code": 0,
                 "seconds": round(time.perf_counter() - t0, 3)}]

    check_output_dir(root, inputs, overwrite, kinds=("batch",))
    names = output_names(inputs)
    dests = [root / (n + suffix) for n in names]
    try:
        root.mkdir(parents=True, exist_ok=True)
        if marker_kind(root) != "batch":
            write_marker(root, "batch")
    except OSError as e:
        raise BadInput(f"{root}: cannot create the output folder ({e.strerror})") from None

    previous = _read_summary(root)
    todo, records = [], {}
    for src, dest in zip(inputs, dests):
        # A finished output is complete (atomic), even when the run that wrote it died before its summary.
        if not overwrite and _finished(dest, suffix):
            before = previous.get(str(src), {})
            if before.get("status") not in ("done", "skipped"):
                before = {"input": str(src), "error": None, "exit_code": 0, "seconds": None}
            records[str(src)] = {**before, "status": "skipped", "output": str(dest)}
        else:
            todo.append((str(src), str(dest)))

    def done(record: dict) -> None:
        records[record["input"]] = record
        if record["status"] == "failed" and on_error:
            on_error(record)
        _write_summary(root, inputs, records)

    if engine == "local":
        _run_local(work, todo, overwrite, options, progress, label, done)
    else:
        from .batch_ray import run_ray

        run_ray(work, todo, overwrite, options, progress, label, done, address)
    clean_stale(root)  # temporaries of workers killed mid-item (a rerun elsewhere finished the item)
    _write_summary(root, inputs, records)
    return [records[str(s)] for s in inputs]


def _exists(root: Path) -> Face3DError:
    from .errors import OutputExists

    return OutputExists(f"{root}: already holds face3d output", replaceable=True)


def _finished(dest: Path, suffix: str) -> bool:
    return dest.is_file() if suffix else (dest.is_dir() and (dest / MARKER).is_file())


def _run_local(work, todo, overwrite, options, progress, label, done) -> None:
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not (progress and console.is_terminal)) as bar:
        task = bar.add_task(label, total=len(todo))
        for src, dest in todo:
            done(run_item(work, src, dest, overwrite, options))
            bar.advance(task)


def _read_summary(root: Path) -> dict[str, dict]:
    try:
        data = json.loads((root / SUMMARY).read_text())
        return {r["input"]: r for r in data["items"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_summary(root: Path, inputs: list[Path], records: dict[str, dict]) -> None:
    items = [records.get(str(s), {"input": str(s), "status": "pending"}) for s in inputs]
    counts = {k: sum(r["status"] == k for r in items) for k in ("done", "skipped", "failed", "pending")}
    with atomic_file(root / SUMMARY) as tmp:
        tmp.write_text(json.dumps({"counts": counts, "items": items}, indent=1))


def print_records(records: list[dict]) -> int:
    """Print each written output (stdout); return the batch's exit code (the worst failure's, else 0)."""
    for r in records:
        if r["status"] in ("done", "skipped"):
            print(r["output"])
    sys.stdout.flush()
    return max((r["exit_code"] for r in records if r["status"] == "failed"), default=0)
