"""Animation curves: what speech animation, video tracking and capture import produce, and what the
exporters (GLB animation, Live Link CSV, USD) write. Plain data, one frame per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Curves:
    """times: float32 [T] seconds (increasing); weights: float32 [T, 53] ICT expression weights in [0, 1];
    head: float32 [T, 3] head rotation (pitch, yaw, roll) in radians, or None (head still);
    eyes: float32 [T, 2, 3] (left, right) x (pitch, yaw, roll) eye rotation in radians, or None (from
    eyeLook*, ``face3d.rig.eyes_from_weights``); [T, 2, 2] (pitch, yaw) is accepted, roll 0;
    tongue: float32 [T] ARKit tongueOut weight in [0, 1] (ICT has no tongue shape), or None (0).
    Angles follow ``face3d.rig``: pitch > 0 looks down, yaw > 0 turns to the subject's left.
    """

    times: np.ndarray
    weights: np.ndarray
    head: np.ndarray | None = None
    eyes: np.ndarray | None = None
    tongue: np.ndarray | None = None

    def __post_init__(self):
        self.times = np.asarray(self.times, np.float32).reshape(-1)
        self.weights = np.asarray(self.weights, np.float32)
        t = len(self.times)
        if self.weights.ndim != 2 or self.weights.shape[0] != t:
            raise ValueError(f"weights must be [T={t}, K], got {self.weights.shape}")
        if self.head is not None:
            self.head = np.asarray(self.head, np.float32).reshape(t, 3)
        if self.eyes is not None:
            eyes = np.asarray(self.eyes, np.float32).reshape(t, 2, -1)
            if eyes.shape[2] == 2:
                eyes = np.concatenate([eyes, np.zeros((t, 2, 1), np.float32)], 2)
            self.eyes = eyes.reshape(t, 2, 3)
        if self.tongue is not None:
            self.tongue = np.asarray(self.tongue, np.float32).reshape(t)

    def __len__(self) -> int:
        return len(self.times)

    def eye_angles(self) -> np.ndarray:
        """[T, 2, 3] eye rotation: ``eyes``, or the one the eyeLook* weights imply."""
        from .rig import eyes_from_weights

        return self.eyes if self.eyes is not None else eyes_from_weights(self.weights)
