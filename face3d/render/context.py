"""The GL context the rasteriser draws with: created once by the caller and passed to every op.

A moderngl standalone context over EGL: headless on Mesa's llvmpipe, or a GPU's EGL driver where one exists.
GL calls go to whichever context is current on the thread, so every method makes this one current for its
duration (several contexts in one process — the overlay's, refinement's, a render's — otherwise draw into
each other's objects, or into nothing once another was released). It owns the GL objects that are worth
keeping between calls: the shader program, one framebuffer per resolution, the index buffer of the last
triangle list, the position buffer and the array the triangle ids are read into.
"""
from __future__ import annotations

import weakref

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
        self._readback: np.ndarray | None = None
        self._pos = self._index = self._vao = None
        self._tri_key = None

    @property
    def renderer(self) -> str:
        """The GL driver's name, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        return self.gl.info["GL_RENDERER"]

    def framebuffer(self, width: int, height: int):
        """The cached framebuffer of one resolution: one R32F attachment (triangle id + 1) and a depth buffer."""
        with self.gl:
            return self._framebuffer(width, height)

    def _framebuffer(self, width: int, height: int):
        fbo = self._fbos.get((width, height))
        if fbo is None:
            colour = self.gl.renderbuffer((width, height), components=1, dtype="f4")
            depth = self.gl.depth_renderbuffer((width, height))
            fbo = self._fbos[(width, height)] = self.gl.framebuffer([colour], depth)
        return fbo

    def readback_buffer(self, batch: int, height: int, width: int) -> np.ndarray:
        """A float32 ``[B,H,W]`` array to read ids into, kept between calls (fresh memory costs a page fault
        per 4 KiB when first written). Its contents last only until the next call."""
        if self._readback is None or self._readback.shape != (batch, height, width):
            self._readback = np.empty((batch, height, width), np.float32)
        return self._readback

    def set_triangles(self, tri: torch.Tensor) -> None:
        """Prepare to draw ``tri [F,3]``: its int32 index buffer is uploaded once per triangle list (the very
        tensor of last time, unchanged since, is the same list; a storage address is not: a freed tensor's
        memory comes back to the next one, holding other triangles)."""
        last = self._tri_key
        try:
            version = tri._version
        except RuntimeError:  # an inference tensor keeps no version: always uploaded
            version = None
        if version is None or last is None or last[0]() is not tri or last[1] != version:
            assert tri.shape[0] < 2 ** 24, "triangle ids are read back as float32: at most 2^24 triangles"
            with self.gl:
                self._index = self._upload(self._index, tri.detach().cpu().to(torch.int32).numpy())
            self._tri_key = None if version is None else (weakref.ref(tri), version)

    def set_positions(self, positions: torch.Tensor) -> None:
        """Upload the clip-space positions of the mesh's vertices: float32 ``[V,4]`` contiguous."""
        with self.gl:
            self._pos = self._upload(self._pos, positions.numpy())

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
        """Rasterise the uploaded triangles into ``out [H,W] float32``: triangle id + 1 per pixel, 0 for
        background (see ``rasterize``)."""
        with self.gl:
            self._draw(width, height, out, cull_backfaces)

    def _draw(self, width: int, height: int, out: np.ndarray, cull_backfaces: bool) -> None:
        mgl = self._moderngl
        if self._vao is None:
            self._vao = self.gl.vertex_array(self.program, [(self._pos, "4f", "pos")],
                                             index_buffer=self._index, index_element_size=4)
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
        fbo.read_into(out, components=1, dtype="f4")

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
        for obj in (self._vao, self._pos, self._index, self.program):
            self._release(obj)
        self._vao = self._pos = self._index = None
        self._tri_key = None

    def __enter__(self) -> "RenderContext":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
