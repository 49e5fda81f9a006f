import shutil
import tarfile
import zipfile

import numpy as np
import pytest

from conftest import run_cli
from face3d import assets
from face3d.errors import AssetMissing, BadInput


@pytest.fixture(scope="module")
def facexmodel(shared, tmp_path_factory):
    """An unpacked upstream FaceXModel/ folder."""
    root = tmp_path_factory.mktemp("ict")
    with tarfile.open(shared / "ict-facekit" / "FaceXModel.tar.xz") as t:
        t.extractall(root, filter="data")
    return root / "FaceXModel"


def _installed_neutral(home):
    with np.load(home / assets.MODEL_FILE) as z:
        return z["neutral"], z["expression"].shape


def test_install_from_unpacked_folder(facexmodel, monkeypatch, tmp_path):
    monkeypatch.setenv("FACE3D_HOME", str(tmp_path))
    assert "installed" in assets.install_model(facexmodel)
    neutral, shape = _installed_neutral(tmp_path)
    assert neutral.shape == (26719, 3) and shape == (53, 26719, 3)
    assert "already installed" in assets.install_model(facexmodel)  # idempotent


def test_install_from_upstream_repository_archive(facexmodel, monkeypatch, tmp_path):
    """The repository archive has the model under ICT-FaceKit-<ref>/FaceXModel/ among other files."""
    archive = tmp_path / "ICT-FaceKit-master.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("ICT-FaceKit-master/README.md", "upstream readme")
        for f in facexmodel.iterdir():
            z.write(f, f"ICT-FaceKit-master/FaceXModel/{f.name}")
    monkeypatch.setenv("FACE3D_HOME", str(tmp_path / "home"))
    assets.install_model(tmp_path)  # found inside the folder
    assert _installed_neutral(tmp_path / "home")[0].shape == (26719, 3)


def test_modified_file_is_rejected(facexmodel, monkeypatch, tmp_path):
    bad = tmp_path / "FaceXModel"
    shutil.copytree(facexmodel, bad)
    with open(bad / "jawOpen.obj", "a") as f:
        f.write("v 0 0 0\n")
    monkeypatch.setenv("FACE3D_HOME", str(tmp_path / "home"))
    with pytest.raises(BadInput, match="jawOpen.obj"):
        assets.install_model(tmp_path)
    assert not (tmp_path / "home" / assets.MODEL_FILE).exists()


def test_bad_from_folder_is_one_clear_line(tmp_path):
    (tmp_path / "junk.txt").write_text("nothing here")
    r = run_cli("assets", "install", "--from", tmp_path, env={"FACE3D_HOME": str(tmp_path / "home")})
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "no ICT-FaceKit model found" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "home" / assets.MODEL_FILE).exists()


def test_missing_asset_names_the_install_command(tmp_path):
    r = run_cli("model", "export", "-o", tmp_path / "f.glb", env={"FACE3D_HOME": str(tmp_path)})
    assert r.returncode == 3 and "face3d assets install" in r.stderr  # 3: environment or assets
    assert r.stderr.strip().count("\n") == 0 and not (tmp_path / "f.glb").exists()


def test_paths_raise_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("FACE3D_HOME", str(tmp_path))
    with pytest.raises(AssetMissing):
        assets.model_path()
    with pytest.raises(AssetMissing):
        assets.landmarker_path()


def test_landmarker_install_checks_checksum(shared, monkeypatch, tmp_path):
    monkeypatch.setenv("FACE3D_HOME", str(tmp_path / "home"))
    assert "installed" in assets.install_landmarker(shared)
    fake = tmp_path / "fake"
    (fake / "mediapipe").mkdir(parents=True)
    (fake / "mediapipe" / assets.LANDMARKER_FILE).write_bytes(b"not a model")
    with pytest.raises(BadInput, match="checksum"):
        assets.install_landmarker(fake, force=True)
