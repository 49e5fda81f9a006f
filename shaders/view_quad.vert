#version 330
// face3d viewer: a textured rectangle given in NDC (the photo behind the face, the on-screen panel).
uniform vec4 u_rect;   // x0, y0, x1, y1 in NDC, y pointing down the image
uniform float u_flip;  // -1 draws into a window (GL's rows go up), +1 offscreen (rows read back top first)
in vec2 in_corner;     // (0..1, 0..1), (0, 0) the image's top-left
out vec2 v_uv;

void main() {
    vec2 p = mix(u_rect.xy, u_rect.zw, in_corner);
    v_uv = in_corner;
    gl_Position = vec4(p.x, u_flip * p.y, 0.0, 1.0);
}
