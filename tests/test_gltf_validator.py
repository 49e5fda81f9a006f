"""Every GLB that face3d writes passes the Khronos glTF validator (npm gltf-validator) with 0 errors and
0 warnings, and stays under 6 MB. Needs Node.js and `npm ci --prefix tools/threejs_check`."""
import json
import shutil
import subprocess

import pytest

from conftest import ROOT, run_cli

SCRIPT = ROOT / "tools" / "threejs_check" / "validate.mjs"
VALIDATOR = ROOT / "tools" / "threejs_check" / "node_modules" / "gltf-validator"


def validate(*paths) -> list[dict]:
    """The validator's report (errors, warnings, messages) of each GLB."""
    if not shutil.which("node") or not VALIDATOR.is_dir():
        pytest.fail(f"the glTF validator is not installed: install Node.js and run `npm ci --prefix {SCRIPT.parent}`")
    done = subprocess.run(["node", str(SCRIPT), *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def glbs(tmp_path_factory, shared):
    """GLBs as users make them: model export (two ways), a saved fit, speech animation, a capture import,
    a tracked clip."""
    import face3d
    from face3d.pipeline import save_fit

    out = tmp_path_factory.mktemp("glbs")
    commands = {
        "model.glb": ["model", "export", "--expression", "jawOpen=0.3", "tongueOut=1", "-o"],
        "model_ict_baked.glb": ["model", "export", "--targets", "ict", "--bake-expression", "--identity", "random",
                                "--expression", "mouthSmileLeft=1", "-o"],
        "animate.glb": ["animate", "--audio", shared / "speech" / "other" / "arctic_a0007.wav", "-o"],
        "livelink.glb": ["animate", "--curves", shared / "animation" / "livelink" / "MySlate_166_iPhone_cal.csv", "-o"],
    }
    for name, args in commands.items():
        r = run_cli(*args, out / name)
        assert r.returncode == 0, r.stderr
    image = shared / "faces" / "astronaut.png"
    save_fit(face3d.fit(image), out / "fit", image=image)
    from PIL import Image

    from face3d.formats.video import open_video

    frames = out / "frames"  # 20 frames of a real clip: what `face3d track` writes (head translation too)
    frames.mkdir()
    for i, (_, rgb) in enumerate(open_video(shared / "video" / "liveportrait_d3.mp4").frames()):
        if i == 20:
            break
        Image.fromarray(rgb).save(frames / f"{i:04d}.png")
    r = run_cli("track", frames, "-o", out / "track", "--no-overlay")
    assert r.returncode == 0, r.stderr
    return [out / n for n in commands] + [out / "fit" / "mesh.glb", out / "track" / "anim.glb"]


def test_validator_reports_no_errors_or_warnings(glbs):
    for report in validate(*glbs):
        problems = [m for m in report["messages"] if m["severity"] <= 1]
        assert report["errors"] == 0 and report["warnings"] == 0, (report["file"], problems[:5])


def test_glbs_stay_under_6_mb(glbs):
    """Mesh, targets, skin and animation ≤ 6 MB; a fit's embedded albedo PNG (~0.8 MB) comes on top."""
    import pygltflib

    sizes = {}
    for p in glbs:
        g = pygltflib.GLTF2.load(str(p))
        images = sum(g.bufferViews[i.bufferView].byteLength for i in g.images or [])
        sizes[str(p.relative_to(p.parents[1]))] = (p.stat().st_size, images)
    assert all(total - images <= 6_000_000 for total, images in sizes.values()), sizes


def test_validator_catches_a_broken_file(glbs, tmp_path):
    """The check can fail: a sparse accessor with a byteOffset but no bufferView (the old files' error)."""
    import pygltflib

    g = pygltflib.GLTF2.load(str(glbs[0]))
    acc = next(a for a in g.accessors if a.sparse is not None)
    acc.byteOffset = 0
    bad = tmp_path / "bad.glb"
    g.save_binary(str(bad))
    (report,) = validate(bad)
    assert report["errors"] > 0 and any(m["code"] == "UNSATISFIED_DEPENDENCY" for m in report["messages"])
