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
    eyes: float32 [T, 2, 2] (left, right) x (pitch, yaw) eye rotation in radians, or None (from eyeLook*).
    """

    times: np.ndarray
    weights: np.ndarray
    head: np.ndarray | None = None
    eyes: np.ndarray | None = None

    def __post_init__(self):
        self.times = np.asarray(self.times, np.float32).reshape(-1)
        self.weights = np.asarray(self.weights, np.float32)
        t = len(self.times)
        if self.weights.ndim != 2 or self.weights.shape[0] != t:
            raise ValueError(f"weights must be [T={t}, K], got {self.weights.shape}")
        if self.head is not None:
            self.head = np.asarray(self.head, np.float32).reshape(t, 3)
        if self.eyes is not None:
            self.eyes = np.asarray(self.eyes, np.float32).reshape(t, 2, 2)

    def __len__(self) -> int:
        return len(self.times)
