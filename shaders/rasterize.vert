#version 330
// One GL vertex per triangle corner (the mesh is drawn unindexed): the corner's clip-space position,
// its barycentric unit vector and its triangle's id + 1. Drawing unindexed is what lets every triangle
// carry its own id: reading gl_PrimitiveID instead halves llvmpipe's speed.
in vec4 pos;
in vec2 corner;
in float triangle;

out vec2 bary;
flat out float tid;

void main() {
    gl_Position = pos;
    bary = corner;
    tid = triangle;
}
