"""The viewer's keys and mouse: one list for the window's on-screen help and `face3d view --help`
(kept free of heavy imports: the command line reads it on every start)."""

KEYS = [
    ("mouse left drag", "orbit"), ("mouse right / shift+left drag", "pan"), ("scroll", "zoom"),
    ("R", "reset view"), ("1 / 2 / 3", "front / three-quarter / side"),
    ("space", "play / pause"), ("left / right", "step a frame (shift: 1 s)"), ("home", "to the start"),
    ("click the time bar", "scrub"), ("O", "loop on / off"), ("[ / ]", "slower / faster"),
    ("T", "texture"), ("W", "wireframe"), ("N", "normals"), ("L", "landmarks"),
    ("P", "photo behind the face (fitted camera)"), ("S", "screenshot (PNG in the current folder)"),
    ("H", "this key list"), ("Q / esc", "quit"),
]
HELP = "\n".join(f"  {k:32s} {v}" for k, v in KEYS)
