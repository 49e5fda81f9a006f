#version 330
// The mesh is drawn indexed: one GL vertex per mesh vertex, its clip-space position (rasterize's pixel
// convention). Which triangle covers a pixel is all the fragment shader writes.
in vec4 pos;

void main() {
    gl_Position = pos;
}
