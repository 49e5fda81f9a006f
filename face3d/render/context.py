"""The GL context the rasteriser draws with: created once by the caller and passed to every op.

A moderngl standalone context over EGL: headless on Mesa's llvmpipe, or a GPU's EGL driver where one exists.
GL calls go to whichever context is current on the thread, so every method makes this one current for its
duration (several contexts in one process — the overlay's, refinement's, a render's — otherwise draw into
each other's objects, or into nothing once another was released). It owns the GL objects that are worth keeping between calls: the shader program, one framebuffer per
resolution, the per-corner constants of the last triangle list and the position buffer.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import Face3DError
from ..resources import read_shader

# The Debian packages that provide EGL and a software OpenGL driver (CI installs them in .ci/run).
SYSTEM_PACKAGES = "libegl1 libgl1-mesa-dri"


class RenderUnavailable(Face3DError):
    """No OpenGL context could be created (missing EGL or Mesa system libraries)."""

    exit_code = 3


class RenderContext:
    """An OpenGL 3.3+ context for ``rasterize``. Not thread-safe: use one per thread.

    ``backend``: moderngl's standalone backend ("egl" headless). ``RenderUnavailable`` when no context can
    be created, naming the system package to install.
    """

    def __init__(self, backend: str = "egl"):
        try:
            import moderngl
        except ImportError as e:  # pragma: no cover - moderngl is a declared dependency
            raise RenderUnavailable(f"moderngl is not installed ({e}); reinstall face3d") from None
        try:
            self.gl = moderngl.create_standalone_context(backend=backend, require=330)
        except Exception as e:  # moderngl/glcontext raise bare Exceptions for missing libraries
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise RenderUnavailable(f"no OpenGL context ({reason}): install the system packages "
                                    f"{SYSTEM_PACKAGES} (apt-get install -y {SYSTEM_PACKAGES})") from None
        self._moderngl = moderngl
        self.program = self.gl.program(vertex_shader=read_shader("rasterize.vert"),
                                       fragment_shader=read_shader("rasterize.frag"))
        self._fbos: dict[tuple[int, int], object] = {}
        self._pos = self._const = self._vao = None
        self._tri_key = self._flat = None

    @property
    def renderer(self) -> str:
        """The GL driver's name, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        return self.gl.info["GL_RENDERER"]

    def framebuffer(self, width: int, height: int):
        """The cached framebuffer of one resolution: an RGBA32F attachment and a depth buffer."""
        with self.gl:
            return self._framebuffer(width, height)

    def _framebuffer(self, width: int, height: int):
        fbo = self._fbos.get((width, height))
        if fbo is None:
            colour = self.gl.renderbuffer((width, height), components=4, dtype="f4")
            depth = self.gl.depth_renderbuffer((width, height))
            fbo = self._fbos[(width, height)] = self.gl.framebuffer([colour], depth)
        return fbo

    def set_triangles(self, tri: torch.Tensor) -> torch.Tensor:
        """Prepare to draw ``tri [F,3]``: returns its corners flattened, int64 ``[3F]``. The per-corner
        constants (barycentric unit vector, triangle id + 1) are uploaded once per triangle list (same
        storage and version as last time means the same list)."""
        key = (tri.data_ptr(), tuple(tri.shape), tri._version)
        if key != self._tri_key:
            f = tri.shape[0]
            corner = np.tile(np.array([[1, 0], [0, 1], [0, 0]], np.float32), (f, 1))
            ids = np.repeat(np.arange(1, f + 1, dtype=np.float32), 3)[:, None]
            with self.gl:
                self._const = self._upload(self._const, np.concatenate([corner, ids], 1))
            self._flat = tri.detach().reshape(-1).long()
            self._tri_key = key
        return self._flat

    def set_positions(self, corners: torch.Tensor) -> None:
        """Upload the clip-space positions of every triangle corner: float32 ``[3F,4]`` contiguous."""
        with self.gl:
            self._pos = self._upload(self._pos, corners.numpy())

    def _upload(self, buf, data: np.ndarray):
        data = data.tobytes()
        if buf is None or buf.size != len(data):
            self._release(buf)
            buf = self.gl.buffer(data, dynamic=True)
            self._vao = self._release(self._vao)
        else:
            buf.write(data)
        return buf

    def draw(self, width: int, height: int, out: np.ndarray, cull_backfaces: bool = False) -> None:
        """Rasterise the uploaded corners into ``out [H,W,4] float32`` (see ``rasterize``)."""
        with self.gl:
            self._draw(width, height, out, cull_backfaces)

    def _draw(self, width: int, height: int, out: np.ndarray, cull_backfaces: bool) -> None:
        mgl = self._moderngl
        if self._vao is None:
            self._vao = self.gl.vertex_array(self.program, [(self._pos, "4f", "pos"),
                                                            (self._const, "2f 1f", "corner", "triangle")])
        fbo = self._framebuffer(width, height)
        fbo.use()
        self.gl.enable(mgl.DEPTH_TEST)
        if cull_backfaces:
            # rasterize's NDC y points down the image, which mirrors GL's window: a triangle that is
            # counter-clockwise as seen by the camera (y up) is clockwise to GL.
            self.gl.enable(mgl.CULL_FACE)
            self.gl.front_face = "cw"
        else:
            self.gl.disable(mgl.CULL_FACE)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self._vao.render(mgl.TRIANGLES)
        fbo.read_into(out, components=4, dtype="f4")

    @staticmethod
    def _release(obj):
        if obj is not None:
            obj.release()
        return None

    def release(self) -> None:
        """Free the GL context and everything made in it."""
        with self.gl:
            self._release_objects()
        self.gl.release()

    def _release_objects(self) -> None:
        for fbo in self._fbos.values():
            for a in (*fbo.color_attachments, fbo.depth_attachment):
                a.release()
            fbo.release()
        self._fbos.clear()
        for obj in (self._vao, self._pos, self._const, self.program):
            self._release(obj)
        self._vao = self._pos = self._const = None

    def __enter__(self) -> "RenderContext":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
