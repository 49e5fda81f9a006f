#version 330
// (u, v, z/w, triangle id + 1): u, v are perspective-correct barycentrics of corners 0 and 1, z/w the NDC
// depth; (0, 0, 0, 0), the clear value, is background. A float holds ids exactly up to 2^24 triangles.
in vec2 bary;
flat in float tid;

out vec4 rast;

void main() {
    rast = vec4(bary, 2.0 * gl_FragCoord.z - 1.0, tid);
}
