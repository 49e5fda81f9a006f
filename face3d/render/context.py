"""The GL context the rasteriser draws with: created once by the caller and passed to every op.

A moderngl standalone context over EGL: headless on Mesa's llvmpipe, or a GPU's EGL driver where one exists.
GL calls go to whichever context is current on the thread, so every method makes this one current for its
duration (several contexts in one process — the overlay's, refinement's, a render's — otherwise draw into
each other's objects, or into nothing once another was released). It owns the GL objects that are worth
keeping between calls: the shader program, one framebuffer per resolution, the buffers of the triangles'
corners and of their barycentric frames and ids.
"""
from __future__ import annotations

import ctypes
import functools
import platform

import numpy as np

from ..errors import Face3DError
from ..resources import read_shader

# The Debian packages that provide EGL and a software OpenGL driver (CI installs them in .ci/run).
SYSTEM_PACKAGES = "libegl1 libgl1-mesa-dri"


@functools.cache
def reuse_freed_memory() -> None:
    """Have glibc keep freed blocks of up to 64 MiB for reuse (and trim the heap only past 256 MiB free).

    Its defaults unmap a freed image-sized block, or trim it off the heap, so every frame's images
    ``[B,H,W,C]`` were page-faulted in afresh: ~3,000 faults, 2-3 ms of a 512² forward. Process-wide, like
    a thread count; set by the first ``RenderContext``; nothing where the C library is not glibc.
    """
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    libc.mallopt(m_mmap_threshold, 64 << 20)
    libc.mallopt(m_trim_threshold, 256 << 20)


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
        reuse_freed_memory()
        self.program = self.gl.program(vertex_shader=read_shader("rasterize.vert"),
                                       fragment_shader=read_shader("rasterize.frag"))
        self._fbos: dict[tuple[int, int], object] = {}
        self._pos = self._frames = self._vao = None

    @property
    def renderer(self) -> str:
        """The GL driver's name, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        return self.gl.info["GL_RENDERER"]

    def framebuffer(self, width: int, height: int):
        """The cached framebuffer of one resolution: one RGBA32F attachment (``rasterize``'s u, v, z/w,
        triangle id + 1) and a depth buffer."""
        with self.gl:
            return self._framebuffer(width, height)

    def _framebuffer(self, width: int, height: int):
        fbo = self._fbos.get((width, height))
        if fbo is None:
            colour = self.gl.renderbuffer((width, height), components=4, dtype="f4")
            depth = self.gl.depth_renderbuffer((width, height))
            fbo = self._fbos[(width, height)] = self.gl.framebuffer([colour], depth)
        return fbo

    def set_corners(self, corners: np.ndarray) -> None:
        """Upload the triangles to draw: float32 ``[3F,4]``, the clip-space positions of each triangle's
        corners in turn. (Drawn without an index buffer: each triangle's corners are its own, so they carry
        its barycentric frame and its id. On llvmpipe that is as fast as an indexed draw, and faster than
        ``gl_PrimitiveID``, which takes a slower path: 8.3 against 5.1 ms on the ICT mesh at 512².)"""
        assert corners.dtype == np.float32 and corners.ndim == 2 and corners.shape[1] == 4
        n = len(corners) // 3
        assert n < 2 ** 24, "triangle ids are drawn as float32: at most 2^24 triangles"
        with self.gl:
            if self._frames is None or self._frames.size != n * 3 * 12:
                # Per corner: its barycentric (1,0), (0,1), (0,0) and the triangle's id + 1; fixed per size.
                frame = np.zeros((n, 3, 3), np.float32)
                frame[:, 0, 0] = frame[:, 1, 1] = 1
                frame[:, :, 2] = np.arange(1, n + 1, dtype=np.float32)[:, None]
                self._frames = self._upload(self._frames, frame)
            self._pos = self._upload(self._pos, corners)

    def _upload(self, buf, data: np.ndarray):
        data = np.ascontiguousarray(data)
        if buf is None or buf.size != data.nbytes:
            self._release(buf)
            buf = self.gl.buffer(data, dynamic=True)
            self._vao = self._release(self._vao)
        else:
            buf.write(data)
        return buf

    def draw(self, width: int, height: int, out: np.ndarray, cull_backfaces: bool = False) -> None:
        """Rasterise the uploaded triangles into ``out [H,W,4] float32``: per pixel the perspective-correct
        barycentrics of the visible triangle's corners 0 and 1, its NDC depth and its id + 1; all zero on
        background (see ``rasterize``)."""
        with self.gl:
            self._draw(width, height, out, cull_backfaces)

    def _draw(self, width: int, height: int, out: np.ndarray, cull_backfaces: bool) -> None:
        mgl = self._moderngl
        if self._vao is None:
            self._vao = self.gl.vertex_array(self.program, [(self._pos, "4f", "pos"),
                                                            (self._frames, "2f 1f", "bary", "id")])
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
        for obj in (self._vao, self._pos, self._frames, self.program):
            self._release(obj)
        self._vao = self._pos = self._frames = None

    def __enter__(self) -> "RenderContext":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
