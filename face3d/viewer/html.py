"""``face3d view PATH --html OUT.html``: one self-contained page that plays the face in any modern browser.

    write_html("talk.glb", "talk.html", audio="speech.wav")

The page holds everything it shows, so it opens offline and can be mailed: three.js with GLTFLoader and
OrbitControls (``web/three-bundle.min.js``, built by ``tools/three_bundle``; its licence is
``web/three-LICENSE.txt``), the GLB and the sound, both base64. It has orbit controls, a play/pause button,
a time scrubber and a loop switch; the sound's clock drives the animation while it plays. ``window.face3d``
(and ``data-face3d-*`` on ``<body>``) tell a test what the page is doing: state, time, frames drawn.

What it shows: a .glb as it is; a ``face3d fit`` folder's ``mesh.glb`` (textured when the fit made an
albedo); a .gltf packed into one GLB; an .obj/.ply read by ``face3d.formats.scene`` and written as a GLB.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import AssetMissing, BadInput

SUFFIXES = (".html", ".htm")
SIGNATURE = b"<!DOCTYPE html>\n<!-- face3d view --html"  # first bytes of every page (formats.atomic._HTML)
# Sounds a browser plays as they are: PyAV container -> (codecs, MIME type). Anything else becomes an MP3.
_PLAYABLE = {
    "wav": ({"pcm_s16le", "pcm_u8", "pcm_f32le"}, "audio/wav"),
    "mp3": ({"mp3"}, "audio/mpeg"),
    "ogg": ({"vorbis", "opus"}, "audio/ogg"),
    "mov,mp4,m4a,3gp,3g2,mj2": ({"aac"}, "audio/mp4"),
    "flac": ({"flac"}, "audio/flac"),
}
_VIEWS = {"front": (0.0, 0.0), "three-quarter": (35.0, -8.0), "side": (90.0, 0.0)}  # yaw, pitch (deg): draw.VIEWS
_FOV_Y = 30.0  # degrees, as the window's (draw.FOV_Y)


def web_file(name: str) -> Path:
    """Path of ``face3d/viewer/web/NAME`` (package data); AssetMissing when the installation lacks it."""
    path = Path(str(resources.files(__package__) / "web" / name))
    if not path.is_file():
        raise AssetMissing(f"{path}: face3d's own data file is missing (reinstall face3d)")
    return path


def write_html(path, out, audio=None, view: str = "front", overwrite: bool = False, title: str | None = None) -> Path:
    """Write the page for ``path`` (GLB, fit folder, .gltf/.obj/.ply) to ``out`` (.html), with ``audio`` (a sound
    file) played in sync. ``view``: the first camera (front, three-quarter, side). Written atomically; an existing
    ``out`` is replaced only with ``overwrite`` and only when face3d wrote it. Returns ``out``."""
    from ..formats.atomic import atomic_files, check_output_file, distinct, output_path
    from ..formats.scene import read_scene

    out = output_path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise BadInput(f"{out}: the page must be an .html file")
    if view not in _VIEWS:
        raise BadInput(f"--view must be one of {', '.join(_VIEWS)}, not {view!r}")
    path = Path(path)
    inputs = [path] + ([Path(audio)] if audio else [])
    distinct([out, *inputs])
    check_output_file(out, overwrite, inputs=inputs)  # before any work
    scene = read_scene(path)  # names what is wrong with the input in one line
    glb = _glb_bytes(path, scene)
    sound, mime = _audio_bytes(Path(audio)) if audio else (None, None)
    page = _page(scene, glb, sound, mime, view, title or _title(path))
    with atomic_files([out], overwrite) as (tmp,):
        tmp.write_bytes(page)
    return out


# ---------------------------------------------------------------------------------------------- the GLB

def _glb_bytes(path: Path, scene) -> bytes:
    """The GLB to embed: the file itself, a fit folder's mesh.glb, a .gltf packed, an OBJ/PLY converted."""
    if path.is_dir():
        return (path / "mesh.glb").read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".glb":
        return path.read_bytes()
    if suffix == ".gltf":
        return _pack_gltf(path)
    return _scene_glb(scene)


def _pack_gltf(path: Path) -> bytes:
    """A .gltf (JSON with external or data-URI buffers and images) as one GLB."""
    import pygltflib as gl

    try:
        g = gl.GLTF2.load(str(path))
        g.convert_images(gl.ImageFormat.DATAURI, path=str(path.parent))
        g.convert_buffers(gl.BufferFormat.BINARYBLOB)
        return b"".join(g.save_to_bytes())
    except Exception as e:  # pygltflib raises anything on a damaged file or a missing buffer
        raise BadInput(f"{path}: cannot pack this glTF into the page ({type(e).__name__})") from None


def _scene_glb(scene) -> bytes:
    """An OBJ/PLY scene as a GLB (trimesh): metres, smooth normals (shared across UV seams), its texture or
    vertex colours on a matte material, and the triangles the viewer hides (alpha < 0.5) left out."""
    import pygltflib as gl
    import trimesh
    from PIL import Image

    tris = scene.triangles
    if scene.colours is not None:  # alpha < 0.5: the eye overlay shells of an ICT mesh, hidden in the viewer too
        tris = tris[(scene.colours[tris, 3] >= 0.5).all(1)]
    positions = scene.positions / np.float32(100.0)
    visual = None
    if scene.texture is not None and scene.uv is not None:
        uv = scene.uv.copy()
        uv[:, 1] = 1 - uv[:, 1]  # the scene keeps glTF's top-left origin; trimesh wants OBJ's bottom-left
        visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(scene.texture))
    elif scene.colours is not None:
        rgba = np.round(np.clip(scene.colours, 0, 1) * 255).astype(np.uint8)  # linear, as glTF's COLOR_0
        visual = trimesh.visual.ColorVisuals(vertex_colors=rgba)
    # area-weighted face normals summed per welded position: no crease along the UV seams
    face_n = np.cross(positions[tris[:, 1]] - positions[tris[:, 0]], positions[tris[:, 2]] - positions[tris[:, 0]])
    normals = np.zeros((int(scene.weld.max()) + 1, 3), np.float64)
    for k in range(3):
        np.add.at(normals, scene.weld[tris[:, k]], face_n)
    normals = normals[scene.weld]
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    mesh = trimesh.Trimesh(positions, tris, vertex_normals=normals, visual=visual, process=False)
    g = gl.GLTF2.load_from_bytes(mesh.export(file_type="glb", include_normals=True))
    # glTF's default material is fully metallic (black without an environment): make every one matte skin
    if not g.materials:
        g.materials = [gl.Material(pbrMetallicRoughness=gl.PbrMetallicRoughness())]
    for material in g.materials:
        pbr = material.pbrMetallicRoughness or gl.PbrMetallicRoughness()
        pbr.metallicFactor, pbr.roughnessFactor = 0.0, 0.7
        material.pbrMetallicRoughness = pbr
    for m in g.meshes:
        for prim in m.primitives:
            if prim.material is None:
                prim.material = 0
    return b"".join(g.save_to_bytes())


# ---------------------------------------------------------------------------------------------- the sound

def _audio_bytes(path: Path) -> tuple[bytes, str]:
    """(bytes, MIME type) of ``path`` if a browser plays it as it is, else of an MP3 made from it."""
    import av

    if not path.is_file():
        raise BadInput(f"{path}: audio not found")
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            if not container.streams.audio:
                raise BadInput(f"{path}: holds no audio stream")
            fmt = container.format.name
            codec = container.streams.audio[0].codec_context.name
            only_audio = len(container.streams) == len(container.streams.audio) == 1
    except BadInput:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise BadInput(f"{path}: not a readable audio file ({type(e).__name__})") from None
    codecs, mime = _PLAYABLE.get(fmt, (set(), None))
    if only_audio and codec in codecs:
        return path.read_bytes(), mime
    return _mp3(path), "audio/mpeg"


def _mp3(path: Path) -> bytes:
    """The sound of ``path`` (any file PyAV decodes) as a mono 44.1 kHz MP3."""
    import av

    from .media import AUDIO_RATE, load_audio_samples

    samples = load_audio_samples(path, AUDIO_RATE)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=AUDIO_RATE, layout="mono")
        stream.bit_rate = 96_000
        block = 1152 * 8
        for start in range(0, len(samples), block):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + block], format="flt", layout="mono")
            frame.sample_rate = AUDIO_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- the page

def _title(path: Path) -> str:
    return f"{path.name} (face3d)"


def _framing(scene) -> dict:
    """The visible vertices' box (metres) the page frames its camera on, as the window does (draw.home_view)."""
    p = scene.positions if scene.colours is None else scene.positions[scene.colours[:, 3] >= 0.5]
    lo, hi = p.min(0) / 100.0, p.max(0) / 100.0
    return {"centre": [round(float(v), 6) for v in (lo + hi) / 2], "half": [round(float(v), 6) for v in (hi - lo) / 2]}


def _page(scene, glb: bytes, sound: bytes | None, mime: str | None, view: str, title: str) -> bytes:
    yaw, pitch = _VIEWS[view]
    config = {"title": title, "fov": _FOV_Y, "yaw": math.radians(yaw), "pitch": math.radians(pitch),
              "audioType": mime, **_framing(scene)}
    parts = {
        "TITLE": html.escape(title),
        "THREE": web_file("three-bundle.min.js").read_text(),
        "CONFIG": json.dumps(config).replace("<", "\\u003c"),  # no "</script" inside the JSON
        "GLB": base64.b64encode(glb).decode("ascii"),
        "AUDIO": base64.b64encode(sound).decode("ascii") if sound else "",
    }
    template = web_file("page.html").read_text()
    # one pass over the template: nothing inserted (three.js, base64) is searched for markers again
    page = re.sub(r"@@(TITLE|THREE|CONFIG|GLB|AUDIO)@@", lambda m: parts[m.group(1)], template)
    return page.encode("utf-8")
