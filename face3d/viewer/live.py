"""Live capture: a webcam (or any video) tracked frame by frame into the viewer (``face3d track --camera N``).

    live(0)                                          # /dev/video0 in a window, until it closes (Q, esc)
    live("clip.mp4", frames=60, screenshot="s.png")  # any video PyAV reads (the tests' stand-in for a camera)

The tracker is ``face3d.track``'s, made causal: MediaPipe in VIDEO mode follows the largest face (or the
``face``-th); the identity is the mean of ``fit.fit_detection``'s over the first IDENTITY_FRAMES frames that
show the face, then held; every frame solves pose and expression with ``FrameSolver``, warm-started from
the last one, and a forward One-Euro filter smooths them (offline tracking runs it both ways; live has no
future frames). A reader thread keeps only the newest frame, so a slow frame never builds a backlog:
the face follows the camera as it is now.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..formats.scene import Scene

IDENTITY_FRAMES = 5


class FrameReader:
    """Decodes ``source`` (a camera index: ``/dev/video<N>`` through v4l2; or a path PyAV opens) in a thread.
    ``latest()`` -> (seconds, rgb uint8 [H,W,3]) of the newest frame not yet taken, or None; ``done`` once
    the source has ended; ``error`` the line that says why it could not be read."""

    def __init__(self, source, realtime: bool = True):
        import av

        try:
            if isinstance(source, int):
                self.container = av.open(f"/dev/video{source}", format="v4l2")
            else:
                self.container = av.open(str(source), metadata_errors="replace")
            self.stream = self.container.streams.video[0]
        except (av.FFmpegError, OSError, IndexError) as e:
            raise BadInput(f"{source}: cannot read video from it ({type(e).__name__})") from None
        self.paced = realtime and not isinstance(source, int)  # a file plays at its own pace, as a camera would
        self.done, self.error = False, None
        self._frame, self._lock = None, threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = None
        try:
            for frame in self.container.decode(self.stream):
                if self._stop.is_set():
                    break
                t = float(frame.time or 0.0)
                if self.paced:
                    start = time.perf_counter() - t if start is None else start
                    time.sleep(max(0.0, start + t - time.perf_counter()))
                with self._lock:
                    self._frame = (t, frame.to_ndarray(format="rgb24"))
        except Exception as e:  # noqa: BLE001 - a camera that goes away ends the session with one line
            self.error = f"the video stopped ({type(e).__name__})"
        finally:
            self.done = True

    def latest(self):
        with self._lock:
            item, self._frame = self._frame, None
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.container.close()


@dataclass
class LivePose:
    """The tracked face now: expression float64 [53] ICT weights, rotation [3,3] and translation [3] cm of
    the head in camera space."""

    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray


class LiveTracker:
    """Per-frame tracking of one face: ``step(detection | None, t) -> LivePose | None`` (None until a face
    has been seen; a lost face holds its last pose)."""

    def __init__(self, camera, corr):
        from ..track import FILTER, OneEuro

        self.camera, self.corr = camera, corr
        self.identities: list[np.ndarray] = []
        self.solver = self.state = self.pose = None
        self.filters = {k: OneEuro(*FILTER[k]) for k in FILTER}
        self.last = -1e9

    def step(self, det, t: float) -> LivePose | None:
        from ..fit import fit_detection
        from ..track import MAX_GAP_S, FrameSolver, _initial_state, axis_angle, ict_scores, rodrigues

        if det is None:
            return self.pose
        if len(self.identities) < IDENTITY_FRAMES:
            self.identities.append(fit_detection(det, self.camera, self.corr).identity)
            identity = np.mean(self.identities, 0)
            if self.solver is None:
                self.solver = FrameSolver(self.corr, identity)
            else:
                self.solver.set_identity(identity)
        scores = ict_scores(det)
        if self.state is None or t - self.last > MAX_GAP_S:
            self.state = _initial_state(det, self.camera, self.solver, scores)
        self.state = self.solver.solve(det.landmarks, scores, self.camera, *self.state)
        self.last = t
        rot, trans, e = self.state
        e = np.clip(self.filters["expression"](e, t), 0, 1)
        centre = self.filters["translation"](rot @ self.solver.centre + trans, t)  # the face's centre (track.FILTER)
        rot = rodrigues(self.filters["rotation"](axis_angle(rot), t))
        self.pose = LivePose(e, rot, centre - rot @ self.solver.centre)
        return self.pose

    @property
    def identity(self) -> np.ndarray | None:
        return None if self.solver is None else self.solver.identity


class LiveScene(Scene):
    """The ICT face posed by the live tracker (``set_pose``) instead of an animation: the expression's morph
    weights, then the head turned about its joint (the neck blending in, as the exported rig does)."""

    pose: LivePose | None = None
    version = 0

    @classmethod
    def of(cls, model, identity: np.ndarray | None = None) -> "LiveScene":
        """The scene of ``model``'s face (``identity [100]``; default the mean face), as its GLB reads."""
        import dataclasses
        import tempfile
        from pathlib import Path

        from ..formats.mesh import save_mesh
        from ..formats.scene import read_scene

        with tempfile.TemporaryDirectory() as tmp:
            scene = read_scene(save_mesh(Path(tmp) / "live.glb", model.neutral.numpy(), model))
        out = cls(**{f.name: getattr(scene, f.name) for f in dataclasses.fields(scene)})
        out.path = Path("camera")
        out.set_identity(model, np.zeros(100, np.float32) if identity is None else identity)
        return out

    def set_identity(self, model, identity: np.ndarray) -> None:
        import torch

        from ..formats.gltf import split_seams
        from ..rig import build_rig

        with torch.no_grad():
            rest = model.blend(torch.from_numpy(np.asarray(identity, np.float32))[None], torch.zeros(1, 53))[0].numpy()
        source = split_seams(model)[0]
        rig = build_rig(rest, model)
        head = np.where(rig.joint_ids == 1, rig.joint_weights, 0).sum(1)
        head[rig.joint_ids[:, 0] >= 2] = 1.0  # the eyeballs ride on the head
        self.positions = rest[source].astype(np.float32)
        self.head_weight, self.pivot = head[source].astype(np.float32)[:, None], rig.joints[1]
        self.version += 1

    def set_pose(self, pose: LivePose) -> None:
        self.pose, self.version = pose, self.version + 1

    def pose_key(self, t: float):
        return ("live", self.version)

    def weights_at(self, t: float) -> np.ndarray | None:
        from ..rig import target_weights

        return self.weights if self.pose is None else target_weights(self.pose.expression).astype(np.float32)

    def pose_at(self, t: float):
        w = self.weights_at(t)
        v = self.vertices(w)
        if self.pose is not None:
            turned = (v - self.pivot) @ self.pose.rotation.T.astype(np.float32) + self.pivot
            v = (self.head_weight * turned + (1 - self.head_weight) * v).astype(np.float32)
        return w, v


def live(source, face: int = 0, frames: int | None = None, screenshot=None, size=(1280, 720), visible: bool = True,
         say=print) -> dict:
    """``face3d track --camera N``: track ``source`` (camera index or video path) into a viewer window until
    it closes (or ``frames`` frames were tracked; ``screenshot``: then write the window to that PNG).
    Returns what happened: frames read, frames with the face, tracking fps, the head's yaw range (deg)."""
    from ..camera import Camera
    from ..correspondence import load_correspondence
    from ..detect import Detector
    from ..model import load_model
    from ..track import FaceFollower
    from .window import Viewer

    model = load_model()
    corr = load_correspondence(model)
    reader = FrameReader(source)
    tracker, follower = None, FaceFollower(face)
    stats = {"frames": 0, "detected": 0, "yaw_deg": []}
    scene = LiveScene.of(model)
    t0 = time.perf_counter()
    try:
        with Detector("video", max_faces=face + 1) as detector, Viewer(scene, size, visible, say=say,
                                                                          title="face3d track --camera") as viewer:
            stamp = -1
            while not viewer.closed and (frames is None or stats["frames"] < frames):
                viewer.poll()
                item = reader.latest()
                if item is None:
                    if reader.done:
                        break
                    time.sleep(0.002)
                    continue
                t, rgb = item
                if tracker is None:
                    tracker = LiveTracker(Camera.for_image(rgb.shape[1], rgb.shape[0]), corr)
                stamp = max(int(round(t * 1000)), stamp + 1)
                det = follower.pick(detector.detect(rgb, timestamp_ms=stamp), t)
                known = len(tracker.identities)
                pose = tracker.step(det, t)
                if len(tracker.identities) != known:  # the identity is still being estimated: show it
                    scene.set_identity(model, tracker.identity)
                stats["frames"] += 1
                stats["detected"] += det is not None
                if pose is not None:
                    scene.set_pose(pose)
                    r = pose.rotation
                    stats["yaw_deg"].append(float(np.degrees(np.arctan2(r[0, 2], r[2, 2]))))
                viewer.draw()
            if screenshot is not None:
                viewer.screenshot(screenshot)
    finally:
        reader.close()
    if reader.error and stats["frames"] == 0:
        raise BadInput(f"{source}: {reader.error}")
    stats["fps"] = stats["frames"] / max(time.perf_counter() - t0, 1e-9)
    return stats
