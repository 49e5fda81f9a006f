"""``face3d render``: offscreen PNG/MP4 (H.264 + AAC via PyAV), the audio policy, and bad input."""
import av
import numpy as np
import pytest
import soundfile
import torch

from conftest import run_cli

FPS = 30


def _wav(path, seconds):
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return path


def test_mp4_with_audio_has_matching_streams(animated_glb, tmp_path):
    out = tmp_path / "talk.mp4"
    done = run_cli("render", animated_glb, "-o", out, "--audio", _wav(tmp_path / "a.wav", 61 / FPS), "--size", "128")
    assert done.returncode == 0, done.stderr
    assert "note" not in done.stderr  # within a frame: no padding or trimming to report
    with av.open(str(out)) as c:
        (video,), (audio,) = c.streams.video, c.streams.audio
        assert video.codec_context.name == "h264" and video.pix_fmt == "yuv420p" and audio.codec_context.name == "aac"
        frames = list(c.decode(video=0))
    assert len(frames) == 61  # keyframes 0 .. 2 s at 30 fps
    v_dur, a_dur = float(video.duration * video.time_base), float(audio.duration * audio.time_base)
    assert abs(v_dur - 61 / FPS) < 1 / FPS and abs(a_dur - v_dur) < 1 / FPS
    first, middle = frames[0].to_ndarray(format="rgb24"), frames[30].to_ndarray(format="rgb24")
    assert first.std() > 20 and np.abs(first.astype(int) - middle).max(-1).mean() > 0.2, "the jaw did not move"


@pytest.mark.parametrize("seconds,word", [(1.0, "padded"), (4.0, "trimmed")])
def test_audio_of_another_length_is_fitted_and_said(animated_glb, tmp_path, seconds, word):
    out = tmp_path / "talk.mp4"
    done = run_cli("render", animated_glb, "-o", out, "--audio", _wav(tmp_path / "a.wav", seconds), "--size", "64")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and word in done.stderr
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - 61 / FPS) < 1 / FPS


def test_png_matches_the_differentiable_renderer(animated_glb, tmp_path):
    """The viewer's shading (no highlight, no rim, no MSAA) equals rasterize + interpolate + SH shading."""
    from face3d.formats.scene import read_scene
    from face3d.render import RenderContext, interpolate, rasterize, sh_irradiance
    from face3d.viewer.draw import SceneRenderer, home_view, offscreen_context, scene_normals, studio_sh
    scene = read_scene(animated_glb)
    keep = (scene.colours[scene.triangles, 3] >= 0.5).all(1)  # the GL path discards masked triangles
    scene.triangles, scene.two_sided = scene.triangles[keep], scene.two_sided[keep]
    state = home_view(scene, "three-quarter")
    state.specular = state.rim = 0.0
    gl = offscreen_context()
    r = SceneRenderer(gl, scene)
    size = 160
    img = r.render(size, size, state, 0.0, samples=0).astype(np.float32) / 255
    model_m, proj, _ = r.matrices(size, size, state)
    r.release()
    gl.release()

    v = torch.from_numpy(scene.vertices(scene.weights_at(0.0)))
    cam = v @ torch.from_numpy(model_m[:3, :3]).T + torch.from_numpy(model_m[:3, 3])
    clip = torch.cat([cam, torch.ones(len(cam), 1)], 1) @ torch.from_numpy(proj).T
    tri = torch.from_numpy(scene.triangles.astype(np.int32))
    with RenderContext() as ctx:
        rast = rasterize(ctx, clip[None].contiguous(), tri, (size, size))
    normals = torch.from_numpy(scene_normals(scene, v.numpy())) @ torch.from_numpy(model_m[:3, :3]).T
    n = interpolate(normals[None], rast, tri)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    albedo = interpolate(torch.from_numpy(scene.colours[:, :3])[None], rast, tri)
    colour = (albedo * sh_irradiance(n, torch.from_numpy(studio_sh())).clamp_min(0)).clamp(0, 1) ** (1 / 2.2)
    bg = torch.tensor(state.background, dtype=torch.float32)
    ref = torch.where(rast[..., 3:] > 0, colour, bg)[0].numpy()
    covered = (rast[0, ..., 3] > 0).numpy()
    assert covered.mean() > 0.2
    diff = np.abs(img - ref)
    assert diff.mean() < 0.01 and np.median(diff[covered]) < 0.01, (diff.mean(), np.median(diff[covered]))


def test_bad_inputs_one_line_no_partial_file(animated_glb, tmp_path):
    import pygltflib as gl
    empty = tmp_path / "empty.glb"
    g = gl.GLTF2(asset=gl.Asset(generator="test"), scenes=[gl.Scene(nodes=[])], scene=0)
    g.save_binary(str(empty))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    cases = [("missing", [tmp_path / "nope.glb", "-o", tmp_path / "o1.png"], "not found", tmp_path / "o1.png"),
             ("no mesh", [empty, "-o", tmp_path / "o2.png"], "no mesh", tmp_path / "o2.png"),
             ("bad audio", [animated_glb, "-o", tmp_path / "o3.mp4", "--audio", blocker], "audio", tmp_path / "o3.mp4"),
             ("unwritable", [animated_glb, "-o", blocker / "o4.png"], "", blocker / "o4.png"),
             ("suffix", [animated_glb, "-o", tmp_path / "o5.gif"], ".png or .mp4", tmp_path / "o5.gif")]
    for name, args, words, out in cases:
        done = run_cli("render", *args)
        assert done.returncode != 0, name
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, (name, done.stderr)
        assert words in done.stderr, (name, done.stderr)
        assert not out.exists(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.glb", "file.txt"]


def test_back_face_culling_changes_no_picture(model, shared, tmp_path):
    """The viewer skips closed surfaces' back faces only where no opening shows them (Scene.opening): from
    every side, above and below (where the open neck shows its inside), on a turned head (whose neck
    folds near the rim) the picture is the one drawn with every face, to a few pixels at grazing
    silhouettes; and views from in front do cull."""
    import copy
    import math

    from face3d.formats.mesh import save_mesh
    from face3d.formats.scene import read_scene
    from face3d.viewer.draw import SceneRenderer, home_view, offscreen_context

    from face3d.pipeline import fit

    identity = torch.from_numpy(fit(shared / "faces" / "astronaut.png", refine=False).identity)[None]
    with torch.no_grad():
        face = model.blend(identity, torch.zeros(1, 53))[0].numpy()
    from face3d.curves import Curves

    times = np.linspace(0, 1, 11, dtype=np.float32)
    head = np.radians(np.stack([12 * times, -15 * times, 5 * times], 1))  # the head nods, turns and tilts
    scene = read_scene(save_mesh(tmp_path / "face.glb", face, model,
                                 animation=Curves(times, np.zeros((11, 53), np.float32), head=head)))
    assert scene.opening is not None
    every_face = copy.copy(scene)
    every_face.opening = None
    gl = offscreen_context()
    culled, full = SceneRenderer(gl, scene), SceneRenderer(gl, every_face)
    cull_views = 0
    for yaw in range(0, 360, 30):
        for pitch in (-60, -25, 0, 20, 45, 70):
            state = home_view(scene)
            state.yaw, state.pitch = math.radians(yaw), math.radians(pitch)
            a = culled.render(200, 150, state, 1.0).astype(int)
            b = full.render(200, 150, state, 1.0).astype(int)
            assert (np.abs(a - b).max(-1) > 8).mean() < 1e-3, (yaw, pitch)
            m = culled.matrices(200, 150, state)[0]
            cull_views += float(scene.opening[:3] @ (-m[:3, :3].T @ m[:3, 3])) < scene.opening[3]
    culled.release()
    full.release()
    gl.release()
    assert 20 <= cull_views < 65  # the front and sides cull, the views into the neck do not
