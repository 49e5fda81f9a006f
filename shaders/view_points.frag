#version 330
uniform vec3 u_colour;
out vec4 f_colour;

void main() {
    if (length(gl_PointCoord - vec2(0.5)) > 0.5) discard;
    f_colour = vec4(u_colour, 1.0);
}
