"""Live Link Face CSV (the iPhone app's capture layout), written and read.

``Timecode,BlendshapeCount,`` + the 52 ARKit columns (``EyeBlinkLeft`` … ``TongueOut``) + 9 rotation
columns (``HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,
RightEyeRoll``), one row per frame; ``BlendshapeCount`` is 61 as the iPhone writes it.

What the data says (``shared/animation/livelink/MySlate_166_iPhone_cal.csv``, FACEGOOD's ``*.arkit.csv``):
- ``Timecode`` is ``HH:MM:SS:FF.mmm``: ``FF`` counts 60 frames a second (0..59; 30 fps files step by 2)
  and ``.mmm`` is the fraction of that frame in thousandths (the iPhone's ~59.9 Hz rows drift by .0016).
- rotations are radians (eye angles span −0.31..0.29, ≈ ±17°; eyeLookDown−Up = 1 is 0.52 rad of
  pitch). Pitch > 0 looks down, as face3d's; yaw > 0 turns to the subject's *right* (the left eye's yaw
  falls as eyeLookOutLeft rises), the opposite of face3d's, so yaw is negated, and roll with it (the
  same mirrored frame; the capture's roll is too small to check and its head columns are all 0).

face3d writes 7 decimals: float32 (the GLB's weights) is finer than 5e-8 in [0, 1], so CSV → GLB → CSV
gives the same digits back for the weights, and angles within 1e-6 rad.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..curves import Curves
from ..errors import BadInput
from ..names import ARKIT_NAMES, LIVELINK_COLUMNS, arkit_to_ict, ict_to_arkit

TIMECODE_FPS = 60  # the frame field of Live Link Face timecodes counts 60 a second
ROTATION_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
COLUMNS = (*LIVELINK_COLUMNS, *ROTATION_COLUMNS)  # the 61 after Timecode and BlendshapeCount
_SIGN = np.array([-1, 1, -1], np.float32)  # (yaw, pitch, roll) Live Link <-> face3d (see the module doc)


def timecodes(times: np.ndarray | int, fps: int | None = None) -> list[str]:
    """``HH:MM:SS:FF.mmm`` (FF at 60 a second, .mmm its thousandths) for ``times [T]`` s, or for frames
    ``0..times-1`` at ``fps``."""
    if np.ndim(times) == 0:
        times = np.arange(int(times)) / fps
    milli = np.rint(np.asarray(times, np.float64) * TIMECODE_FPS * 1000).astype(np.int64)
    out = []
    for m in milli:
        frames, sub = divmod(int(m), 1000)
        s, ff = divmod(frames, TIMECODE_FPS)
        out.append(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}.{sub:03d}")
    return out


def _to_livelink(angles: np.ndarray) -> np.ndarray:
    """face3d (pitch, yaw, roll) [..., 3] -> Live Link (yaw, pitch, roll) [..., 3]."""
    return angles[..., [1, 0, 2]] * _SIGN


def write_csv(path, curves: Curves | np.ndarray, fps: int | None = None) -> Path:
    """Write ``curves`` (or ICT ``weights [T, 53]`` at ``fps``) as a 61-column Live Link Face CSV at
    ``path`` (callers write to a temporary of ``formats.atomic``). Head columns are 0 when the curves
    have no head; eye columns follow ``Curves.eye_angles``."""
    if not isinstance(curves, Curves):
        curves = Curves(np.arange(len(curves)) / fps, curves)
    arkit = ict_to_arkit(curves.weights)
    if curves.tongue is not None:
        arkit[:, ARKIT_NAMES.index("tongueOut")] = curves.tongue
    head = np.zeros((len(curves), 3), np.float32) if curves.head is None else curves.head
    rot = np.concatenate([_to_livelink(head), _to_livelink(curves.eye_angles()).reshape(-1, 6)], 1)
    table = np.concatenate([arkit, rot], 1) + 0.0  # + 0.0: no "-0.0000000"
    buf = io.StringIO()
    buf.write(",".join(("Timecode", "BlendshapeCount", *COLUMNS)) + "\n")
    body = io.StringIO()
    np.savetxt(body, table, fmt="%.7f", delimiter=",")
    for tc, row in zip(timecodes(curves.times), body.getvalue().splitlines()):
        buf.write(f"{tc},{len(COLUMNS)},{row}\n")
    Path(path).write_text(buf.getvalue())
    return Path(path)


def _seconds(path, row: int, text: str) -> float:
    try:
        hh, mm, ss, frame = text.strip().split(":")
        ff = float(frame)
        if not (0 <= ff < TIMECODE_FPS and 0 <= int(mm) < 60 and 0 <= int(ss) < 60):
            raise ValueError
        return int(hh) * 3600 + int(mm) * 60 + int(ss) + ff / TIMECODE_FPS
    except ValueError:
        raise BadInput(f"{path}: row {row}: bad timecode '{text}' (expected HH:MM:SS:FF.mmm)") from None


def read_csv(path) -> Curves:
    """A Live Link Face CSV (the iPhone's 61 columns, FACEGOOD's or face3d's 52) -> ``Curves``: times from
    the timecodes (0 at the first row), ICT weights, tongueOut, and head / eye angles when the file has
    them (face3d's convention, see the module doc). Raises BadInput naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0].strip() != "Timecode":
        raise BadInput(f"{path}: not a Live Link Face CSV (the first column must be Timecode)")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in LIVELINK_COLUMNS if c.lower() not in header]
    if missing:
        raise BadInput(f"{path}: not a Live Link Face CSV: missing column(s) {', '.join(missing[:4])}"
                       f"{' ...' if len(missing) > 4 else ''}")
    body = [r for r in rows[1:] if any(x.strip() for x in r)]
    if not body:
        raise BadInput(f"{path}: no frames")
    wanted = [c for c in COLUMNS if c.lower() in header]
    cols = [header.index(c.lower()) for c in wanted]
    values = np.empty((len(body), len(cols)), np.float64)
    times = np.empty(len(body))
    for i, r in enumerate(body):
        if len(r) < len(header):
            raise BadInput(f"{path}: row {i + 2}: {len(r)} fields, the header has {len(header)}")
        times[i] = _seconds(path, i + 2, r[0])
        try:
            values[i] = [float(r[c]) for c in cols]
        except ValueError:
            raise BadInput(f"{path}: row {i + 2}: a value is not a number") from None
    if not np.isfinite(values).all():
        raise BadInput(f"{path}: row {np.flatnonzero(~np.isfinite(values).all(1))[0] + 2}: a value is not finite")
    times -= times[0]
    bad = np.flatnonzero(np.diff(times) <= 0)
    if len(bad):
        raise BadInput(f"{path}: row {bad[0] + 3}: the timecode does not advance")
    table = dict(zip(wanted, values.T))
    arkit = np.stack([table[c] for c in LIVELINK_COLUMNS], 1).astype(np.float32)
    if arkit.min() < -0.01 or arkit.max() > 1.01:
        raise BadInput(f"{path}: blendshape values outside [0, 1] (min {arkit.min():.3g}, max {arkit.max():.3g})")
    arkit = np.clip(arkit, 0, 1)

    def angles(names):
        if not all(n in table for n in names):
            return None
        yaw_pitch_roll = np.stack([table[n] for n in names], 1).astype(np.float32)
        if np.abs(yaw_pitch_roll).max() > 2 * np.pi:
            raise BadInput(f"{path}: {names[0]}..{names[-1]} are not angles in radians (|value| > 2 pi)")
        return (yaw_pitch_roll * _SIGN)[:, [1, 0, 2]]

    head = angles(ROTATION_COLUMNS[:3])
    left, right = angles(ROTATION_COLUMNS[3:6]), angles(ROTATION_COLUMNS[6:])
    eyes = np.stack([left, right], 1) if left is not None and right is not None else None
    tongue = arkit[:, ARKIT_NAMES.index("tongueOut")]
    return Curves(times, arkit_to_ict(arkit), head, eyes, tongue)
