#version 330
// face3d viewer: a mesh in camera space (cm, camera looking down -z), clip matrix from face3d.render.camera.
uniform mat4 u_model;  // model space (cm) -> camera space
uniform mat4 u_proj;   // camera space -> clip space
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_colour;
in float in_gloss;
out vec3 v_pos;
out vec3 v_normal;
out vec2 v_uv;
out vec4 v_colour;
out float v_gloss;

void main() {
    vec4 p = u_model * vec4(in_pos, 1.0);
    v_pos = p.xyz;
    v_normal = mat3(u_model) * in_normal;
    v_uv = in_uv;
    v_colour = in_colour;
    v_gloss = in_gloss;
    gl_Position = u_proj * p;
}
