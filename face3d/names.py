"""Blendshape names: the 53 ICT-FaceKit expressions and Apple ARKit's 52, and the mapping between them.

ICT follows ARKit but writes sides as ``_L``/``_R`` and splits ``browInnerUp`` and ``cheekPuff`` into
left and right halves; it has no ``tongueOut``. ARKit's ``Left``/``Right`` is the subject's own side, as is
ICT's ``_L``/``_R``.
"""
from __future__ import annotations

import numpy as np

# The 53 expression shapes, in ICT-FaceKit's order (vertex_indices.json "expressions").
ICT_NAMES: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L",
    "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)

# ARKit's 52 blendshapes in the order an iPhone Live Link Face capture writes them (CSV columns 3..54).
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight",
    "jawLeft", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)

# Live Link Face CSV column names: ARKit names with a capital first letter.
LIVELINK_COLUMNS: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES)

_SPLIT = {"browInnerUp", "cheekPuff"}  # ARKit names that ICT splits into _L/_R halves


def ict_to_arkit_name(ict: str) -> str:
    """``eyeBlink_L`` -> ``eyeBlinkLeft``; ``browInnerUp_L`` -> ``browInnerUp`` (both halves map to it)."""
    if ict.endswith(("_L", "_R")):
        base, side = ict[:-2], ict[-1]
        return base if base in _SPLIT else base + ("Left" if side == "L" else "Right")
    return ict


def ict_target_names() -> list[str]:
    """One unique ARKit-style name per ICT shape, for morph-target names in exported meshes.

    The split halves keep ARKit spelling with a side suffix (``browInnerUpLeft``), because a mesh cannot
    carry two targets of one name; every other shape is exactly its ARKit name.
    """
    out = []
    for n in ICT_NAMES:
        a = ict_to_arkit_name(n)
        out.append(a + ("Left" if n.endswith("_L") else "Right") if a in _SPLIT else a)
    return out


# Matrices that carry weight vectors between the two conventions (row = destination).
def arkit_to_ict_matrix() -> np.ndarray:
    """[53, 52]: ICT weights = M @ ARKit weights (a split shape takes its ARKit weight on both halves)."""
    m = np.zeros((len(ICT_NAMES), len(ARKIT_NAMES)), np.float32)
    for i, n in enumerate(ICT_NAMES):
        m[i, ARKIT_NAMES.index(ict_to_arkit_name(n))] = 1.0
    return m


def ict_to_arkit_matrix() -> np.ndarray:
    """[52, 53]: ARKit weights = M @ ICT weights (split halves are averaged; tongueOut stays 0)."""
    m = arkit_to_ict_matrix().T.copy()
    m /= np.maximum(m.sum(1, keepdims=True), 1.0)
    return m


def arkit_to_ict(weights_arkit: np.ndarray) -> np.ndarray:
    """[..., 52] ARKit weights -> [..., 53] ICT weights."""
    return np.asarray(weights_arkit, np.float32) @ arkit_to_ict_matrix().T


def ict_to_arkit(weights_ict: np.ndarray) -> np.ndarray:
    """[..., 53] ICT weights -> [..., 52] ARKit weights (tongueOut = 0)."""
    return np.asarray(weights_ict, np.float32) @ ict_to_arkit_matrix().T


def parse_expression_name(name: str) -> list[int]:
    """ICT indices driven by one user-given name: ICT (``jawOpen``, ``eyeBlink_L``), ARKit (``eyeBlinkLeft``,
    ``browInnerUp`` -> both halves) or an exported target name (``browInnerUpLeft``). Raises KeyError."""
    if name in ICT_NAMES:
        return [ICT_NAMES.index(name)]
    targets = ict_target_names()
    if name in targets:
        return [targets.index(name)]
    hits = [i for i, n in enumerate(ICT_NAMES) if ict_to_arkit_name(n) == name]
    if not hits:
        raise KeyError(name)
    return hits
