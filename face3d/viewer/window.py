"""``face3d view``: the scene in a real OpenGL window (glfw), with mouse and key controls and a small panel.

The window's event callbacks only forward to ``Viewer.on_key`` / ``on_mouse_button`` / ``on_cursor`` /
``on_scroll``, so tests (and scripts) drive the viewer through the same handlers a user does. Each frame is
drawn by ``face3d.viewer.draw.SceneRenderer`` into a framebuffer, resolved (FXAA by default, or MSAA) with the
panel over it and copied to the window; screenshots read the resolved frame.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from ..errors import Face3DError
from ..formats.scene import Scene
from .clock import AudioOutput, PlaybackClock
from .draw import SceneRenderer, ViewState, home_view

from .keys import KEYS  # noqa: E402


class NoDisplay(Face3DError):
    """No display to open a window on."""

    exit_code = 2


NO_DISPLAY_HINT = ("use `face3d render PATH -o OUT.png|OUT.mp4` (offscreen) or `face3d view PATH --html OUT.html` "
                   "(a page for any browser) instead")


def _glfw():
    try:
        import glfw
    except ImportError as e:  # pragma: no cover - glfw is a declared dependency
        raise NoDisplay(f"the glfw package is missing ({e}); reinstall face3d") from None
    glfw.ERROR_REPORTING = "ignore"  # failures are checked by return value and reported in one line
    return glfw


class Viewer:
    """A window showing ``scene``. ``size``: (width, height) pixels; ``visible``: False keeps the window hidden
    (it still has a real GL context); ``audio``: float32 mono samples [n] and their rate, or None;
    ``samples``: anti-aliasing as ``SceneRenderer`` takes it (None: FXAA; N >= 2: N-sample MSAA)."""

    def __init__(self, scene: Scene, size: tuple[int, int] = (1280, 720), visible: bool = True,
                 audio: tuple[np.ndarray, int] | None = None, title: str | None = None, samples: int | None = None,
                 say=print):
        import moderngl

        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise NoDisplay(f"no display to open a window on (DISPLAY is not set): {NO_DISPLAY_HINT}")
        glfw = self.glfw = _glfw()
        if not glfw.init():
            raise NoDisplay(f"cannot open a window on display {os.environ.get('DISPLAY', '')!r}: {NO_DISPLAY_HINT}")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, visible)
        glfw.window_hint(glfw.SAMPLES, 0)  # anti-aliasing happens in our own framebuffers
        glfw.window_hint(glfw.DEPTH_BITS, 24)  # FXAA flags its edge pixels in the window's depth buffer
        self.window = glfw.create_window(size[0], size[1], title or f"face3d view: {scene.path.name}", None, None)
        if not self.window:
            glfw.terminate()
            raise NoDisplay(f"cannot create an OpenGL 3.3 window on display {os.environ.get('DISPLAY', '')!r}: "
                            f"{NO_DISPLAY_HINT}")
        glfw.make_context_current(self.window)
        glfw.swap_interval(0)
        self.gl = moderngl.create_context()
        self.scene, self.samples = scene, samples
        self.renderer = SceneRenderer(self.gl, scene, flip=True)
        self.state = home_view(scene)
        self.clock = PlaybackClock(scene.duration, loop=True)
        self.audio = None
        if audio is not None:
            self.audio, reason = AudioOutput.open(*audio)
            if self.audio is None:
                say(f"face3d: {reason}: playing silently")
            else:
                self.clock.audio_position = self.audio.position
                self.clock.seek(0.0)
        self.show_panel, self.show_help, self.closed = True, False, False
        self.fps, self._frame_times, self._panel_key, self._panel_tex = 0.0, [], None, None
        self._drag, self._cursor, self._shift = None, (0.0, 0.0), False
        self.screenshots, self.say = 0, say
        self.weights = None
        glfw.set_key_callback(self.window, lambda w, key, sc, action, mods: self._key_event(key, action, mods))
        glfw.set_mouse_button_callback(self.window, lambda w, b, action, mods: self.on_mouse_button(
            b, action == glfw.PRESS, *glfw.get_cursor_pos(w), shift=bool(mods & glfw.MOD_SHIFT)))
        glfw.set_cursor_pos_callback(self.window, lambda w, x, y: self.on_cursor(x, y))
        glfw.set_scroll_callback(self.window, lambda w, dx, dy: self.on_scroll(dy))

    # ------------------------------------------------------------------------------------------ handlers

    def _key_event(self, key: int, action: int, mods: int) -> None:
        if action in (self.glfw.PRESS, self.glfw.REPEAT):
            self.on_key(key, shift=bool(mods & self.glfw.MOD_SHIFT))

    def on_key(self, key, shift: bool = False) -> None:
        """One key press: a glfw key code or a one-letter string ("t", "space", "left", ...)."""
        g = self.glfw
        names = {g.KEY_SPACE: "space", g.KEY_LEFT: "left", g.KEY_RIGHT: "right", g.KEY_HOME: "home",
                 g.KEY_ESCAPE: "escape", g.KEY_LEFT_BRACKET: "[", g.KEY_RIGHT_BRACKET: "]"}
        if isinstance(key, int):
            key = names.get(key) or (chr(key).lower() if 32 < key < 127 else "")
        s, c = self.state, self.clock
        frame = 1.0 / self.scene.fps
        if key == "space":
            c.toggle()
        elif key in ("left", "right"):
            c.pause()
            sign = 1 if key == "right" else -1
            if shift:
                c.step(sign * 1.0)
            else:  # onto the next keyframe, not a frame's length past wherever the clock stopped
                c.seek((round(c.time / frame) + sign) * frame)
        elif key == "home":
            c.seek(0.0)
        elif key == "o":
            c.set_loop(not c.loop)
        elif key == "[":
            c.set_speed(c.speed / 2)
        elif key == "]":
            c.set_speed(c.speed * 2)
        elif key == "r":
            self.state = self._reset(s)
        elif key in ("1", "2", "3"):
            self.state = self._reset(s, ("front", "three-quarter", "side")[int(key) - 1])
        elif key == "t":
            s.textured = not s.textured
        elif key == "w":
            s.wireframe = not s.wireframe
        elif key == "n":
            s.normals = not s.normals
        elif key == "l":
            s.landmarks = not s.landmarks
        elif key == "p":
            if self.scene.camera is not None:
                s.fitted = s.photo = not s.fitted
        elif key == "s":
            self.screenshots += 1
            path = Path(f"face3d-screenshot-{time.strftime('%Y%m%d-%H%M%S')}-{self.screenshots}.png")
            self.say(f"face3d: screenshot {self.screenshot(path)}")
        elif key == "h":
            self.show_help = not self.show_help
        elif key in ("q", "escape"):
            self.closed = True
        if self.audio is not None:
            self.audio.seek(c.time)
            self.audio.muted = not c.following_audio

    def _reset(self, old: ViewState, view: str = "front") -> ViewState:
        new = home_view(self.scene, view)
        for name in ("textured", "wireframe", "normals", "landmarks"):
            setattr(new, name, getattr(old, name))
        return new

    def on_mouse_button(self, button: int, pressed: bool, x: float, y: float, shift: bool = False) -> None:
        """Button 0 (left) orbits, 1 (right) or shift+left pans; a click on the time bar scrubs."""
        self._cursor = (x, y)
        if not pressed:
            self._drag = None
            return
        w, h = self.size
        if self.scene.animated and y > h - 28:  # the time bar along the bottom edge
            self._drag = "scrub"
            self.clock.seek(x / w * self.scene.duration)
        else:
            self._drag = "pan" if (button == 1 or shift or button == 2) else "orbit"
        if self._drag in ("orbit", "pan"):
            self.state.fitted = self.state.photo = False  # moving the camera leaves the fitted view

    def on_cursor(self, x: float, y: float) -> None:
        dx, dy = x - self._cursor[0], y - self._cursor[1]
        self._cursor = (x, y)
        s, (w, h) = self.state, self.size
        if self._drag == "orbit":
            s.yaw += dx / w * math.pi
            s.pitch = float(np.clip(s.pitch + dy / h * math.pi, -1.5, 1.5))
        elif self._drag == "pan":
            from .draw import FOV_Y, orbit_matrix
            scale = 2 * s.distance * math.tan(FOV_Y / 2) / h  # cm per pixel at the target
            r = orbit_matrix(s)[:3, :3]
            s.target = (s.target - r.T @ np.array([dx * scale, -dy * scale, 0.0])).astype(np.float32)
        elif self._drag == "scrub":
            self.clock.seek(min(max(x / w, 0.0), 1.0) * self.scene.duration)

    def on_scroll(self, dy: float) -> None:
        self.state.distance = float(np.clip(self.state.distance * 0.9 ** dy, 5.0, 2000.0))

    # ------------------------------------------------------------------------------------------ frames

    @property
    def size(self) -> tuple[int, int]:
        return self.glfw.get_framebuffer_size(self.window)

    def draw(self, t: float | None = None, panel: bool | None = None, keep: bool = False) -> None:
        """Draw one frame (at time ``t`` s, default the clock's) and show it. ``keep``: also leave it in the
        renderer's resolved framebuffer (for reading back); otherwise it may go straight to the window."""
        w, h = self.size
        if w == 0 or h == 0:
            return
        self.weights = self.renderer.set_time(self.clock.time if t is None else t)
        ms, res = self.renderer.targets(w, h, self.samples)
        self.renderer.draw(ms, w, h, self.state)
        out = res if keep else self.gl.screen
        self.renderer.resolve(w, h, self.samples, into=None if keep else out)
        if self.show_panel if panel is None else panel:
            out.use()
            self.gl.viewport = (0, 0, w, h)
            self._draw_panel(w, h, t)  # over the resolved frame: FXAA leaves the text alone
        if keep:
            self.gl.copy_framebuffer(self.gl.screen, res)
        self.glfw.swap_buffers(self.window)
        now = time.perf_counter()
        self._frame_times = [x for x in self._frame_times if now - x < 1.0] + [now]
        if len(self._frame_times) > 1:
            self.fps = (len(self._frame_times) - 1) / (self._frame_times[-1] - self._frame_times[0])

    def _draw_panel(self, w: int, h: int, t: float | None) -> None:
        from .panel import panel_image, timeline_image

        t = self.clock.time if t is None else t
        key = (round(t, 2), round(self.fps), self.show_help, self.clock.playing, self.clock.speed, self.clock.loop,
               tuple(vars(self.state).get(k) for k in ("textured", "wireframe", "normals", "landmarks", "photo")))
        if key != self._panel_key:
            img = panel_image(self.scene, self.clock, t, self.fps, self.weights, self.state,
                              KEYS if self.show_help else None)
            if self._panel_tex is not None:
                self._panel_tex.release()
            self._panel_tex = self.renderer._texture(img)
            self._panel_key = key
        ph, pw = self._panel_tex.height, self._panel_tex.width
        self.renderer.overlay(self._panel_tex, (-1 + 16 / w, -1 + 16 / h, -1 + (16 + 2 * pw) / w, -1 + (16 + 2 * ph) / h))
        if self.scene.animated:
            bar = timeline_image(w, t / max(self.scene.duration, 1e-9))
            tex = self.renderer._texture(bar)
            self.renderer.overlay(tex, (-1.0, 1 - 2 * bar.shape[0] / h, 1.0, 1.0))
            tex.release()

    def screenshot(self, path, t: float | None = None, panel: bool = True) -> Path:
        """Draw the frame (at ``t`` s) and write it as a PNG, atomically; returns the path."""
        from PIL import Image

        from ..formats.atomic import atomic_file

        self.draw(t, panel, keep=True)
        w, h = self.size
        _, res = self.renderer.targets(w, h, self.samples)
        img = np.frombuffer(res.read(components=3), np.uint8).reshape(h, w, 3)[::-1]
        path = Path(path)
        with atomic_file(path) as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
        return path

    def image(self, t: float | None = None, panel: bool = False) -> np.ndarray:
        """uint8 [H,W,3] of the frame (at ``t`` s) as shown (top row first)."""
        self.draw(t, panel, keep=True)
        w, h = self.size
        _, res = self.renderer.targets(w, h, self.samples)
        return np.frombuffer(res.read(components=3), np.uint8).reshape(h, w, 3)[::-1].copy()

    def poll(self) -> None:
        self.glfw.poll_events()
        if self.glfw.window_should_close(self.window):
            self.closed = True

    def run(self) -> None:
        """The interactive loop, until the window closes (or Q / esc)."""
        while not self.closed:
            self.poll()
            self.draw()
            if not self.clock.playing:
                time.sleep(0.01)  # nothing moves: don't spin a core

    def close(self) -> None:
        if self.audio is not None:
            self.audio.close()
        self.renderer.release()
        self.gl.release()
        self.glfw.destroy_window(self.window)
        self.glfw.terminate()

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def view(path, audio=None, screenshot=None, time_s: float = 0.0, size=(1280, 720), photo=None,
         view_name: str = "front", say=print) -> Path | None:
    """``face3d view``: open ``path`` (mesh, animated GLB or fit folder) in a window; with ``screenshot``,
    draw the frame at ``time_s`` into that PNG and close. ``audio``: a sound file played in sync."""
    from ..formats.atomic import check_output_file
    from ..formats.scene import read_scene

    if screenshot is not None:
        check_output_file(Path(screenshot))
    scene = read_scene(path, photo)
    samples = None
    if audio is not None and screenshot is None:
        from .media import load_audio_samples
        samples = load_audio_samples(audio, 44100)
    with Viewer(scene, size, visible=True, audio=None if samples is None else (samples, 44100), say=say) as v:
        v.state = v._reset(v.state, view_name)
        if scene.texture is None:
            v.state.textured = False
        if screenshot is not None:
            v.clock.pause()
            v.poll()
            return v.screenshot(screenshot, t=time_s, panel=False)
        if scene.animated:
            v.clock.seek(time_s)
        v.run()
    return None
