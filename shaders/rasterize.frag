#version 330
// The triangle id + 1 (its index in the draw; a float holds it exactly up to 2^24 triangles); 0, the clear
// value, is background. rasterize derives the barycentrics and depth of each covered pixel in torch, so a
// single float channel is all that is read back.
out float tid;

void main() {
    tid = float(gl_PrimitiveID + 1);
}
