#version 330
// face3d viewer: landmark points drawn as round dots on top of the mesh.
uniform mat4 u_model;
uniform mat4 u_proj;
uniform float u_size;
in vec3 in_pos;

void main() {
    gl_Position = u_proj * (u_model * vec4(in_pos, 1.0));
    gl_PointSize = u_size;
}
