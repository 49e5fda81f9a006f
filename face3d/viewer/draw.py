"""Drawing a ``Scene`` with moderngl: the one code path behind the window (``face3d view``) and the
offscreen renders (``face3d render``). Works in any moderngl context (a window's, or EGL standalone).

The camera is a ``face3d.camera.Camera`` turned into a clip matrix by ``Camera.clip_matrix``
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
from ..threads import one_blas_thread

KEY = (-0.45, 0.55, 0.70)   # towards the key light, camera space: upper left, in front
FILL = (0.75, 0.05, 0.55)   # a weaker fill from the right
BACKGROUND = (0.16, 0.17, 0.19)
FOV_Y = math.radians(30.0)
VIEWS = {"front": (0.0, 0.0), "three-quarter": (math.radians(35), math.radians(-8)), "side": (math.radians(90), 0.0)}


def studio_sh(ambient: float = 0.22, key: float = 0.80, fill: float = 0.30) -> np.ndarray:
    """float32 [9,3] SH irradiance of the viewer's studio lights (camera space, linear RGB, slightly warm)."""
    from ..lighting import directional

    sh = directional(KEY, ambient, key) + directional(FILL, 0.0, fill)
    return (sh * np.array([1.0, 0.97, 0.94])).astype(np.float32)


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


class NormalOp:
    """Area-weighted unit vertex normals of one mesh, shared across UV seams, with the gathers and the
    scatter-add precomputed (one sparse matrix): a few ms a frame for the ICT mesh.

    ``triangles``: int [T,3]; ``weld``: int [N] one id per distinct position."""

    def __init__(self, triangles: np.ndarray, weld: np.ndarray):
        from scipy.sparse import csr_matrix

        t = np.ascontiguousarray(triangles, np.int64)
        self.i0, self.i1, self.i2 = (np.ascontiguousarray(t[:, k], np.intp) for k in range(3))
        self.weld = np.asarray(weld, np.intp)
        n_ids = int(self.weld.max()) + 1 if len(self.weld) else 0
        rows = self.weld[t].reshape(-1)
        cols = np.repeat(np.arange(len(t)), 3)
        # [ids, T]: each triangle's face normal added to its three corners' welded ids
        self.scatter = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_ids, len(t)))
        self.scatter.sum_duplicates()

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        v = np.asarray(vertices, np.float32)
        p0 = np.take(v, self.i0, axis=0)  # np.take: ~4x faster than v[i] on [N,3] rows
        a, b = np.take(v, self.i1, axis=0) - p0, np.take(v, self.i2, axis=0) - p0
        fn = np.empty_like(a)  # a x b, written out: np.cross is several times slower on [T,3]
        fn[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
        fn[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
        fn[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        acc = self.scatter @ fn
        acc /= np.maximum(np.sqrt(np.einsum("ij,ij->i", acc, acc)), 1e-12)[:, None]
        return np.take(acc, self.weld, axis=0).astype(np.float32, copy=False)


def scene_normals(scene: Scene, vertices: np.ndarray) -> np.ndarray:
    """float32 [N,3] unit vertex normals of ``vertices [N,3]``, area-weighted and shared across UV seams."""
    return NormalOp(scene.triangles, scene.weld)(vertices)


def _define(src: str, name: str) -> str:
    """GLSL ``src`` with ``#define name`` after its #version line."""
    first, rest = src.split("\n", 1)
    return f"{first}\n#define {name}\n{rest}"


def mesh_program_source(masked: bool) -> str:
    """view_mesh.frag, with ``MASKED`` defined (discarding hidden fragments) or not."""
    src = read_shader("view_mesh.frag")
    return _define(src, "MASKED") if masked else src


class SceneRenderer:
    """The GL objects of one scene in one moderngl context; ``draw`` renders a frame into a framebuffer.

    ``gl``: a moderngl.Context; ``flip``: True when drawing into a window (GL's rows go bottom-up).

    Anti-aliasing (``samples``): None (the default) draws single-sampled and resolves with FXAA, which on
    llvmpipe costs a fraction of MSAA's several-fold slowdown; 0 draws with none; N >= 2 with N-sample MSAA.
    Triangles whose three vertices are all hidden (alpha < 0.5: eye overlay shells) are never drawn; those
    with some hidden draw with the discarding shader; the rest, nearly all, with one that does not discard,
    so llvmpipe depth-tests their fragments before shading them.
    """

    def __init__(self, gl, scene: Scene, flip: bool = False):
        import moderngl

        self.gl, self.scene, self.flip, self._mgl = gl, scene, flip, moderngl
        # A frame's numpy work (morphs, skinning, normals) is small: BLAS threads woken for it would fight
        # llvmpipe's for the cores. One BLAS thread while this renderer lives (restored by release).
        self._blas = one_blas_thread()
        vert = read_shader("view_mesh.vert")
        self.mesh_prog = gl.program(vertex_shader=vert, fragment_shader=mesh_program_source(False))
        self.masked_prog = gl.program(vertex_shader=vert, fragment_shader=mesh_program_source(True))
        self.quad_prog = gl.program(vertex_shader=read_shader("view_quad.vert"),
                                    fragment_shader=read_shader("view_quad.frag"))
        self.point_prog = gl.program(vertex_shader=read_shader("view_points.vert"),
                                     fragment_shader=read_shader("view_points.frag"))
        self.fxaa_prog = gl.program(vertex_shader=read_shader("view_fxaa.vert"),
                                    fragment_shader=read_shader("view_fxaa.frag"))
        self.mark_prog = gl.program(vertex_shader=read_shader("view_fxaa.vert"),
                                    fragment_shader=_define(read_shader("view_fxaa.frag"), "MARK"))
        n = len(scene.positions)
        uv = scene.uv if scene.uv is not None else np.zeros((n, 2), np.float32)
        colours = scene.colours if scene.colours is not None else np.tile(
            np.array([[0.80, 0.62, 0.52, 1.0]], np.float32) ** np.array([2.2, 2.2, 2.2, 1.0], np.float32), (n, 1))
        gloss = scene.gloss if scene.gloss is not None else np.zeros(n, np.float32)
        static = np.concatenate([uv, colours, gloss[:, None]], 1).astype(np.float32)
        self.static = gl.buffer(static.tobytes())
        self.dynamic = gl.buffer(reserve=n * 24, dynamic=True)
        self._frame = np.empty((n, 6), np.float32)  # positions | normals, written to ``dynamic``
        shown = (colours[:, 3] >= 0.5)[scene.triangles]
        closed = ~scene.two_sided if scene.opening is not None else np.zeros(len(scene.triangles), bool)
        self.vaos, self.indices = [], []
        # the mesh's own triangle order is kept: it is coherent, and llvmpipe draws a depth-sorted one slower;
        # closed surfaces skip their back faces where no opening shows (Scene.opening)
        for prog, tri, cullable in ((self.mesh_prog, scene.triangles[shown.all(1) & closed], True),
                                    (self.mesh_prog, scene.triangles[shown.all(1) & ~closed], False),
                                    (self.masked_prog, scene.triangles[shown.any(1) & ~shown.all(1)], False)):
            if not len(tri):
                continue
            index = gl.buffer(np.ascontiguousarray(tri, np.uint32).tobytes())
            self.indices.append(index)
            self.vaos.append((prog, cullable, gl.vertex_array(
                prog, [(self.dynamic, "3f 3f", "in_pos", "in_normal"),
                       (self.static, "2f 4f 1f", "in_uv", "in_colour", "in_gloss")],
                index_buffer=index, index_element_size=4)))
        self.quad = gl.buffer(np.array([0, 0, 1, 0, 0, 1, 1, 1], np.float32).tobytes())
        self.quad_vao = gl.vertex_array(self.quad_prog, [(self.quad, "2f", "in_corner")])
        self.fxaa_vao = gl.vertex_array(self.fxaa_prog, [(self.quad, "2f", "in_corner")])
        self.mark_vao = gl.vertex_array(self.mark_prog, [(self.quad, "2f", "in_corner")])
        self.points = gl.buffer(reserve=max(len(scene.landmarks) if scene.landmarks is not None else 1, 1) * 12,
                                dynamic=True)
        self.points_vao = gl.vertex_array(self.point_prog, [(self.points, "3f", "in_pos")])
        self.texture = self._texture(scene.texture, mipmaps=True, srgb=True) if scene.texture is not None else None
        self.photo = self._texture(scene.photo) if scene.photo is not None else None
        for prog in (self.mesh_prog, self.masked_prog):
            prog["u_sh"].write(studio_sh().tobytes())
            prog["u_key"].value = tuple(np.asarray(KEY) / np.linalg.norm(KEY))
        self.normals = NormalOp(scene.triangles, scene.weld)
        self._weights_key = None
        self.vertices = scene.positions
        self._fbos: dict = {}
        self._matrices: tuple = (None, None)
        self._box, self._photo_drawn, self._background = None, False, BACKGROUND

    def _texture(self, image: np.ndarray, mipmaps: bool = False, srgb: bool = False):
        rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], 2) if image.shape[2] == 3 else image
        tex = self.gl.texture((image.shape[1], image.shape[0]), 4, np.ascontiguousarray(rgba).tobytes(),
                              internal_format=0x8C43 if srgb else None)  # GL_SRGB8_ALPHA8: sampled as linear
        if mipmaps:
            tex.build_mipmaps()
            tex.filter = (self._mgl.LINEAR_MIPMAP_LINEAR, self._mgl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    def set_time(self, t: float) -> np.ndarray | None:
        """Pose the mesh at time ``t`` s (weights and joints); returns the morph weights [K] used (None without
        targets)."""
        key = self.scene.pose_key(t)
        if key != self._weights_key:
            self._weights, self.vertices = self.scene.pose_at(t)  # morph weights, then joints (head, eyes)
            self._frame[:, :3] = self.vertices
            self._frame[:, 3:] = self.normals(self.vertices)
            self.dynamic.write(self._frame)
            self._weights_key = key
        return self._weights

    def matrices(self, width: int, height: int, state: ViewState) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        """``(model [4,4], proj [4,4], photo_rect)`` float32 for a ``width`` x ``height`` frame."""
        key = (width, height, state.yaw, state.pitch, state.distance, np.asarray(state.target).tobytes(),
               state.fitted, self.flip)
        if self._matrices[0] == key:  # the same view as the last frame
            return self._matrices[1]
        camera, rect = window_camera(self.scene, width, height, state)
        model = fitted_matrix(self.scene) if rect is not None else orbit_matrix(state)
        centre, radius = self.scene.centre_radius()
        depth = -(model[:3, :3] @ centre + model[:3, 3])[2]
        near, far = max(depth - 2.5 * radius, 0.5), depth + 2.5 * radius
        proj = camera.clip_matrix(near, far).astype(np.float32)
        if self.flip:
            proj[1] *= -1
        self._matrices = (key, (model, proj, rect))
        return model, proj, rect

    def draw(self, fbo, width: int, height: int, state: ViewState) -> None:
        """Draw the current pose into ``fbo`` (``width`` x ``height``; cleared first)."""
        mgl, gl = self._mgl, self.gl
        fbo.use()
        gl.viewport = (0, 0, width, height)
        fbo.clear(*state.background, 1.0, depth=1.0)
        model, proj, rect = self.matrices(width, height, state)
        self._photo_drawn = rect is not None and state.photo and self.photo is not None
        self._background = tuple(state.background)
        if self._photo_drawn:
            gl.disable(mgl.DEPTH_TEST)
            self._quad(self.photo, rect, 1.0)
        gl.enable(mgl.DEPTH_TEST)
        gl.disable(mgl.CULL_FACE)
        textured = state.textured and self.texture is not None
        if textured:
            self.texture.use(0)
        model_t, proj_t = model.T.tobytes(), proj.T.tobytes()  # GLSL matrices are column-major
        for p, _, _ in self.vaos:
            p["u_model"].write(model_t)
            p["u_proj"].write(proj_t)
            p["u_textured"].value = textured
            if textured:
                p["u_tex"].value = 0
            p["u_spec"].value, p["u_rim"].value = state.specular, state.rim
            p["u_mode"].value = 1 if state.normals else 0
        if state.wireframe:
            gl.polygon_offset = (1.0, 1.0)  # push the faces back so the lines over them win the depth test
        plane = self.scene.opening
        cull = plane is not None and float(plane[:3] @ (-model[:3, :3].T @ model[:3, 3])) < plane[3]
        # the offscreen projection's y points down the image, which mirrors the winding; a window flips it back
        gl.front_face = "ccw" if self.flip else "cw"
        for _, cullable, vao in self.vaos:
            (gl.enable if cull and cullable else gl.disable)(mgl.CULL_FACE)
            vao.render(mgl.TRIANGLES)
        gl.polygon_offset = (0.0, 0.0)
        if state.wireframe:
            gl.wireframe = True
            for p, cullable, vao in self.vaos:
                (gl.enable if cull and cullable else gl.disable)(mgl.CULL_FACE)
                p["u_mode"].value, p["u_flat"].value = 2, (0.10, 0.12, 0.16)
                vao.render(mgl.TRIANGLES)
            gl.wireframe = False
        gl.disable(mgl.CULL_FACE)
        if state.landmarks and self.scene.landmarks is not None:
            self.points.write(self.vertices[self.scene.landmarks].astype(np.float32).tobytes())
            gl.disable(mgl.DEPTH_TEST)
            gl.enable(mgl.PROGRAM_POINT_SIZE)
            q = self.point_prog
            q["u_model"].write(model_t)
            q["u_proj"].write(proj_t)
            q["u_size"].value = max(4.0, height / 150)
            q["u_colour"].value = (0.1, 0.95, 0.35)
            self.points_vao.render(mgl.POINTS)
            gl.enable(mgl.DEPTH_TEST)
        self._box = self._screen_box(model, proj, width, height)

    def _screen_box(self, model: np.ndarray, proj: np.ndarray, width: int, height: int):
        """``(x, y, w, h)`` GL pixels (rows bottom-up) holding the posed mesh with a margin (landmark dots
        included), or None when part of it lies behind the camera (then the whole frame)."""
        v = self.vertices
        lo, hi = v.min(0), v.max(0)
        corners = np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        clip = corners @ (proj.astype(np.float64) @ model.astype(np.float64)).T
        if (clip[:, 3] <= 1e-6).any():
            return None
        ndc = clip[:, :2] / clip[:, 3:]
        x0, x1 = (ndc[:, 0].min() + 1) / 2 * width, (ndc[:, 0].max() + 1) / 2 * width
        y0, y1 = (ndc[:, 1].min() + 1) / 2 * height, (ndc[:, 1].max() + 1) / 2 * height
        m = 2 + int(math.ceil(max(4.0, height / 150) / 2))
        x0, y0 = max(int(math.floor(x0)) - m, 0), max(int(math.floor(y0)) - m, 0)
        x1, y1 = min(int(math.ceil(x1)) + m, width), min(int(math.ceil(y1)) + m, height)
        return (x0, y0, max(x1 - x0, 0), max(y1 - y0, 0))

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

    def targets(self, width: int, height: int, samples: int | None = None):
        """``(draw_fbo, resolved_fbo)`` of one size, cached: draw into the first, ``resolve`` into the second
        and read from it. ``samples``: see the class."""
        key = (width, height, samples)
        if key not in self._fbos:
            gl, mgl = self.gl, self._mgl
            if samples is None:  # FXAA: the frame is a texture the resolve pass samples
                colour = gl.texture((width, height), 4)
                colour.filter = (mgl.LINEAR, mgl.LINEAR)
                colour.repeat_x = colour.repeat_y = False
                ms = gl.framebuffer([colour], gl.depth_renderbuffer((width, height)))
            else:
                n = min(samples, gl.max_samples) if samples > 1 else 0
                ms = gl.framebuffer([gl.renderbuffer((width, height), 4, samples=n)],
                                    gl.depth_renderbuffer((width, height), samples=n))
            # FXAA's passes flag edge pixels in a depth buffer of the resolved framebuffer
            res = gl.framebuffer([gl.renderbuffer((width, height), 4)],
                                 gl.depth_renderbuffer((width, height)) if samples is None else None)
            self._fbos[key] = (ms, res)
        return self._fbos[key]

    def resolve(self, width: int, height: int, samples: int | None = None, into=None) -> None:
        """The drawn frame of ``targets(width, height, samples)`` into its resolved framebuffer (or ``into``,
        e.g. a window's screen): an MSAA resolve, a copy, or (``samples`` None) FXAA over the mesh's screen
        box. Into another framebuffer with FXAA on a plain background, the frame is a clear and the FXAA
        pass alone: llvmpipe's blit of a whole frame into a window costs several ms."""
        ms, res = self.targets(width, height, samples)
        gl = self.gl
        box = self._box if self._box is not None else (0, 0, width, height)
        if into is not None and samples is None and not self._photo_drawn and box[2] > 0 and box[3] > 0:
            into.use()
            gl.viewport = (0, 0, width, height)
            into.clear(*self._background, 1.0)
            self._fxaa(ms, box)
            return
        gl.copy_framebuffer(res, ms)
        if samples is None and box[2] > 0 and box[3] > 0:
            res.use()
            gl.viewport = (0, 0, width, height)
            self._fxaa(ms, box)
        if into is not None:
            gl.copy_framebuffer(into, res)

    def _fxaa(self, ms, box) -> None:
        """FXAA from ``ms``'s colour texture over ``box`` of the current framebuffer (which has a depth
        buffer): the marking pass copies the box and flags its edge pixels in depth, the blend shades those."""
        gl, mgl = self.gl, self._mgl
        gl.enable(mgl.DEPTH_TEST)
        gl.scissor = box
        ms.color_attachments[0].use(0)
        gl.depth_func = "1"  # always: the marking pass writes every pixel's colour and flag
        self.mark_prog["u_frame"].value = 0
        self.mark_vao.render(mgl.TRIANGLE_STRIP)
        gl.depth_func = ">"  # the blend at depth 0.5 passes where the flag is 0 (an edge) only
        self.fxaa_prog["u_frame"].value = 0
        self.fxaa_vao.render(mgl.TRIANGLE_STRIP)
        gl.depth_func = "<"
        gl.disable(mgl.DEPTH_TEST)
        gl.scissor = None

    def render(self, width: int, height: int, state: ViewState, t: float = 0.0,
               samples: int | None = None) -> np.ndarray:
        """uint8 [H,W,3] image (top row first) of the scene at time ``t`` (offscreen; ``flip`` must be False)."""
        self.set_time(t)
        ms, res = self.targets(width, height, samples)
        self.draw(ms, width, height, state)
        self.resolve(width, height, samples)
        img = np.frombuffer(res.read(components=3), np.uint8).reshape(height, width, 3)
        return img[::-1].copy() if self.flip else img.copy()

    def release(self) -> None:
        getattr(self._blas, "restore_original_limits", lambda: None)()
        for ms, res in self._fbos.values():
            for f in (ms, res):
                for a in (*f.color_attachments, f.depth_attachment):
                    if a is not None:
                        a.release()
                f.release()
        for obj in (*[v for _, _, v in self.vaos], self.quad_vao, self.fxaa_vao, self.mark_vao, self.points_vao,
                    self.static, self.dynamic, *self.indices, self.quad, self.points, self.texture, self.photo,
                    self.mesh_prog, self.masked_prog, self.quad_prog, self.point_prog, self.fxaa_prog, self.mark_prog):
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
