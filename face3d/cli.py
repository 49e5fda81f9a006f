"""The ``face3d`` command: a thin layer over the Python API. Each command is ``_add_<cmd>`` + ``_cmd_<cmd>``."""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import warnings

from .errors import BadInput, Face3DError, OutputExists


# ---------------------------------------------------------------------------------------------- assets

def _add_assets(sub) -> None:
    p = sub.add_parser("assets", help="install or inspect the third-party assets (face model, landmarker)")
    verbs = p.add_subparsers(dest="verb", required=True)
    inst = verbs.add_parser("install", help="install the ICT-FaceKit model and the MediaPipe face landmarker")
    inst.add_argument("--from", dest="source", metavar="DIR",
                      help="take them from a local folder (laid out like shared/, a FaceXModel/ folder, an "
                           "ICT-FaceKit checkout or archive) instead of downloading")
    inst.add_argument("--force", action="store_true", help="reinstall even if installed")
    verbs.add_parser("status", help="show what is installed")
    p.set_defaults(run=_cmd_assets)


def _cmd_assets(args) -> int:
    from . import assets
    if args.verb == "install":
        for line in assets.install(args.source, force=args.force):
            print(line)
        return 0
    missing = 0
    for what, state, path in assets.status():
        print(f"{what:42s} {state:22s} {path}")
        missing += not state.startswith("installed")
    return 3 if missing else 0


# ---------------------------------------------------------------------------------------------- model

def _add_model(sub) -> None:
    p = sub.add_parser("model", help="work with the face model itself")
    verbs = p.add_subparsers(dest="verb", required=True)
    exp = verbs.add_parser("export", help="write a posed model mesh (.obj, .ply, .glb or .usda/.usdc with morph targets)")
    exp.add_argument("-o", "--output", required=True, help="output mesh: .obj, .ply, .glb, .usda or .usdc")
    exp.add_argument("--identity", choices=("zero", "random"), default="zero",
                     help="zero = the mean face; random = identity drawn from its N(0,1) prior")
    exp.add_argument("--seed", type=_seed, default=0, help="seed for --identity random (0 .. 2^32-1)")
    exp.add_argument("--face", metavar="FIT_DIR",
                     help="a `face3d fit` folder: its identity, its expression (unless --expression) and albedo")
    exp.add_argument("--expression", nargs="*", default=[], metavar="NAME=W",
                     help="expression weights by ARKit or ICT name, e.g. jawOpen=1 eyeBlinkLeft=0.5 tongueOut=1")
    exp.add_argument("--targets", choices=("arkit", "ict"), default="arkit",
                     help="GLB/USD morph targets: ARKit's 52 names (default) or ICT's 53 split shapes")
    exp.add_argument("--bake-expression", action="store_true",
                     help="GLB/USD: put the expression into the mesh itself (default weights 0), for viewers "
                          "that ignore default morph weights")
    exp.add_argument("--units", choices=("m", "cm"), default="m", help="OBJ/PLY units (GLB and USD are metres)")
    exp.add_argument("--overwrite", action="store_true", help="replace the output if face3d wrote it earlier")
    p.set_defaults(run=_cmd_model)


def parse_expressions(items: list[str]):
    """``["jawOpen=1", ...]`` -> ICT weight vector [53]; an ARKit name drives both ICT halves it maps to."""
    import numpy as np
    from .names import ICT_NAMES, parse_expression_name
    w = np.zeros(len(ICT_NAMES), np.float32)
    for item in items:
        name, _, value = item.partition("=")
        try:
            idx, val = parse_expression_name(name), float(value or 1)
        except (KeyError, ValueError):
            raise BadInput(f"bad expression '{item}': use NAME=WEIGHT with an ARKit or ICT name, e.g. jawOpen=1") from None
        if not 0 <= val <= 1:  # also false for NaN
            raise BadInput(f"bad expression '{item}': weights lie in [0, 1]")
        w[idx] = val
    return w


def _cmd_model(args) -> int:
    import torch
    from .formats.atomic import check_output_file, output_path
    from .formats.mesh import save_mesh
    from .model import N_IDENTITY, load_model
    tongue = [e for e in args.expression if e.partition("=")[0] == "tongueOut"]  # ARKit only, not ICT
    weights = parse_expressions([e for e in args.expression if e not in tongue])
    tongue_w = parse_expressions([t.replace("tongueOut", "jawOpen", 1) for t in tongue])[26] if tongue else 0.0
    output = output_path(args.output)
    check_output_file(output, args.overwrite)
    model = load_model()
    identity, texture = torch.zeros(1, N_IDENTITY), None
    if args.identity == "random":
        identity = torch.randn(1, N_IDENTITY, generator=torch.Generator().manual_seed(args.seed))
    if args.face:
        from .formats.fitdir import read_albedo, read_fit
        if args.identity == "random":
            raise BadInput("give --face FIT_DIR or --identity random, not both")
        fit = read_fit(args.face)
        identity = torch.from_numpy(fit.identity)[None].to(model.neutral.dtype)
        weights = weights if args.expression else fit.expression
        texture = read_albedo(args.face)
    with torch.no_grad():
        vertices = model.blend(identity)[0].float().numpy()
    print(save_mesh(output, vertices, model, weights, overwrite=args.overwrite, targets=args.targets,
                    tongue=float(tongue_w), bake=args.bake_expression, units=args.units, texture=texture))
    return 0


# ---------------------------------------------------------------------------------------------- fit

def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit the 3D face model to photos (mesh, parameters, landmarks, overlay)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos, or folders of photos")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output folder (several images: one sub-folder per image, by file name)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all-faces", action="store_true",
                       help="fit every face (DIR/face_0, ...), small ones too, not only the largest")
    which.add_argument("--face", type=_face_index, default=0, metavar="N",
                       help="fit the N-th largest face: 0 = the largest (default), 1 = the next, ...")
    which.add_argument("--box", type=_box, metavar="X,Y,W,H", help="fit the face in this box (pixels of the photo)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace face3d's own earlier output in DIR (never other files); without it a batch resumes")
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="landmark fit only: no lighting, albedo.png, textured meshes or views.png (faster)")
    p.add_argument("--same-person", action="store_true",
                   help="the photos show one person: one identity and one albedo, pose/expression/light per photo")
    _add_engine(p)
    p.set_defaults(run=_cmd_fit)


def _face_index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a face number 0, 1, 2, ..., got {text!r}")
    return int(text)


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y,WIDTH,HEIGHT in pixels, got {text!r}") from None
    if not (w > 0 and h > 0 and all(map(math.isfinite, (x, y, w, h)))):
        raise argparse.ArgumentTypeError(f"the box {text!r} needs a positive width and height")
    return x, y, w, h


def _add_engine(p) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="run a batch in this process (local) or on a Ray cluster (needs face3d[ray])")
    p.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: the cluster (HOST:PORT of `ray start --head`, or auto); "
                        "default: a local cluster of this machine's cores")


def _cmd_fit(args) -> int:
    from .batch import print_records
    from .pipeline import fit_images

    records = fit_images(args.images, args.output, args.all_faces, overwrite=args.overwrite, on_error=_skipped,
                         engine=args.engine, address=args.address, refine=args.refine,
                         same_person=args.same_person, face=args.face, box=args.box)
    return print_records(records)


def _skipped(record) -> None:
    print(f"face3d: skipped: {record['error']}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- animate

def _add_animate(sub) -> None:
    p = sub.add_parser("animate", help="drive the face's 53 ARKit blendshapes from speech (GLB animation, Live Link CSV)")
    p.add_argument("--audio", nargs="+", metavar="AUDIO",
                   help="speech: wav, flac, mp3 or ogg, any sample rate, mono or stereo; several files, a "
                        "folder or @list.txt make a batch (-o DIR: DIR/<name>.glb each, DIR/summary.json)")
    p.add_argument("--curves", metavar="CAPTURE.csv",
                   help="instead of --audio: play a Live Link Face CSV (iPhone capture, FACEGOOD, face3d's own); "
                        "its head and eye rotations drive the rig")
    p.add_argument("--face", metavar="FIT_DIR", help="folder written by `face3d fit` (default: the mean face)")
    p.add_argument("-o", "--output", required=True,
                   help="output .glb (face, ARKit's 52 morph targets, head/eye joints, animation); a batch: a folder")
    p.add_argument("--targets", choices=("arkit", "ict"), default="arkit",
                   help="morph targets: ARKit's 52 names (default) or ICT's 53 split shapes")
    p.add_argument("--csv", nargs="?", const="", metavar="OUT.csv",
                   help="also write the weights as a Live Link Face CSV (no path, or a batch: beside each GLB)")
    p.add_argument("--fps", type=int, choices=(30, 60), default=30)
    p.add_argument("--seed", type=_seed, default=0, help="seed of the procedural blinks, brow and eye motion")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that face3d wrote earlier")
    p.add_argument("--emotion", default="neutral",
                   help="neutral|happy|sad|angry|surprised|fearful|disgusted: upper face and mouth corners")
    p.add_argument("--intensity", type=float, default=0.7, help="of the emotion, 0..1 (default 0.7)")
    p.add_argument("--no-head", action="store_true", help="keep the head still (default: prosody-driven motion)")
    p.add_argument("--mp4", metavar="OUT.mp4", help="also render the animation with its sound to an MP4 (512x512)")
    _add_engine(p)
    p.set_defaults(run=_cmd_animate)


def _cmd_animate(args) -> int:
    from pathlib import Path

    from .animate import animate
    if (args.audio is None) == (args.curves is None):
        raise BadInput("give either --audio SPEECH or --curves CAPTURE.csv")
    if args.curves is not None:
        from .animate import animate_curves
        if args.csv == "":
            args.csv = str(Path(args.output).with_suffix(".csv"))
        if args.mp4:
            from .viewer.media import check_mp4_output
            check_mp4_output(args.mp4, args.output, args.curves, args.overwrite)
        for path in animate_curves(args.curves, args.output, args.csv, args.face, args.targets, args.overwrite):
            print(path)
        if args.mp4:
            from .viewer.media import render_file
            print(render_file(args.output, args.mp4, overwrite=args.overwrite))
        return 0
    audio = args.audio
    if len(audio) > 1 or audio[0].startswith("@") or Path(audio[0]).is_dir():
        from .animate import animate_files
        from .batch import print_records

        if args.csv:
            raise BadInput(f"--csv {args.csv}: a batch writes DIR/<name>.csv beside each GLB; give --csv without a path")
        records = animate_files(audio, args.output, csv=args.csv is not None, face=args.face, fps=args.fps,
                                seed=args.seed, overwrite=args.overwrite, emotion=args.emotion,
                                intensity=args.intensity, head=not args.no_head, engine=args.engine,
                                address=args.address, on_error=_skipped)
        return print_records(records)
    audio = audio[0]
    if args.mp4:
        from .viewer.media import check_mp4_output
        check_mp4_output(args.mp4, args.output, audio, args.overwrite)  # before the animation work
    if args.csv == "":
        args.csv = str(Path(args.output).with_suffix(".csv"))
    for path in animate(audio, args.output, args.csv, args.face, args.fps, args.seed,
                        overwrite=args.overwrite, emotion=args.emotion, intensity=args.intensity,
                        head=not args.no_head, targets=args.targets):
        print(path)
    if args.mp4:
        from .viewer.media import render_file
        print(render_file(args.output, args.mp4, audio=audio, overwrite=args.overwrite))
    return 0


# ---------------------------------------------------------------------------------------------- view, render

def _add_view(sub) -> None:
    from .viewer.keys import HELP
    p = sub.add_parser("view", help="look at a mesh, an animated GLB or a fit folder in an OpenGL window",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="keys and mouse (also listed in the window with H):\n" + HELP)
    p.add_argument("path", metavar="PATH", help=".glb/.gltf/.obj/.ply mesh, animated GLB, or a `face3d fit` folder")
    p.add_argument("--audio", metavar="FILE", help="sound to play in sync with the animation")
    p.add_argument("--photo", metavar="IMAGE", help="the photo a fit folder was fitted to (key P shows it behind the face)")
    p.add_argument("--screenshot", metavar="OUT.png", help="draw one frame in the window, save it and close")
    p.add_argument("--time", type=float, default=0.0, metavar="T", help="time (s) of the frame to show first / save")
    p.add_argument("--view", choices=("front", "three-quarter", "side"), default="front")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="window size (default 1280x720)")
    p.add_argument("--html", metavar="OUT.html",
                   help="no window: write one self-contained page (three.js, the mesh and --audio inside) that "
                        "plays in any browser, offline")
    p.add_argument("--overwrite", action="store_true", help="--html: replace a page that face3d wrote earlier")
    p.set_defaults(run=_cmd_view)


def _window_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"--size {text}: use WIDTHxHEIGHT, e.g. 1280x720") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise BadInput(f"--size {text}: each side must lie in 64 .. 8192")
    return w, h


def _cmd_view(args) -> int:
    if args.html is not None:
        if args.screenshot is not None:
            raise BadInput("--html writes a page, --screenshot a PNG from a window: choose one")
        if args.photo is not None:
            print("face3d: note: the page shows no photo; --photo is ignored", file=sys.stderr)
        from .viewer.html import write_html
        print(write_html(args.path, args.html, audio=args.audio, view=args.view, overwrite=args.overwrite))
        return 0
    size = _window_size(args.size)
    from .viewer.window import view
    out = view(args.path, audio=args.audio, screenshot=args.screenshot, time_s=args.time, size=size,
               photo=args.photo, view_name=args.view, say=lambda line: print(line, file=sys.stderr, flush=True))
    if out is not None:
        print(out)
    return 0


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="render a mesh, animated GLB or fit folder offscreen to a PNG or an MP4")
    p.add_argument("path", metavar="PATH", help=".glb/.gltf/.obj/.ply mesh, animated GLB, or a `face3d fit` folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png|OUT.mp4")
    p.add_argument("--audio", metavar="FILE", help="sound muxed into the MP4 (AAC); trimmed or padded to the animation")
    p.add_argument("--size", type=int, default=512, metavar="N", help="N x N pixels (default 512)")
    p.add_argument("--view", choices=("front", "three-quarter", "side", "turntable"), default="front")
    p.add_argument("--background", metavar="PHOTO|COLOUR",
                   help="a colour (#rrggbb, a name) or, for a fit folder, its photo (the face over it, fitted camera)")
    p.add_argument("--photo", metavar="IMAGE", help="the photo a fit folder was fitted to")
    p.add_argument("--time", type=float, default=0.0, metavar="T", help="time (s) of the PNG's frame")
    p.add_argument("--fps", type=float, help="video frame rate (default: the animation's)")
    p.add_argument("--overwrite", action="store_true", help="replace an output that face3d wrote earlier")
    p.set_defaults(run=_cmd_render)


def _cmd_render(args) -> int:
    from .viewer.media import render_file
    print(render_file(args.path, args.output, audio=args.audio, size=args.size, view=args.view,
                      background=args.background, time_s=args.time, fps=args.fps, photo=args.photo,
                      overwrite=args.overwrite))
    return 0


# ---------------------------------------------------------------------------------------------- track

def _add_track(sub) -> None:
    p = sub.add_parser("track", help="track a face through a video: one identity, per-frame expression and head "
                                     "pose (anim.glb, anim.csv, params.npz, overlay.mp4)")
    p.add_argument("video", nargs="*", metavar="VIDEO",
                   help="a video file (mp4, mov, webm, mkv, ...) or a folder of frames; several, a folder of "
                        "videos or @list.txt make a batch (DIR/<name>/ each, DIR/summary.json)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output folder (new or empty; a batch: one sub-folder per clip, by file name)")
    p.add_argument("--face", type=int, default=0, metavar="N", help="which face: 0 = the largest (default), 1 = the next, ...")
    p.add_argument("--fps", type=float, help="frame rate of a folder of frames (default 30)")
    p.add_argument("--no-overlay", dest="overlay", action="store_false", help="skip overlay.mp4 (faster)")
    p.add_argument("--camera", type=int, metavar="INDEX", help="track a webcam (/dev/videoINDEX) live in the viewer instead of a file")
    p.add_argument("--overwrite", action="store_true",
                   help="replace face3d's own earlier output in DIR; without it a batch resumes")
    _add_engine(p)
    p.set_defaults(run=_cmd_track)


def _cmd_track(args) -> int:
    from .batch import print_records
    from .track import BadVideo, camera_unavailable, track_files
    if args.camera is not None:
        missing = camera_unavailable(args.camera)
        if missing:
            raise BadVideo(missing)
        from .viewer.live import live

        stats = live(args.camera, face=args.face)
        print(f"face3d: tracked {stats['frames']} camera frames ({stats['detected']} with the face) "
              f"at {stats['fps']:.1f} frames/s")
        return 0
    if not args.video or not args.output:
        raise BadInput("give VIDEO and -o DIR (or --camera INDEX)")
    records = track_files(args.video, args.output, overwrite=args.overwrite, engine=args.engine,
                          address=args.address, on_error=_skipped, face=args.face, overlay=args.overlay,
                          fps=args.fps)
    return print_records(records)


# ---------------------------------------------------------------------------------------------- main

def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 .. 2^32-1")
    return value


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM / SIGHUP clean up like Ctrl-C: temporaries removed, nothing half-written



class _Parser(argparse.ArgumentParser):
    """Usage errors are bad input: one line (not the usage block), exit 1."""

    def error(self, message: str):
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = _Parser(prog="face3d", description="Photos and speech to animated 3D faces.")
    parser.add_argument("--version", action="version", version=f"face3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_assets, _add_model, _add_fit, _add_animate, _add_view, _add_render, _add_track):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _interrupt)
        except (ValueError, OSError):  # not the main thread (the API called from a worker)
            pass
    warnings.simplefilter("ignore")  # library warnings are no message for a user; errors say what matters
    try:
        return args.run(args)
    except OutputExists as e:
        hint = " (--overwrite replaces face3d's own earlier output)" if e.replaceable else ""
        print(f"face3d: error: {e}{hint}", file=sys.stderr)
        return e.exit_code
    except Face3DError as e:
        print(f"face3d: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("face3d: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("face3d: error: out of memory", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: one line, not a traceback (FACE3D_DEBUG=1 shows it)
        if os.environ.get("FACE3D_DEBUG"):
            raise
        print(f"face3d: error: unexpected {type(e).__name__}: {e} (set FACE3D_DEBUG=1 for details)", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
