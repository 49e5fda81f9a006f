"""Phones -> ICT mouth, jaw, lip and cheek weights: a coarticulation model for training targets.

Input: phone segments (lower-case ARPAbet, stress digits ignored; ``sil``, ``sp``, ``spn``, ``pau``,
``h#``, ``<sil>``, fillers and the empty label are silence). Output: [T, 53] weights in ICT_NAMES order,
frame ``i`` at time ``i / fps``. Eyes and brows stay 0 (the animation adds them procedurally).

Model
-----
1. Visemes. Each phone maps to a viseme (table ``VISEMES``) with a target weight per channel and a
   dominance per channel group: ``jaw`` (jawOpen, jawForward), ``lips`` (mouthClose, Press, Roll,
   LowerDown, UpperUp, Shrug, cheekPuff), ``round`` (mouthPucker, mouthFunnel), ``spread`` (mouthSmile,
   Stretch, Dimple, cheekSquint). Left/right channels get the same value. Diphthongs (aw ay ey ow oy) are
   split in two halves with the targets of their start and end vowels.
2. Dominance blending (Cohen & Massaro 1993). Segment ``s`` with dominance ``a_s`` (per group) has
   ``D_s(t) = a_s * exp(-d_s(t) / tau)``, ``d_s(t)`` the distance from ``t`` to the segment (0 inside it),
   ``tau`` per group and side (anticipation before the segment, carry-over after it; rounding anticipates
   longest, so "s" in "stew" is already rounded). Each channel is ``sum_s D_s T_s / sum_s D_s`` over the
   segments plus a constant weak rest segment (target 0), so the face relaxes away from speech. Strong
   segments (bilabials for the lips, vowels for the jaw) pull their neighbours; weak ones (h, k, g) take
   their shape from the context.
3. Jaw dynamics. jawOpen is smoothed by a critically damped second-order system (natural frequency
   ``JAW_OMEGA``), run forward and backward so it adds no lag: the jaw is a heavy articulator and cannot
   follow short segments fully.
4. Closure constraint. Bilabials (p b m) must close the lips for their whole duration (and at least on
   the frame nearest their centre when shorter than a frame): there ``mouthClose = jawOpen`` (in ICT and
   ARKit, mouthClose brings the lips together against an open jaw), lip-opening shapes (LowerDown,
   UpperUp, ShrugUpper, Funnel) are removed and mouthPress is at least its viseme target.

Silence targets are all zero: a relaxed closed mouth.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from scipy.signal import filtfilt

from face3d.errors import BadInput
from face3d.names import ICT_NAMES

GROUPS = {
    "jaw": ("jawOpen", "jawForward"),
    "lips": ("mouthClose", "mouthPress", "mouthRollLower", "mouthRollUpper", "mouthLowerDown", "mouthUpperUp",
             "mouthShrugLower", "mouthShrugUpper", "cheekPuff"),
    "round": ("mouthPucker", "mouthFunnel"),
    "spread": ("mouthSmile", "mouthStretch", "mouthDimple", "cheekSquint"),
}
GROUP_NAMES = tuple(GROUPS)
# Dominance decay time constants (s) per group: (before the segment, after it).
TAU = {"jaw": (0.06, 0.05), "lips": (0.04, 0.035), "round": (0.12, 0.05), "spread": (0.07, 0.06)}
REST_DOMINANCE = 0.02
JAW_OMEGA = 45.0  # rad/s: jaw natural frequency (critically damped)

# viseme: (phones, targets, dominance for jaw/lips/round/spread)
VISEMES = {
    "sil": ("sil", {}, (0.7, 0.7, 0.7, 0.7)),
    "PBM": ("p b m", {"jawOpen": 0.06, "mouthClose": 0.06, "mouthPress": 0.35, "mouthRollLower": 0.1,
                      "mouthRollUpper": 0.05}, (0.7, 1.0, 0.2, 0.3)),
    "FV": ("f v", {"jawOpen": 0.08, "mouthRollLower": 0.45, "mouthShrugLower": 0.15, "mouthUpperUp": 0.2},
           (0.9, 0.95, 0.2, 0.3)),
    "TH": ("th dh", {"jawOpen": 0.15, "mouthUpperUp": 0.08, "mouthLowerDown": 0.1}, (0.5, 0.5, 0.1, 0.2)),
    "TDNL": ("t d n l", {"jawOpen": 0.16, "mouthStretch": 0.08, "mouthLowerDown": 0.05}, (0.4, 0.3, 0.1, 0.2)),
    "SZ": ("s z", {"jawOpen": 0.06, "mouthStretch": 0.2, "mouthSmile": 0.1, "mouthUpperUp": 0.1,
                   "mouthLowerDown": 0.12}, (0.8, 0.6, 0.2, 0.4)),
    "SH": ("sh zh ch jh", {"jawOpen": 0.1, "mouthFunnel": 0.45, "mouthPucker": 0.25, "mouthUpperUp": 0.15,
                           "mouthLowerDown": 0.15}, (0.6, 0.6, 0.8, 0.6)),
    "KG": ("k g ng", {"jawOpen": 0.22}, (0.3, 0.2, 0.1, 0.1)),
    "HH": ("hh", {"jawOpen": 0.3}, (0.1, 0.1, 0.1, 0.1)),
    "R": ("r", {"jawOpen": 0.12, "mouthFunnel": 0.25, "mouthPucker": 0.35}, (0.3, 0.3, 0.7, 0.5)),
    "W": ("w", {"jawOpen": 0.06, "mouthPucker": 0.75, "mouthFunnel": 0.2}, (0.5, 0.5, 1.0, 0.8)),
    "Y": ("y", {"jawOpen": 0.1, "mouthStretch": 0.3, "mouthSmile": 0.2}, (0.4, 0.3, 0.5, 0.5)),
    "AA": ("aa", {"jawOpen": 0.65, "mouthLowerDown": 0.2, "mouthUpperUp": 0.05}, (0.8, 0.5, 0.6, 0.6)),
    "AE": ("ae", {"jawOpen": 0.55, "mouthStretch": 0.3, "mouthSmile": 0.12, "mouthUpperUp": 0.12,
                  "mouthLowerDown": 0.2}, (0.8, 0.5, 0.6, 0.6)),
    "AH": ("ah", {"jawOpen": 0.45, "mouthLowerDown": 0.1}, (0.8, 0.5, 0.6, 0.6)),
    "AX": ("ax axr ix", {"jawOpen": 0.28, "mouthLowerDown": 0.05}, (0.5, 0.4, 0.4, 0.4)),
    "AO": ("ao", {"jawOpen": 0.52, "mouthFunnel": 0.35, "mouthPucker": 0.1}, (0.8, 0.5, 0.6, 0.6)),
    "EH": ("eh", {"jawOpen": 0.38, "mouthStretch": 0.25, "mouthLowerDown": 0.12, "mouthSmile": 0.05},
           (0.8, 0.5, 0.6, 0.6)),
    "ER": ("er", {"jawOpen": 0.2, "mouthFunnel": 0.3, "mouthPucker": 0.3}, (0.7, 0.5, 0.7, 0.6)),
    "IH": ("ih", {"jawOpen": 0.25, "mouthStretch": 0.25, "mouthSmile": 0.12}, (0.8, 0.5, 0.6, 0.6)),
    "IY": ("iy", {"jawOpen": 0.1, "mouthStretch": 0.35, "mouthSmile": 0.3, "cheekSquint": 0.1},
           (0.8, 0.5, 0.6, 0.7)),
    "UH": ("uh", {"jawOpen": 0.22, "mouthPucker": 0.4, "mouthFunnel": 0.35}, (0.8, 0.5, 0.8, 0.6)),
    "UW": ("uw ux", {"jawOpen": 0.1, "mouthPucker": 0.8, "mouthFunnel": 0.3}, (0.8, 0.5, 0.9, 0.7)),
}
DIPHTHONGS = {"aw": ("aa", "uh"), "ay": ("aa", "ih"), "ey": ("eh", "iy"), "ow": ("ao", "uw"), "oy": ("ao", "iy")}
SILENCE = {"sil", "sp", "spn", "pau", "h#", "#", "<sil>", "brth", "ns", "nsn", ""}


def _channel_indices(name: str) -> list[int]:
    return [i for i, n in enumerate(ICT_NAMES) if n == name or n[:-2] == name]


def _tables() -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """phone -> viseme row; targets [V, 53]; dominance [V, 4]; group of each channel [53] (-1: unused)."""
    group_of = np.full(len(ICT_NAMES), -1)
    for g, names in enumerate(GROUPS.values()):
        for name in names:
            group_of[_channel_indices(name)] = g
    phone_row, targets, dominance = {}, [], []
    for row, (phones, tgt, dom) in enumerate(VISEMES.values()):
        w = np.zeros(len(ICT_NAMES), np.float32)
        for name, v in tgt.items():
            w[_channel_indices(name)] = v
        targets.append(w)
        dominance.append(dom)
        phone_row.update({p: row for p in phones.split()})
    return phone_row, np.array(targets), np.array(dominance, np.float32), group_of


PHONE_ROW, TARGETS, DOMINANCE, GROUP_OF = _tables()


def normalize_phone(phone: str) -> str:
    """``AH0`` -> ``ah``; every silence or filler label (``SIL``, ``sp``, ``+NSN+``, ``pau``) -> ``sil``."""
    p = re.sub(r"\d", "", str(phone)).strip().lower()
    return "sil" if p in SILENCE or not p.isalpha() else p


def _segments(phones: list[dict]) -> list[tuple[int, float, float]]:
    """(viseme row, start, end) per phone; diphthongs split in halves; unknown phones dropped (their
    neighbours fill in)."""
    out = []
    for p in phones:
        name, start, end = normalize_phone(p["phone"]), float(p["start"]), float(p["end"])
        if name in DIPHTHONGS:
            mid = 0.5 * (start + end)
            out += [(PHONE_ROW[DIPHTHONGS[name][0]], start, mid), (PHONE_ROW[DIPHTHONGS[name][1]], mid, end)]
        elif name in PHONE_ROW:
            out.append((PHONE_ROW[name], start, end))
    return out


def _jaw_smooth(x: np.ndarray, fps: float) -> np.ndarray:
    """Zero-phase critically damped second-order low-pass of a curve [T] sampled at ``fps``."""
    a = float(np.exp(-JAW_OMEGA / fps))
    if len(x) < 2:
        return x
    b_coef, a_coef = [(1 - a) ** 2], [1.0, -2 * a, a * a]  # two cascaded one-pole sections
    return filtfilt(b_coef, a_coef, x, padlen=min(len(x) - 1, 30), padtype="constant")


def phones_to_weights(phones: list[dict], fps: float, n_frames: int) -> np.ndarray:
    """Phone segments (dicts with ``phone``, ``start``, ``end`` in s) -> float32 [n_frames, 53] in [0, 1].

    Frame ``i`` is at time ``i / fps``. Only mouth, jaw, lip and cheek channels are non-zero.
    """
    t = np.arange(n_frames) / fps
    n_groups = len(GROUPS)
    num = np.zeros((n_frames, len(ICT_NAMES)), np.float64)
    den = np.full((n_frames, n_groups), REST_DOMINANCE, np.float64)  # rest segment: target 0 everywhere
    tau_before = np.array([TAU[g][0] for g in GROUP_NAMES])
    tau_after = np.array([TAU[g][1] for g in GROUP_NAMES])
    reach = 6 * max(max(v) for v in TAU.values())  # beyond this a dominance is < e^-6 of its peak
    segs = _segments(phones)
    for row, start, end in segs:
        i0, i1 = np.searchsorted(t, [start - reach, end + reach])
        if i0 >= i1:
            continue
        tt = t[i0:i1, None]
        decay = np.exp(-np.maximum(start - tt, 0) / tau_before - np.maximum(tt - end, 0) / tau_after)
        d = DOMINANCE[row] * decay  # [n, groups]
        den[i0:i1] += d
        num[i0:i1] += d[:, np.maximum(GROUP_OF, 0)] * TARGETS[row]
    w = num / den[:, np.maximum(GROUP_OF, 0)]
    w[:, GROUP_OF < 0] = 0.0
    jaw = ICT_NAMES.index("jawOpen")
    w[:, jaw] = _jaw_smooth(w[:, jaw], fps)
    _close_bilabials(w, segs, fps)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def _bilabial_spans(segs: list[tuple[int, float, float]], fps: float, n: int) -> list[tuple[int, int]]:
    """Frame ranges [i0, i1) of the p/b/m segments: every frame inside one, or the frame nearest its centre
    when none is."""
    out = []
    for r, start, end in segs:
        if r != PHONE_ROW["p"]:
            continue
        i0, i1 = int(np.ceil(start * fps - 1e-9)), int(np.ceil(end * fps - 1e-9))
        if i1 <= i0:
            i0 = int(round(0.5 * (start + end) * fps))
            i1 = i0 + 1
        i0, i1 = max(i0, 0), min(i1, n)
        if i0 < i1:
            out.append((i0, i1))
    return out


def bilabial_frames(phones: list[dict], fps: float, n_frames: int) -> np.ndarray:
    """bool [n_frames]: the frames ``phones_to_weights`` closes for a p/b/m (frame ``i`` at ``i / fps``)."""
    out = np.zeros(n_frames, bool)
    for i0, i1 in _bilabial_spans(_segments(phones), fps, n_frames):
        out[i0:i1] = True
    return out


def _close_bilabials(w: np.ndarray, segs: list[tuple[int, float, float]], fps: float) -> None:
    """In place: lips closed on every frame inside a p/b/m (or nearest to its centre if none is inside)."""
    row = PHONE_ROW["p"]
    idx = {n: _channel_indices(n) for n in ("mouthClose", "mouthPress", "mouthLowerDown", "mouthUpperUp",
                                            "mouthShrugUpper", "mouthFunnel")}
    jaw = ICT_NAMES.index("jawOpen")
    for i0, i1 in _bilabial_spans(segs, fps, len(w)):
        w[i0:i1, idx["mouthClose"][0]] = w[i0:i1, jaw]
        for name in ("mouthLowerDown", "mouthUpperUp", "mouthShrugUpper", "mouthFunnel"):
            w[i0:i1, idx[name]] = 0.0
        press = TARGETS[row, idx["mouthPress"]]
        w[i0:i1, idx["mouthPress"]] = np.maximum(w[i0:i1, idx["mouthPress"]], press)


def load_phones(path: str | Path) -> list[dict]:
    """Read a ``.phone.json`` file (list of ``{"phone", "start", "end"}``, seconds). Raises BadInput."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        phones = [{"phone": str(p["phone"]), "start": float(p["start"]), "end": float(p["end"])} for p in data]
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise BadInput(f"{path}: not a phone list ({e.__class__.__name__}: {e})") from None
    if any(p["end"] < p["start"] for p in phones):
        raise BadInput(f"{path}: a phone ends before it starts")
    return phones
