"""Safe output: files and folders appear complete or not at all, and face3d never replaces what it did not make.

- Every output is written under a temporary name beside its target (``.face3d-tmp.<pid>.<name>.<random>``)
  and renamed into place once complete. A run killed by a signal leaves only such temporaries; the next
  run in that folder removes those whose process is gone (``clean_stale``) and nothing else.
- Output folders carry a marker file (``MARKER``); with ``overwrite`` face3d replaces a target only when
  it is its own earlier output (a marked folder, or a file that ``is_own_file`` recognises), never a
  folder that holds the inputs or anything else.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import BadInput, OutputExists

MARKER = ".face3d-output"  # JSON {"kind": "fit" | "batch" | ..., "version": ...} inside each output folder
TMP_PREFIX = ".face3d-tmp."


# ---------------------------------------------------------------------------------------------- checks

def output_path(value: str | os.PathLike, what: str = "output") -> Path:
    """An output path as given by a user; an empty one is bad input."""
    if value is None or str(value).strip() == "":
        raise BadInput(f"the {what} path is empty")
    return Path(value)


def marker_kind(folder: Path) -> str | None:
    """The kind of face3d output ``folder`` is (its marker), or None."""
    try:
        return json.loads((folder / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def write_marker(folder: Path, kind: str, **info) -> None:
    from .. import __version__

    (folder / MARKER).write_text(json.dumps({"kind": kind, "version": __version__, **info}))


def _contains(folder: Path, path: Path) -> bool:
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def check_output_dir(folder: Path, inputs: Iterable[Path] = (), overwrite: bool = False,
                     kinds: tuple[str, ...] = ("fit",)) -> str:
    """Decide, before any work, whether ``folder`` may receive output. Returns "new" (absent or empty),
    "own" (face3d output of one of ``kinds`` — resumed, or replaced with ``overwrite``).

    Raises OutputExists for a file, a non-empty folder that face3d did not make, or a folder that holds
    an input or the current folder (even with ``overwrite``).
    """
    for item in inputs:
        if _contains(folder, Path(item)):
            raise OutputExists(f"{folder}: the output folder holds the input {item}; choose another output folder")
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir() or folder.is_symlink():
            raise OutputExists(f"{folder}: exists and is not a folder; choose another output folder")
        if _contains(folder, Path.cwd()):
            raise OutputExists(f"{folder}: is the current folder or holds it; choose another output folder")
        if marker_kind(folder) in kinds:
            return "own"
        if any(p.name != MARKER and not p.name.startswith(TMP_PREFIX) for p in folder.iterdir()):
            raise OutputExists(f"{folder}: exists and holds files face3d did not write; choose an empty or new output folder")
    return "new"


def is_own_file(path: Path) -> bool:
    """True when ``path`` is a file face3d wrote (its format's own signature, see ``_SIGNATURES``)."""
    sig = _SIGNATURES.get(path.suffix.lower())
    if sig is None or not path.is_file() or path.is_symlink():
        return False
    try:
        with open(path, "rb") as f:
            return sig(f)
    except (OSError, ValueError, struct.error):
        return False


def _glb_is_own(f) -> bool:
    """A GLB whose JSON chunk says ``asset.generator`` face3d."""
    magic, _, _, json_length, kind = struct.unpack("<4sIIII", f.read(20))
    if magic != b"glTF" or kind != 0x4E4F534A or json_length > 64 << 20:
        return False
    return str(json.loads(f.read(json_length)).get("asset", {}).get("generator", "")).startswith("face3d")


_HTML = b"<!DOCTYPE html>\n<!-- face3d view --html"  # how `face3d view --html` pages begin (viewer/web/page.html)
_SIGNATURES = {
    ".glb": _glb_is_own,
    # The Live Link layout has no room for a marker: any CSV in it counts as replaceable output.
    ".csv": lambda f: f.read(25) == b"Timecode,BlendshapeCount,",
    ".obj": lambda f: f.read(8) == b"# face3d",
    ".mtl": lambda f: f.read(8) == b"# face3d",
    ".ply": lambda f: b"\ncomment face3d" in f.read(4096).split(b"end_header")[0],
    ".html": lambda f: f.read(len(_HTML)) == _HTML,
    ".htm": lambda f: f.read(len(_HTML)) == _HTML,
}


def check_output_file(path: Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> None:
    """Raise unless ``path`` may be written: absent, or (with ``overwrite``) a file face3d wrote."""
    if str(path).endswith(os.sep) or path.is_dir():
        raise BadInput(f"{path}: is a folder; name an output file")
    for item in inputs:
        if Path(item).exists() and path.exists() and Path(item).resolve() == path.resolve():
            raise OutputExists(f"{path}: is an input; choose another output")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExists(f"{path}: exists", replaceable=True)
        if not is_own_file(path):
            raise OutputExists(f"{path}: exists and was not written by face3d; not replacing it")


def distinct(paths: Iterable[Path | None]) -> None:
    """Raise BadInput when two outputs name the same file."""
    seen: dict[str, Path] = {}
    for p in paths:
        if p is None:
            continue
        key = os.path.normcase(os.path.abspath(p))
        if key in seen:
            raise BadInput(f"{p}: named twice as an output")
        seen[key] = p


# ---------------------------------------------------------------------------------------------- writing

def _tmp_name(path: Path) -> str:
    return f"{TMP_PREFIX}{os.getpid()}.{path.name}."


def clean_stale(folder: Path) -> None:
    """Remove temporaries that a killed face3d run left in ``folder`` (their process is gone)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for p in entries:
        if not p.name.startswith(TMP_PREFIX):
            continue
        try:
            pid = int(p.name[len(TMP_PREFIX):].split(".", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mkparent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BadInput(f"{path.parent}: is a file, not a folder") from None
    except OSError as e:
        raise BadInput(f"{path.parent}: cannot create the output folder ({e.strerror})") from None


@contextlib.contextmanager
def atomic_files(paths: list[Path], overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield temporary paths for several output files written as one unit: on success all are renamed
    into place (an existing target only when ``overwrite`` and face3d's own), on any error or signal none.

    Temporary names keep the suffix so that writers that look at it (trimesh, PIL) pick the format.
    """
    paths = [Path(p) for p in paths]
    distinct(paths)
    tmps: list[Path] = []
    try:
        for p in paths:
            check_output_file(p, overwrite)
            _mkparent(p)
            clean_stale(p.parent)
            try:
                fd, tmp = tempfile.mkstemp(prefix=_tmp_name(p), suffix=p.suffix, dir=p.parent)
            except OSError as e:
                raise BadInput(f"{p}: cannot write here ({e.strerror})") from None
            os.close(fd)
            tmps.append(Path(tmp))
        yield tmps
        for tmp, p in zip(tmps, paths):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
            check_output_file(p, overwrite)  # nothing appeared there meanwhile
        for tmp, p in zip(tmps, paths):
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """One internal file (a cache, a summary, a data file a tool builds), replaced freely but atomically.
    User-facing outputs go through ``atomic_files``, which refuses to replace what face3d did not write."""
    path = Path(path)
    _mkparent(path)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_name(path), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: str, overwrite: bool = False, **info) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it becomes ``path`` (with a marker of ``kind``).

    ``path`` must be absent, an empty folder, or (with ``overwrite``) face3d's own output of that kind,
    which is then replaced as a whole. On any error or signal the temporary folder is removed.
    """
    path = Path(path)
    _mkparent(path)
    clean_stale(path.parent)
    state = check_output_dir(path, overwrite=overwrite, kinds=(kind,))
    if state == "own" and not overwrite:
        raise OutputExists(f"{path}: already holds face3d output", replaceable=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_name(path), dir=path.parent))
    except OSError as e:
        raise BadInput(f"{path.parent}: cannot write here ({e.strerror})") from None
    old = None
    try:
        yield tmp
        write_marker(tmp, kind, **info)
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            check_output_dir(path, overwrite=overwrite, kinds=(kind,))  # still empty or ours
            old = path.parent / (_tmp_name(path) + "old")
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
