"""The ``face3d`` command: a thin layer over the Python API. Each command is ``_add_<cmd>`` + ``_cmd_<cmd>``."""
from __future__ import annotations

import argparse
import os
import signal
import sys

from .errors import BadInput, Face3DError


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
    exp = verbs.add_parser("export", help="write a posed model mesh (.obj, .ply or .glb with 53 morph targets)")
    exp.add_argument("-o", "--output", required=True, help="output mesh: .obj, .ply or .glb")
    exp.add_argument("--identity", choices=("zero", "random"), default="zero",
                     help="zero = the mean face; random = identity drawn from its N(0,1) prior")
    exp.add_argument("--seed", type=_seed, default=0, help="seed for --identity random (0 .. 2^32-1)")
    exp.add_argument("--expression", nargs="*", default=[], metavar="NAME=W",
                     help="expression weights by ARKit or ICT name, e.g. jawOpen=1 eyeBlinkLeft=0.5")
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
    weights = parse_expressions(args.expression)
    output = output_path(args.output)
    check_output_file(output, args.overwrite)
    model = load_model()
    identity = torch.zeros(1, N_IDENTITY)
    if args.identity == "random":
        identity = torch.randn(1, N_IDENTITY, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        vertices = model.blend(identity)[0].numpy()
    print(save_mesh(output, vertices, model, weights, overwrite=args.overwrite))
    return 0


# ---------------------------------------------------------------------------------------------- fit

def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit the 3D face model to photos (mesh, parameters, landmarks, overlay)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos, or folders of photos")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output folder (several images: one sub-folder per image, by file name)")
    p.add_argument("--all-faces", action="store_true", help="fit every face (DIR/face_0, ...), not only the largest")
    p.add_argument("--overwrite", action="store_true",
                   help="replace face3d's own earlier output in DIR (never other files); without it a batch resumes")
    p.set_defaults(run=_cmd_fit)


def _cmd_fit(args) -> int:
    from .batch import print_records
    from .pipeline import fit_images

    def skipped(record):
        print(f"face3d: skipped: {record['error']}", file=sys.stderr, flush=True)

    records = fit_images(args.images, args.output, args.all_faces, overwrite=args.overwrite, on_error=skipped)
    return print_records(records)


# ---------------------------------------------------------------------------------------------- animate

def _add_animate(sub) -> None:
    p = sub.add_parser("animate", help="drive the face's 53 ARKit blendshapes from speech (GLB animation, Live Link CSV)")
    p.add_argument("--audio", required=True, help="speech: wav, flac, mp3 or ogg, any sample rate, mono or stereo")
    p.add_argument("--face", metavar="FIT_DIR", help="folder written by `face3d fit` (default: the mean face)")
    p.add_argument("-o", "--output", required=True, help="output .glb (face, 53 morph targets, weight animation)")
    p.add_argument("--csv", help="also write the weights as a Live Link Face CSV")
    p.add_argument("--fps", type=int, choices=(30, 60), default=30)
    p.add_argument("--seed", type=_seed, default=0, help="seed of the procedural blinks, brow and eye motion")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that face3d wrote earlier")
    p.set_defaults(run=_cmd_animate)


def _cmd_animate(args) -> int:
    from .animate import animate
    for path in animate(args.audio, args.output, args.csv, args.face, args.fps, args.seed,
                        overwrite=args.overwrite):
        print(path)
    return 0


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



def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="face3d", description="Photos and speech to animated 3D faces.")
    parser.add_argument("--version", action="version", version=f"face3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_assets, _add_model, _add_fit, _add_animate):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, _interrupt)
        except (ValueError, OSError):  # not the main thread (the API called from a worker)
            pass
    try:
        return args.run(args)
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


if __name__ == "__main__":
    sys.exit(main())
