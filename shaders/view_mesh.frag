#version 330
// face3d viewer shading: albedo (vertex colour x texture) under second-order SH irradiance (the basis and
// band factors of face3d.render.shading.sh_basis), plus a Blinn-Phong highlight and a soft rim light.
// Compiled twice: with MASKED defined for the triangles some of whose vertices are hidden (alpha < 0.5),
// and without for the rest, whose fragments can then be depth-tested before shading (no discard).
uniform vec3 u_sh[9];        // SH irradiance coefficients, linear RGB, camera space
uniform vec3 u_key;          // unit direction towards the key light (camera space)
uniform float u_spec;        // highlight strength on skin; the eyes (gloss 1) get a sharper, brighter one
uniform float u_rim;         // rim light strength
uniform int u_mode;          // 0 shaded, 1 normals as colours, 2 flat u_flat (wireframe lines)
uniform bool u_textured;
uniform vec3 u_flat;
uniform sampler2D u_tex;
in vec3 v_pos;
in vec3 v_normal;
in vec2 v_uv;
in vec4 v_colour;
in float v_gloss;
out vec4 f_colour;

const float C0 = 0.28209479177387814, C1 = 0.4886025119029199, C2 = 1.0925484305920792;
const float C20 = 0.31539156525252005, C22 = 0.5462742152960396;

vec3 irradiance(vec3 n) {
    float x = n.x, y = n.y, z = n.z;
    const float b1 = 2.0 / 3.0, b2 = 0.25;
    return C0 * u_sh[0]
         + b1 * C1 * (y * u_sh[1] + z * u_sh[2] + x * u_sh[3])
         + b2 * (C2 * x * y * u_sh[4] + C2 * y * z * u_sh[5] + C20 * (3.0 * z * z - 1.0) * u_sh[6]
                 + C2 * x * z * u_sh[7] + C22 * (x * x - y * y) * u_sh[8]);
}

void main() {
#ifdef MASKED
    if (v_colour.a < 0.5) discard;  // eye overlay shells and the cornea bulge (see face3d.materials)
#endif
    if (u_mode == 2) { f_colour = vec4(u_flat, 1.0); return; }
    vec3 n = normalize(v_normal);
    if (u_mode == 1) { f_colour = vec4(0.5 + 0.5 * n, 1.0); return; }
    vec3 albedo = v_colour.rgb;
    if (u_textured) albedo *= pow(texture(u_tex, v_uv).rgb, vec3(2.2));  // sRGB texels -> linear
    vec3 colour = albedo * max(irradiance(n), vec3(0.0));
    vec3 view = normalize(-v_pos);
    vec3 h = normalize(view + u_key);
    float shine = mix(24.0, 160.0, v_gloss);
    float strength = u_spec * mix(1.0, 12.0, v_gloss);
    colour += strength * pow(max(dot(n, h), 0.0), shine) * vec3(1.0, 0.97, 0.92);
    float rim = 1.0 - max(dot(n, view), 0.0);
    rim *= rim;
    colour += u_rim * rim * rim * vec3(0.55, 0.62, 0.75);  // (1 - n.v)^4
    f_colour = vec4(pow(clamp(colour, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
