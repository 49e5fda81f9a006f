"""Drawing a ``Scene`` with moderngl: the one code path behind the window (``face3d view``) and the
offscreen renders (``face3d render``). Works in any moderngl context (a window's, or EGL standalone).

The camera is a ``face3d.camera.Camera`` turned into a clip matrix by ``face3d.render.camera.clip_matrix``
(the rasteriser's convention: NDC y points down the image). Offscreen frames read back top row first with
no flip; a window flips y once in the projection (``flip=True``). Lighting is second-order SH irradiance
(``face3d.render.shading``) of a key, a fill and an ambient light, plus a highlight and a rim term.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..formats.scene import Scene
from ..resources import read_shader

KEY = (-0.45, 0.55, 0.70)   # towards the key light, camera space: upper left, in front
FILL = (0.75, 0.05, 0.55)   # a weaker fill from the right
BACKGROUND = (0.16, 0.17, 0.19)
FOV_Y = math.radians(30.0)
VIEWS = {"front": (0.0, 0.0), "three-quarter": (math.radians(35), math.radians(-8)), "side": (math.radians(90), 0.0)}


def studio_sh(ambient: float = 0.22, key: float = 0.80, fill: float = 0.30) -> np.ndarray:
    """float32 [9,3] SH irradiance of the viewer's studio lights (camera space, linear RGB, slightly warm)."""
    from ..render.shading import sh_directional

    sh = sh_directional(KEY, ambient, key) + sh_directional(FILL, 0.0, fill)
    return (sh.numpy() * np.array([1.0, 0.97, 0.94], np.float32)).astype(np.float32)


@dataclass
class ViewState:
    """What to draw and from where. yaw/pitch rad orbit the target (cm, model space) at ``distance`` cm;
    ``fitted`` looks through the fit's camera (with ``photo`` behind the face) instead."""

    yaw: float = 0.0
    pitch: float = 0.0
    distance: float = 60.0
    target: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    textured: bool = True
    wireframe: bool = False
    normals: bool = False
    landmarks: bool = False
    photo: bool = False
    fitted: bool = False
    background: tuple = BACKGROUND
    specular: float = 0.06
    rim: float = 0.25


def home_view(scene: Scene, view: str = "front") -> ViewState:
    """The default framing of ``scene``: the face filling about 80 % of the height, from ``view``."""
    p = scene.positions if scene.colours is None else scene.positions[scene.colours[:, 3] >= 0.5]
    lo, hi = p.min(0), p.max(0)
    yaw, pitch = VIEWS.get(view, VIEWS["front"])
    # the box's height fills ~85 % of the frame, seen from in front of its nearest point
    distance = (hi[1] - lo[1]) / 2 / 0.85 / math.tan(FOV_Y / 2) + (hi[2] - lo[2]) / 2
    state = ViewState(yaw=yaw, pitch=pitch, target=((lo + hi) / 2).astype(np.float32), distance=float(distance))
    if scene.texture is None:
        state.textured = False
    return state


def rotation_matrix(axis_angle) -> np.ndarray:
    """float64 [3,3] rotation of an axis-angle vector [3] (rad)."""
    from scipy.spatial.transform import Rotation
    return Rotation.from_rotvec(np.asarray(axis_angle, np.float64)).as_matrix()


def orbit_matrix(state: ViewState) -> np.ndarray:
    """float32 [4,4]: model space -> camera space for the orbit camera of ``state``."""
    cy, sy, cp, sp = math.cos(state.yaw), math.sin(state.yaw), math.cos(state.pitch), math.sin(state.pitch)
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])   # turning the head by yaw shows its side
    rx = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])    # positive pitch looks from above
    r = rx @ ry
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = -r @ np.asarray(state.target, np.float64) + np.array([0, 0, -state.distance])
    return m.astype(np.float32)


def fitted_matrix(scene: Scene) -> np.ndarray:
    """float32 [4,4]: model space -> the fit's camera space (the head pose)."""
    m = np.eye(4)
    m[:3, :3] = rotation_matrix(scene.rotation)
    m[:3, 3] = scene.translation
    return m.astype(np.float32)


def window_camera(scene: Scene, width: int, height: int, state: ViewState):
    """``(Camera, photo_rect)``: the pinhole camera for a ``width`` x ``height`` frame and, in the fitted view,
    where the photo lies in NDC (x0, y0, x1, y1; y down), letterboxed; None in the orbit view."""
    from ..camera import Camera

    if state.fitted and scene.camera is not None:
        cam = scene.camera
        s = min(width / cam.width, height / cam.height)
        ox, oy = (width - s * cam.width) / 2, (height - s * cam.height) / 2
        # a window pixel = offset + s * (photo pixel + 0.5) - 0.5
        camera = Camera(cam.focal * s, ox + s * (cam.cx + 0.5) - 0.5, oy + s * (cam.cy + 0.5) - 0.5, width, height)
        rect = (2 * ox / width - 1, 2 * oy / height - 1, 2 * (ox + s * cam.width) / width - 1,
                2 * (oy + s * cam.height) / height - 1)
        return camera, rect
    focal = height / (2 * math.tan(FOV_Y / 2))
    return Camera(focal, (width - 1) / 2, (height - 1) / 2, width, height), None


def scene_normals(scene: Scene, vertices: np.ndarray) -> np.ndarray:
    """float32 [N,3] unit vertex normals of ``vertices [N,3]``, area-weighted and shared across UV seams."""
    t = scene.triangles
    p0, p1, p2 = vertices[t[:, 0]], vertices[t[:, 1]], vertices[t[:, 2]]
    fn = np.cross(p1 - p0, p2 - p0)
    ids = scene.weld[t].reshape(-1)
    n_ids = int(scene.weld.max()) + 1
    rep = np.repeat(fn, 3, axis=0)
    acc = np.stack([np.bincount(ids, rep[:, k], n_ids) for k in range(3)], 1)
    acc /= np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-12)
    return acc[scene.weld].astype(np.float32)


class SceneRenderer:
    """The GL objects of one scene in one moderngl context; ``draw`` renders a frame into a framebuffer.

    ``gl``: a moderngl.Context; ``flip``: True when drawing into a window (GL's rows go bottom-up).
    """

    def __init__(self, gl, scene: Scene, flip: bool = False):
        import moderngl

        self.gl, self.scene, self.flip, self._mgl = gl, scene, flip, moderngl
        self.mesh_prog = gl.program(vertex_shader=read_shader("view_mesh.vert"),
                                    fragment_shader=read_shader("view_mesh.frag"))
        self.quad_prog = gl.program(vertex_shader=read_shader("view_quad.vert"),
                                    fragment_shader=read_shader("view_quad.frag"))
        self.point_prog = gl.program(vertex_shader=read_shader("view_points.vert"),
                                     fragment_shader=read_shader("view_points.frag"))
        n = len(scene.positions)
        uv = scene.uv if scene.uv is not None else np.zeros((n, 2), np.float32)
        colours = scene.colours if scene.colours is not None else np.tile(
            np.array([[0.80, 0.62, 0.52, 1.0]], np.float32) ** np.array([2.2, 2.2, 2.2, 1.0], np.float32), (n, 1))
        gloss = scene.gloss if scene.gloss is not None else np.zeros(n, np.float32)
        static = np.concatenate([uv, colours, gloss[:, None]], 1).astype(np.float32)
        self.static = gl.buffer(static.tobytes())
        self.dynamic = gl.buffer(reserve=n * 24, dynamic=True)
        self.index = gl.buffer(np.ascontiguousarray(scene.triangles, np.uint32).tobytes())
        self.vao = gl.vertex_array(self.mesh_prog, [(self.dynamic, "3f 3f", "in_pos", "in_normal"),
                                                    (self.static, "2f 4f 1f", "in_uv", "in_colour", "in_gloss")],
                                   index_buffer=self.index, index_element_size=4)
        self.quad = gl.buffer(np.array([0, 0, 1, 0, 0, 1, 1, 1], np.float32).tobytes())
        self.quad_vao = gl.vertex_array(self.quad_prog, [(self.quad, "2f", "in_corner")])
        self.points = gl.buffer(reserve=max(len(scene.landmarks) if scene.landmarks is not None else 1, 1) * 12,
                                dynamic=True)
        self.points_vao = gl.vertex_array(self.point_prog, [(self.points, "3f", "in_pos")])
        self.texture = self._texture(scene.texture, mipmaps=True) if scene.texture is not None else None
        self.photo = self._texture(scene.photo) if scene.photo is not None else None
        self.mesh_prog["u_sh"].write(studio_sh().tobytes())
        self.mesh_prog["u_key"].value = tuple(np.asarray(KEY) / np.linalg.norm(KEY))
        self._weights_key = None
        self.vertices = scene.positions
        self._fbos: dict = {}

    def _texture(self, image: np.ndarray, mipmaps: bool = False):
        rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], 2) if image.shape[2] == 3 else image
        tex = self.gl.texture((image.shape[1], image.shape[0]), 4, np.ascontiguousarray(rgba).tobytes())
        if mipmaps:
            tex.build_mipmaps()
            tex.filter = (self._mgl.LINEAR_MIPMAP_LINEAR, self._mgl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    def set_time(self, t: float) -> np.ndarray | None:
        """Pose the mesh at time ``t`` s; returns the morph weights [K] used (None without targets)."""
        w = self.scene.weights_at(t)
        key = None if w is None else w.tobytes()
        if key != self._weights_key or self._weights_key is None:
            self.vertices = self.scene.vertices(w)
            normals = scene_normals(self.scene, self.vertices)
            self.dynamic.write(np.concatenate([self.vertices, normals], 1).astype(np.float32).tobytes())
            self._weights_key = key if key is not None else b""
        return w

    def matrices(self, width: int, height: int, state: ViewState) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        """``(model [4,4], proj [4,4], photo_rect)`` float32 for a ``width`` x ``height`` frame."""
        import torch

        from ..render.camera import clip_matrix

        camera, rect = window_camera(self.scene, width, height, state)
        model = fitted_matrix(self.scene) if rect is not None else orbit_matrix(state)
        centre, radius = self.scene.centre_radius()
        depth = -(model[:3, :3] @ centre + model[:3, 3])[2]
        near, far = max(depth - 2.5 * radius, 0.5), depth + 2.5 * radius
        proj = clip_matrix(camera, near, far, torch.float64).numpy().astype(np.float32)
        if self.flip:
            proj[1] *= -1
        return model, proj, rect

    def draw(self, fbo, width: int, height: int, state: ViewState) -> None:
        """Draw the current pose into ``fbo`` (``width`` x ``height``; cleared first)."""
        mgl, gl = self._mgl, self.gl
        fbo.use()
        gl.viewport = (0, 0, width, height)
        fbo.clear(*state.background, 1.0, depth=1.0)
        model, proj, rect = self.matrices(width, height, state)
        if rect is not None and state.photo and self.photo is not None:
            gl.disable(mgl.DEPTH_TEST)
            self._quad(self.photo, rect, 1.0)
        gl.enable(mgl.DEPTH_TEST)
        gl.disable(mgl.CULL_FACE)
        p = self.mesh_prog
        p["u_model"].write(model.T.copy().tobytes())  # GLSL matrices are column-major
        p["u_proj"].write(proj.T.copy().tobytes())
        textured = state.textured and self.texture is not None
        p["u_textured"].value = textured
        if textured:
            self.texture.use(0)
            p["u_tex"].value = 0
        p["u_spec"].value, p["u_rim"].value = state.specular, state.rim
        p["u_mode"].value = 1 if state.normals else 0
        if state.wireframe:
            gl.polygon_offset = (1.0, 1.0)  # push the faces back so the lines over them win the depth test
        self.vao.render(mgl.TRIANGLES)
        gl.polygon_offset = (0.0, 0.0)
        if state.wireframe:
            gl.wireframe = True
            p["u_mode"].value, p["u_flat"].value = 2, (0.10, 0.12, 0.16)
            self.vao.render(mgl.TRIANGLES)
            gl.wireframe = False
        if state.landmarks and self.scene.landmarks is not None:
            self.points.write(self.vertices[self.scene.landmarks].astype(np.float32).tobytes())
            gl.disable(mgl.DEPTH_TEST)
            gl.enable(mgl.PROGRAM_POINT_SIZE)
            q = self.point_prog
            q["u_model"].write(model.T.copy().tobytes())
            q["u_proj"].write(proj.T.copy().tobytes())
            q["u_size"].value = max(4.0, height / 150)
            q["u_colour"].value = (0.1, 0.95, 0.35)
            self.points_vao.render(mgl.POINTS)
            gl.enable(mgl.DEPTH_TEST)

    def _quad(self, tex, rect, alpha: float) -> None:
        tex.use(0)
        self.quad_prog["u_tex"].value = 0
        self.quad_prog["u_rect"].value = tuple(float(r) for r in rect)
        self.quad_prog["u_flip"].value = -1.0 if self.flip else 1.0
        self.quad_prog["u_alpha"].value = alpha
        self.quad_vao.render(self._mgl.TRIANGLE_STRIP)

    def overlay(self, tex, rect) -> None:
        """Blend an RGBA texture over the frame at ``rect`` (NDC, y down): the on-screen panel."""
        mgl = self._mgl
        self.gl.disable(mgl.DEPTH_TEST)
        self.gl.enable(mgl.BLEND)
        self.gl.blend_func = mgl.SRC_ALPHA, mgl.ONE_MINUS_SRC_ALPHA
        self._quad(tex, rect, 1.0)
        self.gl.disable(mgl.BLEND)

    # ------------------------------------------------------------------------------------------ offscreen

    def targets(self, width: int, height: int, samples: int = 4):
        """``(msaa_fbo, resolved_fbo)`` of one size, cached: draw into the first, read from the second."""
        key = (width, height, samples)
        if key not in self._fbos:
            gl = self.gl
            samples = min(samples, gl.max_samples) if samples > 1 else 0
            ms = gl.framebuffer([gl.renderbuffer((width, height), 4, samples=samples)],
                                gl.depth_renderbuffer((width, height), samples=samples))
            res = gl.framebuffer([gl.renderbuffer((width, height), 4)])
            self._fbos[key] = (ms, res)
        return self._fbos[key]

    def render(self, width: int, height: int, state: ViewState, t: float = 0.0, samples: int = 4) -> np.ndarray:
        """uint8 [H,W,3] image (top row first) of the scene at time ``t`` (offscreen; ``flip`` must be False)."""
        self.set_time(t)
        ms, res = self.targets(width, height, samples)
        self.draw(ms, width, height, state)
        self.gl.copy_framebuffer(res, ms)
        data = res.read(components=3)
        img = np.frombuffer(data, np.uint8).reshape(height, width, 3)
        return img[::-1].copy() if self.flip else img.copy()

    def release(self) -> None:
        for ms, res in self._fbos.values():
            for f in (ms, res):
                for a in (*f.color_attachments, f.depth_attachment):
                    if a is not None:
                        a.release()
                f.release()
        for obj in (self.vao, self.quad_vao, self.points_vao, self.static, self.dynamic, self.index, self.quad,
                    self.points, self.texture, self.photo, self.mesh_prog, self.quad_prog, self.point_prog):
            if obj is not None:
                obj.release()


def offscreen_context():
    """A standalone moderngl context over EGL (``RenderUnavailable`` naming the packages when none)."""
    import moderngl

    from ..render import RenderUnavailable
    from ..render.context import SYSTEM_PACKAGES

    try:
        return moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as e:  # moderngl/glcontext raise bare Exceptions for missing libraries
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RenderUnavailable(f"no OpenGL context ({reason}): install the system packages "
                                f"{SYSTEM_PACKAGES} (apt-get install -y {SYSTEM_PACKAGES})") from None
