"""USD export read back with usd-core: prim types, ARKit blend-shape names, joints, time samples."""
import numpy as np
import pytest
from pxr import Usd, UsdGeom, UsdSkel

from face3d.curves import Curves
from face3d.formats.mesh import save_mesh
from face3d.names import ARKIT_NAMES, ICT_NAMES, ict_to_arkit


@pytest.mark.parametrize("suffix", [".usda", ".usdc"])
def test_usd_skel_character(model, tmp_path, suffix):
    rng = np.random.default_rng(0)
    curves = Curves(np.arange(6) / 30, rng.random((6, 53)), head=rng.normal(0, 0.1, (6, 3)), tongue=rng.random(6))
    path = save_mesh(tmp_path / f"f{suffix}", model.neutral.numpy(), model, animation=curves)
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageUpAxis(stage) == "Y" and UsdGeom.GetStageMetersPerUnit(stage) == 1
    types = {str(p.GetPath()): p.GetTypeName() for p in stage.Traverse()}
    assert types["/face3d"] == "SkelRoot" and types["/face3d/Skel"] == "Skeleton"
    assert types["/face3d/Skel/Anim"] == "SkelAnimation" and types["/face3d/Face"] == "Mesh"
    assert sum(t == "BlendShape" for t in types.values()) == 52
    mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/face3d/Face"))
    points = np.array(mesh.GetPointsAttr().Get())
    np.testing.assert_allclose(points, model.neutral.numpy() * 0.01, atol=1e-7)
    binding = UsdSkel.BindingAPI(mesh.GetPrim())
    assert list(binding.GetBlendShapesAttr().Get()) == list(ARKIT_NAMES)
    skel = UsdSkel.Skeleton(stage.GetPrimAtPath("/face3d/Skel"))
    assert [j.split("/")[-1] for j in skel.GetJointsAttr().Get()] == ["neck", "head", "eyeLeft", "eyeRight"]
    anim = UsdSkel.Animation(stage.GetPrimAtPath("/face3d/Skel/Anim"))
    codes = anim.GetBlendShapeWeightsAttr().GetTimeSamples()
    np.testing.assert_allclose(codes, np.arange(6) * 2)  # 60 time codes a second
    got = np.array([anim.GetBlendShapeWeightsAttr().Get(c) for c in codes])
    want = ict_to_arkit(curves.weights)
    want[:, ARKIT_NAMES.index("tongueOut")] = curves.tongue
    np.testing.assert_allclose(got, want, atol=1e-7)
    assert len(anim.GetRotationsAttr().GetTimeSamples()) == 6
    # UsdSkel resolves the binding: the mesh is skinned by the skeleton and animated by the animation
    cache = UsdSkel.Cache()
    root = UsdSkel.Root(stage.GetPrimAtPath("/face3d"))
    cache.Populate(root, Usd.PrimDefaultPredicate)
    (b,) = cache.ComputeSkelBindings(root, Usd.PrimDefaultPredicate)
    assert b.GetSkeleton().GetPath() == "/face3d/Skel" and len(b.GetSkinningTargets()) == 1
    query = cache.GetSkelQuery(skel)
    assert query.GetAnimQuery().GetPrim().GetPath() == "/face3d/Skel/Anim"


def test_usd_default_weights(model, tmp_path):
    w = np.zeros(53, np.float32)
    w[ICT_NAMES.index("jawOpen")] = 0.75
    stage = Usd.Stage.Open(str(save_mesh(tmp_path / "f.usda", model.neutral.numpy(), model, w)))
    anim = UsdSkel.Animation(stage.GetPrimAtPath("/face3d/Skel/Anim"))
    assert anim.GetBlendShapeWeightsAttr().Get()[ARKIT_NAMES.index("jawOpen")] == 0.75


def test_usd_with_albedo_reads_the_texture_beside_it(model, tmp_path):
    from pxr import UsdShade

    from face3d import texture as tx

    rng = np.random.default_rng(1)
    png = tx.png_bytes(rng.integers(0, 255, (tx.ATLAS_H, tx.ATLAS_W, 3), dtype=np.uint8))
    path = save_mesh(tmp_path / "f.usda", model.neutral.numpy(), model, texture=png)
    assert (tmp_path / "f.png").read_bytes() == png  # written with the USD, as one output
    stage = Usd.Stage.Open(str(path))
    reader = UsdShade.Shader(stage.GetPrimAtPath("/face3d/Looks/skin/albedo"))
    assert reader.GetIdAttr().Get() == "UsdUVTexture"
    asset = reader.GetInput("file").Get()
    assert (tmp_path / asset.path).resolve() == (tmp_path / "f.png").resolve()
    surface = UsdShade.Shader(stage.GetPrimAtPath("/face3d/Looks/skin/surface"))
    source = surface.GetInput("diffuseColor").GetConnectedSource()
    assert source[0].GetPath() == reader.GetPath() and source[1] == "rgb"
    st = UsdGeom.PrimvarsAPI(stage.GetPrimAtPath("/face3d/Face")).GetPrimvar("st")
    np.testing.assert_allclose(np.array(st.Get()), tx.atlas_uvs(model), atol=1e-6)  # UVs address the atlas
