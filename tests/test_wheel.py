"""face3d is a package, not a checkout: a wheel installed into a fresh environment outside the
repository finds its own data (correspondence, speech weights, checksums, shaders) and runs."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from conftest import ROOT, SHARED


def test_every_package_folder_is_listed_for_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "face3d").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)


def test_readme_layout_table_matches_the_tree():
    import re

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout"):readme.index("## Benchmarks and evaluation")]
    named = set(re.findall(r"`([\w/.]+)`", table))
    tree = {f"face3d/{p.name}" for p in (ROOT / "face3d").glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    tree |= {f"face3d/{p.name}/" for p in (ROOT / "face3d").iterdir() if (p / "__init__.py").is_file()}
    assert not tree - named, f"README's layout table misses {sorted(tree - named)}"
    stale = {n for n in named if n.startswith("face3d/") and not (ROOT / n).exists()}
    assert not stale, f"README's layout table names what no longer exists: {sorted(stale)}"


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = glob.glob(str(dist / "face3d-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("face3d/_assets/correspondence.npz", "face3d/_assets/audio2face.pt",
                 "face3d/_assets/ict_facekit.sha256", "face3d/_shaders/rasterize.vert",
                 "face3d/viewer/web/page.html", "face3d/viewer/web/three-bundle.min.js",
                 "face3d/viewer/web/three-LICENSE.txt"):
        assert data in names, data

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", wheel],
                   check=True, capture_output=True)
    # The dependencies (torch, mediapipe, ...) come from this environment, not face3d itself: only its
    # site-packages folder is added, so the checkout's editable install is not seen there.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    where = subprocess.run([str(py), "-c", "import face3d, face3d.resources as r; print(face3d.__file__); "
                            "print(r.resource('assets', 'correspondence.npz'))"],
                           capture_output=True, text=True, cwd=work, env=env, check=True).stdout.split()
    assert all(str(ROOT) not in line for line in where), where  # the installed copy, not the checkout
    face3d = env_dir / "bin" / "face3d"
    r = subprocess.run([str(face3d), "fit", str(SHARED / "faces" / "takeo.png"), "-o", "fit"],
                       capture_output=True, text=True, cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert (work / "fit" / "mesh.glb").is_file() and (work / "fit" / "overlay.png").is_file()
    r = subprocess.run([str(face3d), "animate", "--audio", str(SHARED / "speech" / "other" / "arctic_a0007.wav"),
                        "--face", "fit", "-o", "talk.glb"], capture_output=True, text=True, cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert (work / "talk.glb").stat().st_size > 100_000
