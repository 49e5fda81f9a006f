"""The rendering ops: gradients (gradcheck, finite differences), visibility against a brute-force z-buffer,
pixel convention against camera.project, inverse rendering of the ICT face, and the overlay."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from face3d.camera import Camera, project
from face3d.geometry import rigid_transform
from face3d.threads import one_thread
from face3d.render import (RenderContext, RenderUnavailable, antialias, edge_topology, interpolate, lambert,
                           pixel_normals, rasterize, sh_basis, sh_directional, sh_irradiance, specular,
                           texture, to_clip, vertex_normals)


@pytest.fixture(scope="module")
def ctx():
    with RenderContext() as c:  # CI has Mesa's llvmpipe: no skip when GL is missing, a failure
        yield c


def _quad_scene(dtype=torch.float64):
    """Two triangles in clip space at different depths, partly overlapping: ``pos [1,5,4]``, ``tri [2,3]``."""
    pos = torch.tensor([[[-0.7, -0.6, 0.2, 1.0], [0.6, -0.5, 0.3, 1.2], [-0.1, 0.7, 0.1, 0.9],
                         [0.7, 0.6, -0.2, 1.1], [-0.2, 0.1, -0.3, 1.0]]], dtype=dtype)
    tri = torch.tensor([[0, 1, 2], [1, 3, 4]], dtype=torch.int32)
    return pos, tri


def test_contexts_in_one_process_do_not_draw_into_each_other(ctx):
    # The overlay's, refinement's and a render's contexts live side by side; creating or releasing one must
    # not leave another drawing into the wrong (or no) context: CI once read an uncleared buffer that way.
    pos, tri = _quad_scene()
    before = rasterize(ctx, pos, tri, (24, 32))
    with RenderContext() as other:
        assert torch.equal(rasterize(other, pos, tri, (24, 32)), before)
        assert torch.equal(rasterize(ctx, pos, tri, (24, 32)), before)
    assert torch.equal(rasterize(ctx, pos, tri, (24, 32)), before)  # after the other's release
    assert (before[..., 3] > 0).any()


def test_context_error_names_the_system_package():
    with pytest.raises(RenderUnavailable) as e:
        RenderContext(backend="no-such-backend")
    assert e.value.exit_code == 3
    msg = str(e.value)
    assert "\n" not in msg and "libegl1" in msg and "libgl1-mesa-dri" in msg


def test_rasterize_barycentrics_gradcheck(ctx):
    pos, tri = _quad_scene()
    pos.requires_grad_()
    rast = rasterize(ctx, pos, tri, (12, 14))
    assert rast.shape == (1, 12, 14, 4) and rast.dtype == torch.float64
    assert set(rast[..., 3].unique().tolist()) == {0.0, 1.0, 2.0}  # both triangles and background
    assert torch.autograd.gradcheck(lambda p: rasterize(ctx, p, tri, (12, 14))[..., :3], (pos,), eps=1e-7,
                                    atol=1e-5)


def test_rasterize_torch_path_matches_gl(ctx):
    pos, tri = _quad_scene(torch.float32)
    gl = rasterize(ctx, pos, tri, (32, 32))
    grad = rasterize(ctx, pos.clone().requires_grad_(), tri, (32, 32)).detach()
    assert torch.equal(gl[..., 3], grad[..., 3])
    assert (gl[..., :3] - grad[..., :3]).abs().max() < 1e-4


def test_interpolate_gradcheck_with_separate_attribute_triangles(ctx):
    pos, tri = _quad_scene()
    rast = rasterize(ctx, pos.clone().requires_grad_(), tri, (10, 10)).detach().requires_grad_()
    attr = torch.rand(7, 2, dtype=torch.float64, requires_grad=True)
    attr_tri = torch.tensor([[4, 5, 6], [0, 2, 3]], dtype=torch.int32)  # a UV-like second vertex list
    assert torch.autograd.gradcheck(lambda a, r: interpolate(a, r, attr_tri), (attr, rast))
    out = interpolate(attr, rast, attr_tri)
    assert out.shape == (1, 10, 10, 2)
    assert (out[rast[..., 3] == 0] == 0).all()
    # At a pixel on triangle 0 the value mixes attribute rows 4, 5, 6 with the pixel's barycentrics.
    i, j = (rast[0, ..., 3] == 1).nonzero()[0]
    u, v = rast[0, i, j, :2]
    want = u * attr[4] + v * attr[5] + (1 - u - v) * attr[6]
    assert torch.allclose(out[0, i, j], want)


def test_texture_gradcheck_and_convention():
    tex = torch.rand(1, 5, 6, 3, dtype=torch.float64, requires_grad=True)
    uv = (0.1 + 0.8 * torch.rand(2, 3, 4, 2, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(texture, (tex, uv))
    # Texel centres: (k + 0.5) / size picks texel k exactly; u runs along the width, v along the rows.
    centre = torch.tensor([[[[(2 + 0.5) / 6, (3 + 0.5) / 5]]]], dtype=torch.float64)
    assert torch.allclose(texture(tex, centre)[0, 0, 0], tex[0, 3, 2])


def test_antialias_gradient_moves_the_silhouette(ctx):
    """A vertex on the outline of a white triangle over black: moving it outwards grows the white area,
    and autograd's gradient agrees with finite differences in sign and size."""
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    base = torch.tensor([[[-0.61, -0.53, 0.0, 1.0], [0.57, -0.47, 0.0, 1.0], [0.03, 0.66, 0.0, 1.0]]],
                        dtype=torch.float64)
    topo = edge_topology(tri)
    assert (topo == -1).all()

    def coverage(pos):
        rast = rasterize(ctx, pos, tri, (40, 40))
        white = interpolate(torch.ones(3, 1, dtype=pos.dtype), rast, tri)
        return antialias(white, rast, pos, tri, topo).sum()

    pos = base.clone().requires_grad_()
    coverage(pos).backward()
    g = pos.grad[0, 1, 0].item()  # d coverage / d x of the right-hand corner
    h = 1e-4  # small enough that no pixel centre changes triangle (checked below)
    with torch.no_grad():
        plus, minus = base.clone(), base.clone()
        plus[0, 1, 0] += h
        minus[0, 1, 0] -= h
        fd = (coverage(plus) - coverage(minus)).item() / (2 * h)
    assert g > 0 and fd > 0  # outward = more coverage
    assert abs(g - fd) < 0.15 * abs(fd)
    # Without antialias the same move changes nothing: the gradient comes from the edge alone.
    with torch.no_grad():
        rast = rasterize(ctx, plus, tri, (40, 40))
        rast0 = rasterize(ctx, minus, tri, (40, 40))
    assert torch.equal(rast[..., 3], rast0[..., 3])


def test_shading_functions(model):
    g = torch.Generator().manual_seed(0)  # seeded: an unseeded draw had no normal near the light ~5 % of runs
    n = torch.nn.functional.normalize(torch.randn(2, 5, 6, 3, dtype=torch.float64, generator=g), dim=-1)
    sh = torch.randn(2, 9, 3, dtype=torch.float64, generator=g)
    # The quadratic form in sh_irradiance is the SH expansion itself.
    assert torch.allclose(sh_irradiance(n, sh), torch.einsum("bhwk,bkc->bhwc", sh_basis(n), sh))
    # A directional light: ambient + diffuse * max(n.l, 0), to order-2 SH accuracy (< 0.1 here).
    light = torch.tensor([0.0, 0.6, 0.8], dtype=torch.float64)
    n[0, 0, :3] = light  # normals facing the light, whatever the draw gave
    e = sh_irradiance(n, sh_directional(light, 0.3, 0.7, 1, torch.float64))[..., 0]
    exact = 0.3 + 0.7 * (n @ light).clamp_min(0)
    assert (e - exact).abs().max() < 0.1 and e[(n @ light) > 0.9].min() > 0.9
    # Unit view-facing highlight peaks where the normal bisects view and light.
    view = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(1, 1, 1, 3)
    half = torch.nn.functional.normalize(view + light, dim=-1)
    assert torch.allclose(specular(half, view, light), torch.ones(1, 1, 1, 1, dtype=torch.float64))
    # Vertex normals agree with the numpy ones in face3d.geometry.
    from face3d.geometry import vertex_normals as np_normals
    with torch.no_grad():
        v = model().vertices
    want = np_normals(v[0].numpy().astype(np.float64), model.faces.numpy())
    assert np.abs(vertex_normals(v.double(), model.faces)[0].numpy() - want).max() < 1e-6


def _brute_force_ids(pos: np.ndarray, tri: np.ndarray, h: int, w: int) -> np.ndarray:
    """Triangle id + 1 per pixel [H, W] by testing every pixel centre against every triangle (float64)."""
    ys, xs = np.mgrid[0:h, 0:w]
    p = np.stack([(2 * xs.ravel() + 1) / w - 1, (2 * ys.ravel() + 1) / h - 1], 1)  # [N,2] NDC
    c = pos[tri]                                                      # [T,3,4]
    d = c[None, :, :, :2] - p[:, None, None, :] * c[None, :, :, 3:4]   # [N,T,3,2]
    cr = lambda a, b: a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]  # noqa: E731
    bw = np.stack([cr(d[:, :, 1], d[:, :, 2]), cr(d[:, :, 2], d[:, :, 0]), cr(d[:, :, 0], d[:, :, 1])], -1)
    bw = bw / bw.sum(-1, keepdims=True)
    inside = (bw >= 0).all(-1)
    z = (bw * c[None, :, :, 2]).sum(-1) / (bw * c[None, :, :, 3]).sum(-1)
    inside &= (z >= -1) & (z <= 1)
    z = np.where(inside, z, np.inf)
    best = z.argmin(1)
    return np.where(np.isfinite(z.min(1)), best + 1, 0).reshape(h, w)


def test_visibility_matches_brute_force_zbuffer(ctx):
    rng = np.random.default_rng(3)
    n = 40
    centres = rng.uniform([-6, -6, -40], [6, 6, -20], (n, 1, 3))
    verts = (centres + rng.normal(0, 3, (n, 3, 3))).reshape(-1, 3)   # interpenetrating random triangles
    tri = np.arange(3 * n).reshape(n, 3)
    cam = Camera.for_image(96, 80)
    pos = to_clip(torch.from_numpy(verts)[None], cam, 5.0, 80.0)
    rast = rasterize(ctx, pos, torch.from_numpy(tri).int(), (80, 96))
    got = rast[0, ..., 3].numpy().astype(np.int64)
    want = _brute_force_ids(pos[0].numpy(), tri, 80, 96)
    covered = (got > 0) | (want > 0)
    assert covered.sum() > 2000 and len(np.unique(got)) > 25  # a busy scene
    assert (got == want)[covered].mean() >= 0.999


def test_landmarks_land_on_their_pixels(ctx, model):
    """camera.project and the rasteriser agree: each ICT landmark vertex inside the visible skin (not on
    the mesh's open border, not on the silhouette) projects into a pixel that sees one of the triangles
    around it, and that pixel's interpolated surface point projects onto the pixel's centre."""
    cam = Camera.for_image(640, 512)
    with torch.no_grad():
        verts = model(translation=torch.tensor([[0.5, 1.0, -42.0]])).vertices.double()
    tri = torch.from_numpy(model.region_faces("face")).int()  # the skin: eyelashes etc. would hide points
    lms = torch.from_numpy(model.landmarks68).long()
    topo = edge_topology(tri)
    border = tri[(topo < 0).any(1)].long().unique()
    near_border = tri[torch.isin(tri.long(), border).any(1)].long().unique()  # one ring: thin eyelid rims
    facing = (vertex_normals(verts, tri)[0, lms] * -verts[0, lms]).sum(1) / verts[0, lms].norm(dim=1)
    inner = ~torch.isin(lms, near_border) & (facing > 0.3)
    assert inner.sum() >= 35  # brows, nose, outer lips, eye corners, chin
    lms = lms[inner]

    rast = rasterize(ctx, to_clip(verts, cam), tri, (cam.height, cam.width))
    px = project(verts[0, lms], cam)
    col, row = px.round().long().unbind(1)
    tid = rast[0, row, col, 3].long() - 1
    assert (tid >= 0).all()
    # Where triangles around a vertex are smaller than a pixel, the pixel centre can fall just outside them.
    in_fan = (tri.long()[tid] == lms[:, None]).any(1)
    assert in_fan.float().mean() >= 0.9, f"landmarks {lms[~in_fan].tolist()} fall off their own triangles"
    # GL's pixel centres are torch's: on every covered pixel the visible triangle holds the centre (the
    # barycentrics are inside [0, 1]); a half-pixel slip would push a good share of them outside.
    covered = rast[0, ..., 3] > 0
    u, v = rast[0, ..., 0][covered], rast[0, ..., 1][covered]
    inside = (u > -1e-3) & (v > -1e-3) & (1 - u - v > -1e-3)
    assert inside.float().mean() > 0.999
    surface = interpolate(verts, rast, tri)[0, row, col]
    centre = torch.stack([col, row], 1).double()
    assert (project(surface, cam) - centre).abs().max() < 1e-3  # barycentrics invert the projection
    assert (px - centre).abs().max() <= 0.5


def _face_scene(model, size=128):
    """The ICT face region, textured with a smooth pattern and lit: what inverse rendering fits."""
    f0, f1 = model.regions["face"][2:]
    keep = (model.triangle_polygon >= f0) & (model.triangle_polygon < f1)
    tri = model.faces[torch.from_numpy(keep)].int()
    uv_tri = torch.from_numpy(model.uv_faces[keep]).int()
    uvs = torch.from_numpy(model.uvs).float()
    g = torch.linspace(0, 1, 64)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    tex = torch.stack([0.6 + 0.3 * torch.sin(9 * xx) * torch.cos(7 * yy), 0.5 + 0.3 * torch.sin(6 * yy + 2 * xx),
                       0.4 + 0.2 * torch.cos(8 * xx - 5 * yy)], -1)[None]
    with torch.no_grad():
        base = model().vertices
    return dict(tri=tri, uv_tri=uv_tri, uvs=uvs, tex=tex, base=base, cam=Camera.for_image(size, size),
                topo=edge_topology(tri), sh=sh_directional([0.3, 0.4, 1.0], 0.4, 0.7))


def _render(ctx, s, rotation, translation, silhouette=False):
    verts = rigid_transform(s["base"], rotation, translation)
    pos = to_clip(verts, s["cam"], 20.0, 80.0)
    cam = s["cam"]
    rast = rasterize(ctx, pos, s["tri"], (cam.height, cam.width))
    if silhouette:
        colour = interpolate(torch.ones(verts.shape[1], 1), rast, s["tri"])
    else:
        uv = interpolate(s["uvs"], rast, s["uv_tri"])
        albedo = texture(s["tex"], torch.stack([uv[..., 0], 1 - uv[..., 1]], -1))
        normals = pixel_normals(vertex_normals(verts, s["tri"]), rast, s["tri"])
        colour = lambert(albedo, sh_irradiance(normals, s["sh"]))
        colour = torch.where(rast[..., 3:] > 0, colour, torch.full_like(colour, 0.1))
    return antialias(colour, rast, pos, s["tri"], s["topo"])


@pytest.mark.parametrize("silhouette", [False, True], ids=["photometric", "silhouette"])
def test_inverse_rendering_recovers_the_pose(ctx, model, silhouette):
    torch.manual_seed(0)
    s = _face_scene(model)
    true_r = torch.tensor([[0.05, -0.1, 0.02]])
    true_t = torch.tensor([[0.3, -0.5, -55.0]])
    with torch.no_grad():
        target = _render(ctx, s, true_r, true_t, silhouette)
    axis = torch.tensor([[0.6, -0.7, 0.4]])
    r = (true_r + axis / axis.norm() * math.radians(5)).requires_grad_()
    t = (true_t + torch.tensor([[0.6, 0.48, -0.64]])).requires_grad_()  # 1 cm
    opt = torch.optim.Adam([{"params": [r], "lr": 0.01}, {"params": [t], "lr": 0.1}])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.97)
    # One torch thread: beside llvmpipe's own threads on a shared 2-core machine, a second OpenMP thread
    # makes each step several times slower, not faster.
    with one_thread():
        for _ in range(110 if silhouette else 60):  # an outline alone pins the pose more slowly
            opt.zero_grad()
            loss = ((_render(ctx, s, r, t, silhouette) - target) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
    angle = math.degrees(float((r - true_r).detach().norm()))  # small angles: axis-angle difference
    dist_mm = 10 * float((t - true_t).detach().norm())
    assert angle < 0.5 and dist_mm < 1.0, f"left {angle:.2f} deg, {dist_mm:.2f} mm"
