#version 330
// face3d viewer shading: albedo (vertex colour x texture) under the SH irradiance of view_mesh.vert, plus a
// Blinn-Phong highlight and a soft rim light.
// Compiled twice: with MASKED defined for the triangles some of whose vertices are hidden (alpha < 0.5),
// and without for the rest, whose fragments can then be depth-tested before shading (no discard).
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
in vec3 v_irradiance;
out vec4 f_colour;

void main() {
#ifdef MASKED
    if (v_colour.a < 0.5) discard;  // eye overlay shells and the cornea bulge (see face3d.materials)
#endif
    if (u_mode == 2) { f_colour = vec4(u_flat, 1.0); return; }
    vec3 n = normalize(v_normal);
    if (u_mode == 1) { f_colour = vec4(0.5 + 0.5 * n, 1.0); return; }
    vec3 albedo = v_colour.rgb;
    if (u_textured) albedo *= texture(u_tex, v_uv).rgb;  // an sRGB texture: GL samples it linear
    vec3 colour = albedo * v_irradiance;
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
