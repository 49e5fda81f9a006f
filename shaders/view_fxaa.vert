#version 330
// face3d viewer: a full-frame pass (the FXAA resolve); drawn with a scissor around the mesh.
in vec2 in_corner;  // (0..1, 0..1)

void main() {
    gl_Position = vec4(2.0 * in_corner - 1.0, 0.0, 1.0);  // depth 0.5: see view_fxaa.frag
}
