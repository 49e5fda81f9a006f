#version 330
// rasterize's (u, v, z/w, triangle id + 1): GL's perspective-correct barycentrics of corners 0 and 1, the NDC
// depth (from the window depth in the default range [0, 1]) and the id (a float holds it exactly up to 2^24
// triangles). The clear value 0 is background.
in vec2 uv;
flat in float tri_id;
out vec4 rast;

void main() {
    rast = vec4(uv, 2.0 * gl_FragCoord.z - 1.0, tri_id);
}
