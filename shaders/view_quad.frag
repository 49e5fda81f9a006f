#version 330
uniform sampler2D u_tex;
uniform float u_alpha;
in vec2 v_uv;
out vec4 f_colour;

void main() {
    vec4 c = texture(u_tex, v_uv);
    f_colour = vec4(c.rgb, c.a * u_alpha);
}
