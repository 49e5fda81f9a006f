"""Third-party assets: the ICT-FaceKit face model and MediaPipe's face landmarker.

Neither is committed to the repository. ``install`` takes them from a local folder (laid out like the
project's ``shared/`` data, an unpacked ``FaceXModel/`` folder, an ICT-FaceKit checkout, or the upstream
repository archive) or downloads them, checks every file against the checksums in ``assets/``, and writes
them into the cache folder ``home()``: the ICT model as one float32 ``.npz`` that loads in milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import AssetMissing, BadInput
from .formats.atomic import atomic_file
from .formats.modelcache import MODEL_FORMAT, model_cache_is_current, write_model_cache
from .formats.obj import parse_obj_faces, parse_obj_vertices
from .resources import resource
from .names import ICT_NAMES

ICT_COMMIT = "da5f95a607f5e6b37755b38d3385d7f2853732e5"
ICT_URL = f"https://github.com/ICT-VGL/ICT-FaceKit/archive/{ICT_COMMIT}.tar.gz"
LANDMARKER_URL = ("https://storage.googleapis.com/mediapipe-models/face_landmarker/"
                  "face_landmarker/float16/1/face_landmarker.task")
LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_FILE = "ict_facekit.npz"
LANDMARKER_FILE = "face_landmarker.task"

INSTALL_HINT = "run `face3d assets install` (or `face3d assets install --from DIR` offline)"
REINSTALL_HINT = "run `face3d assets install --force` (or `face3d assets install --force --from DIR` offline)"


def home() -> Path:
    """The cache folder: ``$FACE3D_HOME``, else ``$XDG_CACHE_HOME/face3d``, else ``~/.cache/face3d``."""
    if os.environ.get("FACE3D_HOME"):
        return Path(os.environ["FACE3D_HOME"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "face3d"


def _installed(name: str, what: str) -> Path:
    p = home() / name
    if home().exists() and not home().is_dir():
        raise AssetMissing(f"{home()}: the assets folder (FACE3D_HOME) is a file, not a folder; "
                           f"point FACE3D_HOME at a folder and {INSTALL_HINT}")
    if not p.is_file():
        raise AssetMissing(f"{what} is not installed in {home()}: {INSTALL_HINT}")
    return p


def model_path() -> Path:
    """Path of the installed ICT-FaceKit model cache (raises AssetMissing)."""
    return _installed(MODEL_FILE, "the ICT-FaceKit face model")


def landmarker_path() -> Path:
    """Path of the installed MediaPipe ``face_landmarker.task`` (raises AssetMissing)."""
    return _installed(LANDMARKER_FILE, "the MediaPipe face landmarker")


# ---------------------------------------------------------------------------------------------- sources

def _checksums() -> dict[str, str]:
    out = {}
    for line in resource("assets", "ict_facekit.sha256").read_text().splitlines():
        digest, name = line.split()
        out[name] = digest
    return out


Reader = Callable[[str], bytes]


def _folder_reader(folder: Path) -> Reader:
    return lambda name: (folder / name).read_bytes()


def _archive_reader(path: Path) -> Reader:
    """Read ``FaceXModel/<name>`` members from a .tar(.xz/.gz) or .zip, wherever the folder sits inside."""
    wanted = set(_checksums())
    pattern = re.compile(r"(?:^|/)FaceXModel/([^/]+)$")
    files: dict[str, bytes] = {}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    m = pattern.search(info.filename)
                    if m and m.group(1) in wanted:
                        files[m.group(1)] = z.read(info)
        else:
            with tarfile.open(path, "r:*") as t:  # one streaming pass: xz archives are slow to seek
                for member in t:
                    m = pattern.search(member.name)
                    if m and m.group(1) in wanted and member.isfile():
                        files[m.group(1)] = t.extractfile(member).read()
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise BadInput(f"{path}: not a readable ICT-FaceKit archive ({e})") from None
    if not files:
        raise BadInput(f"{path}: archive holds no FaceXModel/ folder")

    def read(name: str) -> bytes:
        if name not in files:
            raise BadInput(f"{path}: FaceXModel/{name} is missing from the archive")
        return files[name]
    return read


def find_ict_source(src: Path) -> Path:
    """The FaceXModel folder or archive inside ``src`` (a shared/-like folder, a checkout, or a file)."""
    if src.is_file():
        return src
    candidates = [src, src / "FaceXModel", src / "ict-facekit" / "FaceXModel",
                  src / "ict-facekit" / "FaceXModel.tar.xz", src / "FaceXModel.tar.xz"]
    candidates += sorted(src.glob("ICT-FaceKit*/FaceXModel")) + sorted(src.glob("ICT-FaceKit*"))
    candidates += sorted((src / "ict-facekit").glob("ICT-FaceKit*")) if (src / "ict-facekit").is_dir() else []
    for c in candidates:
        if c.is_dir() and (c / "generic_neutral_mesh.obj").is_file():
            return c
        if c.is_file() and c.name.endswith((".tar.xz", ".tar.gz", ".tgz", ".tar", ".zip")):
            return c
    raise BadInput(f"{src}: no ICT-FaceKit model found (expected FaceXModel/, "
                   "ict-facekit/FaceXModel.tar.xz or an ICT-FaceKit repository archive)")


def find_landmarker_source(src: Path) -> Path:
    for c in (src / "mediapipe" / LANDMARKER_FILE, src / LANDMARKER_FILE, src):
        if c.is_file() and c.name == LANDMARKER_FILE:
            return c
    raise BadInput(f"{src}: no {LANDMARKER_FILE} found (expected mediapipe/{LANDMARKER_FILE})")


# ---------------------------------------------------------------------------------------------- parsing

def build_model_cache(read: Reader, progress: Callable[[int], None] = lambda n: None) -> dict[str, np.ndarray]:
    """Parse the upstream FaceXModel files (checked against ``assets/ict_facekit.sha256``) into arrays."""
    sums = _checksums()

    def checked(name: str) -> bytes:
        try:
            data = read(name)
        except FileNotFoundError:
            raise BadInput(f"FaceXModel/{name} is missing") from None
        if _sha256(data) != sums[name]:
            raise BadInput(f"FaceXModel/{name} does not match the upstream ICT-FaceKit file (checksum)")
        progress(1)
        return data

    indices = json.loads(checked("vertex_indices.json"))
    if tuple(indices["expressions"]) != ICT_NAMES:
        raise BadInput("FaceXModel/vertex_indices.json lists unexpected expressions")
    neutral_obj = checked("generic_neutral_mesh.obj")
    neutral = parse_obj_vertices(neutral_obj)
    faces, uv_faces, uvs, materials = parse_obj_faces(neutral_obj)
    identity = np.stack([parse_obj_vertices(checked(f"identity{i:03d}.obj")) for i in range(100)]) - neutral
    expression = np.stack([parse_obj_vertices(checked(f"{n}.obj")) for n in ICT_NAMES]) - neutral
    names = sorted(set(materials))
    return dict(
        mirror=mirror_map(neutral), format=np.array(MODEL_FORMAT), neutral=neutral, identity=identity, expression=expression,
        faces=faces, uv_faces=uv_faces, uvs=uvs, material_names=np.array(names),
        face_materials=np.array([names.index(m) for m in materials], np.int16),
        landmarks68=np.array(indices["idx_to_landmark_verts"], np.int64),
    )


def mirror_map(vertices: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """int64[V]: index of each vertex's mirror image across x = 0, or -1 where the mesh is not symmetric."""
    from scipy.spatial import cKDTree
    flipped = vertices * np.array([-1, 1, 1], vertices.dtype)
    dist, idx = cKDTree(vertices).query(flipped)
    return np.where(dist < tol, idx, -1).astype(np.int64)


# ---------------------------------------------------------------------------------------------- install

def _download(url: str, dest: Path, what: str) -> None:
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f, Progress(
                *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()) as bar:
            task = bar.add_task(f"downloading {what}", total=int(r.headers.get("Content-Length") or 0) or None)
            while chunk := r.read(1 << 20):
                f.write(chunk)
                bar.advance(task, len(chunk))
    except OSError as e:
        raise BadInput(f"could not download {what} ({e}); install offline with --from DIR") from None


def install_model(src: Path | None = None, force: bool = False) -> str:
    """Install the ICT-FaceKit model cache; returns a one-line status."""
    from rich.progress import Progress
    dest = home() / MODEL_FILE
    if dest.is_file() and not force and model_cache_is_current(dest):
        return f"ICT-FaceKit model: already installed ({dest})"
    with tempfile.TemporaryDirectory() as tmp:
        if src is None:
            archive = Path(tmp) / "ict-facekit.tar.gz"
            _download(ICT_URL, archive, "ICT-FaceKit")
            source = archive
        else:
            source = find_ict_source(src)
        with Progress(transient=True) as bar:
            task = bar.add_task("reading ICT-FaceKit", total=len(_checksums()))
            read = _folder_reader(source) if source.is_dir() else _archive_reader(source)
            arrays = build_model_cache(read, lambda n: bar.advance(task, n))
    write_model_cache(dest, arrays)
    return f"ICT-FaceKit model: installed from {source if src else 'upstream'} -> {dest}"


def install_landmarker(src: Path | None = None, force: bool = False) -> str:
    dest = home() / LANDMARKER_FILE
    if dest.is_file() and not force and _sha256(dest.read_bytes()) == LANDMARKER_SHA256:
        return f"MediaPipe face landmarker: already installed ({dest})"
    with tempfile.TemporaryDirectory() as tmp:
        if src is None:
            source = Path(tmp) / LANDMARKER_FILE
            _download(LANDMARKER_URL, source, "MediaPipe face landmarker")
        else:
            source = find_landmarker_source(src)
        if _sha256(source.read_bytes()) != LANDMARKER_SHA256:
            raise BadInput(f"{source}: not the expected face_landmarker.task (checksum)")
        with atomic_file(dest) as tmp_path:
            shutil.copyfile(source, tmp_path)
    return f"MediaPipe face landmarker: installed from {source if src else 'upstream'} -> {dest}"


def install(src: str | os.PathLike | None = None, force: bool = False) -> Iterator[str]:
    """Install both assets from ``src`` (a local folder or archive) or by download; yields status lines."""
    path = None
    if src is not None:
        path = Path(src)
        if not path.exists():
            raise BadInput(f"{path}: no such file or folder")
    yield install_model(path, force)
    yield install_landmarker(path, force)


def status() -> list[tuple[str, str, str]]:
    """(asset, state, path) for each asset; state is "missing", "damaged (...)" or "installed, N MB"."""
    model, landmarker = home() / MODEL_FILE, home() / LANDMARKER_FILE
    checks = ((model, "ICT-FaceKit model (MIT)", lambda p: model_cache_is_current(p)),
              (landmarker, "MediaPipe face landmarker (Apache-2.0)",
               lambda p: _sha256(p.read_bytes()) == LANDMARKER_SHA256))
    rows = []
    for p, what, ok in checks:
        if not p.is_file():
            state = "missing"
        elif not ok(p):
            state = "damaged (reinstall with --force)"
        else:
            state = f"installed, {p.stat().st_size / 1e6:.1f} MB"
        rows.append((what, state, str(p)))
    return rows


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
