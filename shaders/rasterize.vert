#version 330
// Each triangle's three corners are drawn as vertices of their own (no index buffer), in clip space
// (rasterize's pixel convention), with the corner's barycentric frame and the triangle's id + 1.
in vec4 pos;
in vec2 bary;
in float id;
out vec2 uv;
flat out float tri_id;

void main() {
    gl_Position = pos;
    uv = bary;
    tri_id = id;
}
