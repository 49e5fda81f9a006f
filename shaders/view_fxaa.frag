#version 330
// face3d viewer anti-aliasing: FXAA (after T. Lottes' FXAA 2/3 "console" variant) over the single-sampled
// frame, in place of MSAA that costs llvmpipe several times a plain frame. Pixels whose neighbourhood has
// little contrast (skin, texture detail) are passed through untouched; edges are blended along their
// direction over up to SPAN_MAX pixels. The frame holds gamma-encoded colours, so luma is perceptual.
// Two passes (llvmpipe runs both sides of a branch, so the blend would cost every pixel): compiled with
// MARK, it copies each pixel and writes depth 0 where it is an edge, 1 elsewhere; then, without MARK, it runs
// at depth 0.5 with the depth test GREATER, so only the edge pixels (a few %) are shaded.
uniform sampler2D u_frame;  // the frame, LINEAR filtered, clamped at the edges
out vec4 f_colour;

const float EDGE_MIN = 1.0 / 24.0;   // below this absolute contrast nothing is done (dark areas)
const float EDGE_REL = 1.0 / 8.0;    // ... nor below this fraction of the local maximum luma
const float REDUCE_MIN = 1.0 / 128.0;
const float REDUCE_MUL = 1.0 / 8.0;
const float SPAN_MAX = 8.0;
const vec3 LUMA = vec3(0.299, 0.587, 0.114);

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    ivec2 hi = textureSize(u_frame, 0) - 1;
    vec3 rgbM = texelFetch(u_frame, p, 0).rgb;
    float lM = dot(rgbM, LUMA);
    float lNW = dot(texelFetch(u_frame, clamp(p + ivec2(-1, -1), ivec2(0), hi), 0).rgb, LUMA);
    float lNE = dot(texelFetch(u_frame, clamp(p + ivec2(1, -1), ivec2(0), hi), 0).rgb, LUMA);
    float lSW = dot(texelFetch(u_frame, clamp(p + ivec2(-1, 1), ivec2(0), hi), 0).rgb, LUMA);
    float lSE = dot(texelFetch(u_frame, clamp(p + ivec2(1, 1), ivec2(0), hi), 0).rgb, LUMA);
    float lMin = min(lM, min(min(lNW, lNE), min(lSW, lSE)));
    float lMax = max(lM, max(max(lNW, lNE), max(lSW, lSE)));
    bool flat_ = lMax - lMin < max(EDGE_MIN, lMax * EDGE_REL);
#ifdef MARK
    f_colour = vec4(rgbM, 1.0);
    gl_FragDepth = flat_ ? 1.0 : 0.0;
    return;
#endif
    if (flat_) { f_colour = vec4(rgbM, 1.0); return; }
    vec2 inv = 1.0 / vec2(textureSize(u_frame, 0));
    vec2 uv = gl_FragCoord.xy * inv;
    vec2 dir = vec2(-((lNW + lNE) - (lSW + lSE)), (lNW + lSW) - (lNE + lSE));
    float reduce = max((lNW + lNE + lSW + lSE) * (0.25 * REDUCE_MUL), REDUCE_MIN);
    float rcpMin = 1.0 / (min(abs(dir.x), abs(dir.y)) + reduce);
    dir = clamp(dir * rcpMin, vec2(-SPAN_MAX), vec2(SPAN_MAX)) * inv;
    vec3 rgbA = 0.5 * (texture(u_frame, uv + dir * (1.0 / 3.0 - 0.5)).rgb +
                       texture(u_frame, uv + dir * (2.0 / 3.0 - 0.5)).rgb);
    vec3 rgbB = rgbA * 0.5 + 0.25 * (texture(u_frame, uv - 0.5 * dir).rgb + texture(u_frame, uv + 0.5 * dir).rgb);
    float lB = dot(rgbB, LUMA);
    f_colour = vec4((lB < lMin || lB > lMax) ? rgbA : rgbB, 1.0);
}
