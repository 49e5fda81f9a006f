"""What exported faces are driven by besides ICT's 53 shapes: the ARKit target set (52 names, with a real
``tongueOut``), a four-joint skeleton (neck, head, left/right eye) with skin weights, and rotations.

Conventions (model space: cm, y up, the face looks down +z, x towards the subject's left):
- head and eye angles are (pitch, yaw, roll) in radians; pitch > 0 looks down, yaw > 0 turns the face to
  the subject's left, roll > 0 tilts the head towards the subject's right shoulder; the rotation is
  ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (right-handed, about the joint).
- ICT's eyeLook* shapes move the lids only (their eyeball deltas are zero), so eyes turn through the eye
  joints; without measured eye angles they follow the eyeLook* weights (``eyes_from_weights``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .names import ARKIT_NAMES, ICT_NAMES, ict_target_names, ict_to_arkit, ict_to_arkit_name

JOINT_NAMES = ("neck", "head", "eyeLeft", "eyeRight")
JOINT_PARENTS = (-1, 0, 1, 1)

# Eye angle per unit eyeLook* weight (rad), measured on the Live Link Face capture in shared/animation
# (least squares of the eye angles on eyeLookDown-Up and eyeLookOut-In: 0.52 and 0.65-0.70).
EYE_PITCH_PER_WEIGHT = 0.52
EYE_YAW_PER_WEIGHT = 0.68

# tongueOut: how far the tip travels (cm) and where along the tongue (z, cm) the motion starts.
_TONGUE_FORWARD, _TONGUE_DOWN = 3.2, 0.9
_TONGUE_ROOT_Z = 3.5


# ---------------------------------------------------------------------------------------------- targets

def target_names(kind: str = "arkit") -> list[str]:
    """Morph-target names of an exported mesh: ``arkit`` = ARKit's 52 (Live Link order), ``ict`` = ICT's
    53 shapes with ARKit spelling (split halves as ``browInnerUpLeft``, ...)."""
    if kind == "arkit":
        return list(ARKIT_NAMES)
    if kind == "ict":
        return ict_target_names()
    raise ValueError(f"unknown target set '{kind}' (use arkit or ict)")


def target_deltas(model, kind: str = "arkit") -> np.ndarray:
    """``[K, V, 3]`` float32 deltas (cm) of the target set ``kind`` (see ``target_names``).

    ARKit's ``browInnerUp`` and ``cheekPuff`` are the sums of ICT's halves (so one ARKit weight moves both
    halves as ICT does); ``tongueOut`` is ``tongue_out_deltas``.
    """
    ict = model.expression_basis.detach().cpu().float().numpy()
    if kind == "ict":
        return ict
    target_names(kind)
    out = np.zeros((len(ARKIT_NAMES), *ict.shape[1:]), np.float32)
    for i, n in enumerate(ICT_NAMES):
        out[ARKIT_NAMES.index(ict_to_arkit_name(n))] += ict[i]
    out[ARKIT_NAMES.index("tongueOut")] = tongue_out_deltas(model)
    return out


def target_weights(weights: np.ndarray, kind: str = "arkit", tongue: np.ndarray | float | None = None) -> np.ndarray:
    """ICT ``weights [..., 53]`` (+ ``tongue [...]``) -> weights ``[..., K]`` of the target set ``kind``."""
    weights = np.asarray(weights, np.float32)
    if kind == "ict":
        return weights
    out = ict_to_arkit(weights)
    if tongue is not None:
        out[..., ARKIT_NAMES.index("tongueOut")] = tongue
    return out


def tongue_vertices(model) -> tuple[np.ndarray, np.ndarray]:
    """The tongue inside ICT's gums-and-tongue part: ``(vertex ids [N], softness [N] in (0, 1])``.

    ICT's tongue is one surface with the lower gums; the tongue is the part of the lower mouth floor away
    from the teeth. ``softness`` falls to 0 towards the gums so that the moving part blends in.
    """
    from scipy.spatial import cKDTree

    v = model.neutral.detach().cpu().numpy()
    a, b = model.regions["gums_and_tongue"][:2]
    t0, t1 = model.regions["teeth"][:2]
    ids = np.arange(a, b)
    p = v[ids]
    jaw = np.linalg.norm(model.expression_basis[ICT_NAMES.index("jawOpen")].detach().cpu().numpy()[ids], axis=1)
    lower = jaw > 0.25 * jaw.max()  # moves with the jaw: lower gums and tongue, not the upper gums
    gap = cKDTree(v[t0:t1]).query(p)[0]
    soft = np.clip((gap - 0.35) / 0.5, 0, 1) * np.clip((2.9 - np.abs(p[:, 0])) / 0.6, 0, 1)
    keep = lower & (soft > 0) & (p[:, 2] > _TONGUE_ROOT_Z - 1)
    return ids[keep], soft[keep].astype(np.float32)


def cached(model, key: str, make):
    """``make()`` once per model object (exports of one model reuse the derived data)."""
    store = model.__dict__.setdefault("_face3d_derived", {})
    if key not in store:
        store[key] = make()
    return store[key]


def tongue_out_deltas(model) -> np.ndarray:
    """``[V, 3]`` cm: the tongue pushed forward and down, the tip most, the root not at all, slightly
    narrowed as it stretches (ARKit's tongueOut, which ICT lacks)."""
    return cached(model, "tongueOut", lambda: _tongue_out(model)).copy()


def _tongue_out(model) -> np.ndarray:
    v = model.neutral.detach().cpu().numpy()
    ids, soft = tongue_vertices(model)
    p = v[ids]
    tip = p[:, 2].max()
    s = np.clip((p[:, 2] - _TONGUE_ROOT_Z) / (tip - _TONGUE_ROOT_Z), 0, 1)
    s = s * s * (3 - 2 * s) * soft  # smoothstep along the tongue, faded towards the gums
    out = np.zeros_like(v)
    out[ids, 2] = _TONGUE_FORWARD * s
    out[ids, 1] = -_TONGUE_DOWN * s
    out[ids, 0] = -0.15 * p[:, 0] * s
    return out


# ---------------------------------------------------------------------------------------------- skeleton

@dataclass
class Rig:
    """``joints [4,3]`` joint positions (cm, model space; ``JOINT_NAMES``, parents ``JOINT_PARENTS``);
    ``joint_ids [V,4]`` uint8 and ``joint_weights [V,4]`` float32 (rows sum to 1) per model vertex."""

    joints: np.ndarray
    joint_ids: np.ndarray
    joint_weights: np.ndarray


def eye_centres(vertices: np.ndarray, model) -> np.ndarray:
    """``[2,3]`` (left, right) centres of the eyeballs of ``vertices [V,3]`` (least-squares sphere fit to
    the sclera: its centroid sits off-centre because the sclera is not a whole sphere)."""
    out = []
    for side in ("left", "right"):
        e0 = model.regions[f"eyeball_{side}"][0]
        p = vertices[e0:e0 + 770].astype(np.float64)  # the sclera (ICT README: first 770 eyeball vertices)
        a = np.c_[2 * p, np.ones(len(p))]
        c = np.linalg.lstsq(a, (p ** 2).sum(1), rcond=None)[0][:3]
        out.append(c)
    return np.array(out, np.float32)


def build_rig(vertices: np.ndarray, model) -> Rig:
    """Joints and skin weights for one face ``vertices [V,3]`` (cm, expression-free).

    The eyeballs (sclera and iris) follow their eye joint rigidly; everything else follows the head joint
    (at the top of the neck, below and behind the ears), blended into the neck joint down the neck.
    """
    eyes = eye_centres(vertices, model)
    mid = eyes.mean(0)
    head = np.array([0.0, mid[1] - 7.5, mid[2] - 8.5], np.float32)
    neck = np.array([0.0, head[1] - 9.0, head[2] - 1.0], np.float32)
    joints = np.stack([neck, head, eyes[0], eyes[1]]).astype(np.float32)

    n = len(vertices)
    ids = np.tile(np.array([1, 0, 2, 3], np.uint8), (n, 1))  # four distinct joints per vertex
    w = np.zeros((n, 4), np.float32)
    # Head weight ramps from 0 at the neck joint's height to 1 a little under the head joint.
    t = np.clip((vertices[:, 1] - (neck[1] + 1.0)) / ((head[1] - 2.0) - (neck[1] + 1.0)), 0, 1)
    w[:, 0] = t * t * (3 - 2 * t)
    f0, f1 = model.regions["head_and_neck"][:2]
    inside = np.ones(n, bool)
    inside[f0:f1] = False
    w[inside, 0] = 1.0  # face, mouth, teeth, eyes: never bend with the neck
    w[:, 1] = 1.0 - w[:, 0]
    for j, side in ((2, "left"), (3, "right")):
        e0, e1 = model.regions[f"eyeball_{side}"][:2]
        ids[e0:e1] = [j, 1, 0, 5 - j]
        w[e0:e1] = [1, 0, 0, 0]
    return Rig(joints=joints, joint_ids=ids, joint_weights=w)


# ---------------------------------------------------------------------------------------------- rotations

def euler_to_quat(angles: np.ndarray) -> np.ndarray:
    """``angles [..., 3]`` (pitch, yaw, roll) rad -> unit quaternions ``[..., 4]`` (x, y, z, w), glTF's
    order, of ``Ry(yaw) @ Rx(pitch) @ Rz(roll)``."""
    a = np.asarray(angles, np.float64) / 2
    cp, sp = np.cos(a[..., 0]), np.sin(a[..., 0])
    cy, sy = np.cos(a[..., 1]), np.sin(a[..., 1])
    cr, sr = np.cos(a[..., 2]), np.sin(a[..., 2])
    qy = np.stack([0 * sy, sy, 0 * sy, cy], -1)
    qx = np.stack([sp, 0 * sp, 0 * sp, cp], -1)
    qz = np.stack([0 * sr, 0 * sr, sr, cr], -1)
    return _qmul(_qmul(qy, qx), qz)


def quat_to_euler(q: np.ndarray) -> np.ndarray:
    """Inverse of ``euler_to_quat``: ``q [..., 4]`` (x, y, z, w) -> ``[..., 3]`` (pitch, yaw, roll) rad."""
    x, y, z, w = np.moveaxis(np.asarray(q, np.float64), -1, 0)
    # Rotation matrix entries of R = Ry Rx Rz: R[1,2] = -sin(pitch), R[0,2] = sin(yaw)cos(pitch),
    # R[2,2] = cos(yaw)cos(pitch), R[1,0] = cos(pitch)sin(roll), R[1,1] = cos(pitch)cos(roll).
    r12 = 2 * (y * z - x * w)
    r02 = 2 * (x * z + y * w)
    r22 = 1 - 2 * (x * x + y * y)
    r10 = 2 * (x * y + z * w)
    r11 = 1 - 2 * (x * x + z * z)
    pitch = np.arcsin(np.clip(-r12, -1, 1))
    return np.stack([pitch, np.arctan2(r02, r22), np.arctan2(r10, r11)], -1)


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz], -1)


def eyes_from_weights(weights: np.ndarray) -> np.ndarray:
    """ICT ``weights [T, 53]`` -> eye angles ``[T, 2, 3]`` (left, right) x (pitch, yaw, roll) rad implied
    by the eyeLook* shapes (roll 0). Looking in turns the left eye to the subject's right (yaw < 0)."""
    w = np.asarray(weights, np.float32)
    out = np.zeros((len(w), 2, 3), np.float32)
    for k, s in enumerate("LR"):
        col = lambda n: w[:, ICT_NAMES.index(f"{n}_{s}")]  # noqa: E731
        out[:, k, 0] = EYE_PITCH_PER_WEIGHT * (col("eyeLookDown") - col("eyeLookUp"))
        towards_left = col("eyeLookOut") - col("eyeLookIn") if s == "L" else col("eyeLookIn") - col("eyeLookOut")
        out[:, k, 1] = EYE_YAW_PER_WEIGHT * towards_left
    return out


def expression_offset(model, weights: np.ndarray, tongue: float = 0.0) -> np.ndarray:
    """``[V, 3]`` cm that ICT ``weights [53]`` and the tongueOut weight ``tongue`` add to a face (exact for
    either target set: ICT's halves keep their own weights)."""
    basis = model.expression_basis.detach().cpu().float().numpy()
    out = np.tensordot(np.asarray(weights, np.float32), basis, 1)
    if tongue:
        out = out + np.float32(tongue) * tongue_out_deltas(model)
    return out.astype(np.float32)


def rest_shape(model, vertices: np.ndarray, weights: np.ndarray | None, targets: str, tongue: float,
               bake: bool) -> tuple[np.ndarray, np.ndarray]:
    """What an exported face stores: the mesh ``[V, 3]`` cm (``vertices``, plus the expression when ``bake``)
    and its default target weights ``[K]`` (ICT ``weights [53]`` and ``tongue`` in ``targets``' order; zero
    when baked)."""
    weights = np.zeros(53, np.float32) if weights is None else np.asarray(weights, np.float32)
    default = target_weights(weights, targets, tongue)
    base = np.asarray(vertices, np.float32)
    if bake:
        return base + expression_offset(model, weights, tongue), np.zeros_like(default)
    return base, default
