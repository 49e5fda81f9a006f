#version 330
// face3d viewer: a mesh in camera space (cm, camera looking down -z), clip matrix from face3d.render.camera.
uniform mat4 u_model;  // model space (cm) -> camera space
uniform mat4 u_proj;   // camera space -> clip space
uniform vec3 u_sh[9];  // SH irradiance coefficients, linear RGB, camera space
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
out vec3 v_irradiance;

const float C0 = 0.28209479177387814, C1 = 0.4886025119029199, C2 = 1.0925484305920792;
const float C20 = 0.31539156525252005, C22 = 0.5462742152960396;

// Second-order SH irradiance (the basis and band factors of face3d.render.shading.sh_basis), per vertex:
// it varies slowly over a 26k-vertex face, and llvmpipe shades a fragment at the cost of many vertices.
vec3 irradiance(vec3 n) {
    float x = n.x, y = n.y, z = n.z;
    const float b1 = 2.0 / 3.0, b2 = 0.25;
    return C0 * u_sh[0]
         + b1 * C1 * (y * u_sh[1] + z * u_sh[2] + x * u_sh[3])
         + b2 * (C2 * x * y * u_sh[4] + C2 * y * z * u_sh[5] + C20 * (3.0 * z * z - 1.0) * u_sh[6]
                 + C2 * x * z * u_sh[7] + C22 * (x * x - y * y) * u_sh[8]);
}

void main() {
    vec4 p = u_model * vec4(in_pos, 1.0);
    v_pos = p.xyz;
    v_normal = mat3(u_model) * in_normal;
    v_irradiance = max(irradiance(normalize(v_normal)), vec3(0.0));
    v_uv = in_uv;
    v_colour = in_colour;
    v_gloss = in_gloss;
    gl_Position = u_proj * p;
}
