"""Evaluate ``face3d track``: jitter on the real clips and ground truth on a synthetic clip.

    .venv/bin/python tools/eval_track.py                    # every ../shared/video clip + the synthetic clip
    .venv/bin/python tools/eval_track.py --synthetic-only --seconds 4
    .venv/bin/python tools/eval_track.py --synthetic-only --seed 1   # a held-out clip: other identity, blinks

Real clips: mean frame-to-frame second difference |p[t+1] - 2 p[t] + p[t-1]| of the 68 landmarks, pixels,
for (a) MediaPipe's own 68 (its points at the published iBUG ids), (b) the tracker's model points at the
same MediaPipe ids projected, before and (c) after the temporal filter; and the mean distance of (c) to
(a) in % of the face size (sqrt of the landmark box area).

Synthetic clip (``synthesize``): the ICT face with a random identity, rendered with face3d's renderer
(textured with a real face's fitted albedo, a coloured SH light whose direction swings across the clip,
Gaussian camera noise) from known
curves: speech-like jawOpen, blinks, smiles, browInnerUp, head yaw up to +-45 degrees with pitch and roll.
Reports per-curve correlation (tracked vs true) and the median head-rotation error in degrees.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/common.py
from common import SHARED  # noqa: E402
CURVES = ("jawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "mouthSmile_R", "browInnerUp_L")


def second_difference(p: np.ndarray) -> float:
    """Mean |p[t+1] - 2 p[t] + p[t-1]| of ``p [T, K, 2]`` pixels over consecutive finite frames."""
    d = p[2:] - 2 * p[1:-1] + p[:-2]
    n = np.linalg.norm(d, axis=-1)
    return float(np.nanmean(n))


def jitter(result, corr) -> dict:
    """Jitter figures of one ``Track`` (see the module docstring)."""
    from face3d.track import FrameSolver, rodrigues

    ids = corr.mediapipe68.numpy()
    solver = FrameSolver(corr, result.identity)
    cam = result.camera
    ok = result.detected
    mp = result.mediapipe[:, ids].astype(np.float64)

    def model_points(rot, trans, expr):
        return np.stack([solver.mediapipe_points(rodrigues(r.astype(np.float64)), t.astype(np.float64),
                                                 e.astype(np.float64), cam, ids) for r, t, e in zip(rot, trans, expr)])

    raw = model_points(result.raw_rotation, result.raw_translation, result.raw_expression)
    smooth = model_points(result.rotation, result.translation, result.expression)
    span = np.nanmax(mp, 1) - np.nanmin(mp, 1)
    size = np.sqrt(span[:, 0] * span[:, 1])
    dist = lambda p: float(np.nanmean(np.linalg.norm(p[ok] - mp[ok], axis=-1).mean(1) / size[ok]) * 100)  # noqa: E731
    mask = lambda p: np.where(ok[:, None, None], p, np.nan)  # noqa: E731
    return {"frames": int(len(ok)), "detected": float(ok.mean()),
            "jitter_mediapipe_px": second_difference(mp), "jitter_raw_fit_px": second_difference(mask(raw)),
            "jitter_track_px": second_difference(mask(smooth)), "distance_raw_fit_pct": dist(raw),
            "distance_track_pct": dist(smooth), "fit_ms_median": float(np.median(result.fit_ms[ok]))}


# ---------------------------------------------------------------------------------------------- synthesis

def true_curves(times: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Known expression [T, 53] (ICT) and head (pitch, yaw, roll) [T, 3] rad for a clip at ``times [T]``."""
    from face3d.names import ICT_NAMES

    rng = np.random.default_rng(seed)
    t = times
    dur = max(float(t[-1]), 1e-3)
    e = np.zeros((len(t), len(ICT_NAMES)), np.float32)
    ix = ICT_NAMES.index
    syll = np.clip(np.sin(2 * np.pi * 3.1 * t + 0.7 * np.sin(2 * np.pi * 0.9 * t)), 0, None)  # ~3 syllables/s
    e[:, ix("jawOpen")] = 0.75 * syll * (0.6 + 0.4 * np.sin(2 * np.pi * 0.37 * t) ** 2)
    blink = np.zeros(len(t))
    for c in np.arange(0.4, dur, 1.3) + rng.uniform(-0.2, 0.2, len(np.arange(0.4, dur, 1.3))):
        blink = np.maximum(blink, np.clip(1 - np.abs(t - c) / 0.1, 0, 1))  # 0.2 s blinks
    e[:, ix("eyeBlink_L")] = e[:, ix("eyeBlink_R")] = blink
    smile = 0.8 * np.clip(np.sin(2 * np.pi * t / min(dur, 3.0) - 0.5), 0, None)
    e[:, ix("mouthSmile_L")] = smile
    e[:, ix("mouthSmile_R")] = 0.8 * smile ** 1.5
    brow = 0.9 * np.clip(np.sin(2 * np.pi * t / min(dur, 2.5) + 2.0), 0, None)
    e[:, ix("browInnerUp_L")] = e[:, ix("browInnerUp_R")] = brow
    yaw = np.radians(45) * np.sin(2 * np.pi * t / min(dur, 4.0))
    pitch = np.radians(12) * np.sin(2 * np.pi * t / min(dur, 3.0) + 1.0)
    roll = np.radians(8) * np.sin(2 * np.pi * t / min(dur, 5.0) + 0.3)
    return e, np.stack([pitch, yaw, roll], 1).astype(np.float32)


def reference_albedo() -> np.ndarray:
    """uint8 [H, W, 3] sRGB albedo atlas of a real face for the synthetic clip: ``face3d fit`` (with refine) of
    ``shared/faces/astronaut.png``, so that MediaPipe sees skin, brows, lips and irises as in a real video."""
    from face3d.pipeline import fit

    return fit(SHARED / "faces" / "astronaut.png").albedo


def synthesize(path: Path, seconds: float = 6.0, fps: float = 30.0, size: tuple[int, int] = (640, 480),
               seed: int = 0, albedo: np.ndarray | None = None) -> dict:
    """Render the synthetic clip to ``path`` (mp4): the face textured with ``albedo`` (uint8 sRGB atlas;
    default ``reference_albedo()``) under a coloured SH light that swings across the clip. Returns the truth:
    times, expression, head angles, rotation matrices [T, 3, 3], identity."""
    import torch

    from face3d import texture as tx
    from face3d.camera import Camera
    from face3d.formats.video import video_writer
    from face3d.model import load_model
    from face3d.render import (RenderContext, interpolate, pixel_normals, rasterize, sh_directional,
                               sh_irradiance, texture, to_clip, vertex_normals)
    from face3d.rig import euler_to_quat

    model = load_model()
    albedo = reference_albedo() if albedo is None else albedo
    rng = np.random.default_rng(seed)
    identity = (rng.standard_normal(100) * 0.6).astype(np.float32)
    n = int(round(seconds * fps))
    times = np.arange(n) / fps
    expr, head = true_curves(times, seed)
    w, h = size
    cam = Camera.for_image(w, h)
    # Without the eyelash cards: drawn opaque they close into a black band over a blinking eye.
    # The eyeballs' cornea bulge is drawn opaque (a viewer blends it, this renderer cannot): the iris painted
    # on it is then what is seen, as through a real cornea (the recessed iris disc behind it has its own,
    # nearly white UV island in the atlas, which read as an eye without an iris).
    eyeballs = tx.region_mask(model, ("eyeball_left", "eyeball_right"))
    keep = np.flatnonzero((tx.drawn_triangles(model) | eyeballs)
                          & ~tx.region_mask(model, ("eyelashes_left", "eyelashes_right")))
    tri = torch.from_numpy(model.faces.numpy()[keep].astype(np.int32))
    uv_tri = torch.from_numpy(model.uv_faces[keep].astype(np.int32))
    uv = torch.from_numpy(tx.atlas_uvs(model))
    uv = torch.stack([uv[:, 0], 1 - uv[:, 1]], 1)
    tex = torch.from_numpy(tx.srgb_to_linear(albedo / 255.0).astype(np.float32))[None]
    q = euler_to_quat(head)
    mats = _quat_to_matrix(q)
    ident = torch.from_numpy(identity)[None]
    ctx = RenderContext()
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([90 + 60 * xx / w, 100 + 40 * yy / h, 120 - 30 * xx / w], -1)
    writer = video_writer(path, w, h, fps, None)
    try:
        for i in range(n):
            with torch.no_grad():
                v = model.blend(ident, torch.from_numpy(expr[i])[None])[0].double().numpy()
                posed = v @ mats[i].T + np.array([0.0, 0.5, -62.0])
                verts = torch.from_numpy(posed.astype(np.float32))[None]
                # Only the box around the head is rendered (the cost follows the face, as in face3d.overlay).
                px = posed[:, :2] / -posed[:, 2:] * cam.focal
                x0 = max(int(cam.cx + px[:, 0].min()) - 2, 0)
                x1 = min(int(cam.cx + px[:, 0].max()) + 3, w)
                y0 = max(int(cam.cy - px[:, 1].max()) - 2, 0)
                y1 = min(int(cam.cy - px[:, 1].min()) + 3, h)
                sub = Camera(cam.focal, cam.cx - x0, cam.cy - y0, x1 - x0, y1 - y0)
                pos = to_clip(verts, sub)
                rast = rasterize(ctx, pos, tri, (y1 - y0, x1 - x0), cull_backfaces=True)
                normals = pixel_normals(vertex_normals(verts, model.faces), rast, tri)
                # The light swings from one side to the other and warms up: a lighting change over the clip.
                angle = 0.9 * math.sin(2 * math.pi * i / n)
                warm = 0.5 + 0.5 * math.sin(2 * math.pi * i / n + 1.0)
                light = sh_directional((math.sin(angle), 0.4, math.cos(angle)), 0.4, 0.8)
                light = light * torch.tensor([1.0, 1.0 - 0.1 * warm, 1.0 - 0.25 * warm])
                lit = texture(tex, interpolate(uv, rast, uv_tri)) * sh_irradiance(normals, light)
                cover = (rast[..., 3:] > 0).float()
                # No antialias pass (slow on this CPU): the camera noise hides the stair steps.
                layer = torch.cat([lit * cover, cover], -1)[0].clamp(0, 1).numpy()
            rgb = background.copy()
            patch = rgb[y0:y1, x0:x1]
            rgb[y0:y1, x0:x1] = layer[..., :3] ** (1 / 2.2) * 255 + patch * (1 - layer[..., 3:])
            rgb = rgb + rng.normal(0, 3.0, rgb.shape)  # sensor noise
            writer.add(np.clip(rgb, 0, 255).astype(np.uint8), float(times[i]))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        ctx.release()
    return {"times": times, "expression": expr, "head": head, "rotation": mats, "identity": identity}


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = np.moveaxis(np.asarray(q, np.float64), -1, 0)
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                     np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                     np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def score_synthetic(result, truth: dict) -> dict:
    """Per-curve correlation and head-rotation error (degrees) of a ``Track`` against ``truth``."""
    from face3d.names import ICT_NAMES
    from face3d.track import rodrigues

    ok = result.detected
    out = {"frames": int(len(ok)), "detected": float(ok.mean())}
    for name in CURVES:
        k = ICT_NAMES.index(name)
        a, b = result.expression[ok, k], truth["expression"][ok, k]
        out[f"r_{name}"] = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-6 else 0.0
    err = []
    for i in np.flatnonzero(ok):
        d = rodrigues(result.rotation[i].astype(np.float64)) @ truth["rotation"][i].T
        err.append(math.degrees(math.acos(np.clip((np.trace(d) - 1) / 2, -1, 1))))
    out["head_error_deg_median"] = float(np.median(err))
    out["head_error_deg_p90"] = float(np.percentile(err, 90))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic-only", action="store_true")
    ap.add_argument("--real-only", action="store_true")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of the synthetic clip")
    ap.add_argument("--seed", type=int, default=0, help="the synthetic clip's seed (identity, blink times, "
                    "noise); 0 is the one the tracker's constants were looked at on, others are held out")
    ap.add_argument("--clips", nargs="*", help="real clips (default: every ../shared/video/*.mp4)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    from face3d.correspondence import load_correspondence
    from face3d.model import load_model
    from face3d.track import track

    corr = load_correspondence(load_model())
    report = {}
    if not args.synthetic_only:
        clips = [Path(c) for c in args.clips] if args.clips else sorted((SHARED / "video").glob("*.mp4"))
        print(f"{'clip':34s} {'frames':>6s} {'MP jit':>7s} {'raw jit':>7s} {'track':>7s} {'dist raw%':>9s} "
              f"{'dist%':>6s} {'fit ms':>6s}")
        for clip in clips:
            t0 = time.time()
            r = jitter(track(clip, progress=False), corr)
            r["seconds"] = time.time() - t0
            report[clip.name] = r
            print(f"{clip.name:34s} {r['frames']:6d} {r['jitter_mediapipe_px']:7.3f} {r['jitter_raw_fit_px']:7.3f} "
                  f"{r['jitter_track_px']:7.3f} {r['distance_raw_fit_pct']:9.2f} {r['distance_track_pct']:6.2f} "
                  f"{r['fit_ms_median']:6.1f}", flush=True)
    if not args.real_only:
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "synthetic.mp4"
            truth = synthesize(clip, args.seconds, seed=args.seed)
            s = score_synthetic(track(clip, progress=False), truth)
        report["synthetic"] = s
        print("synthetic: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
