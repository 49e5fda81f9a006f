"""USD (``.usda`` text, ``.usdc``/``.usd`` binary) through usd-core (``pip install 'face3d[usd]'``): the face
as a UsdSkel character that Omniverse, Houdini and Maya read.

    /face3d            SkelRoot (metres, y up; the default prim)
      Skel             Skeleton: neck, neck/head, neck/head/eyeLeft, neck/head/eyeRight (rest = bind)
        Anim           SkelAnimation: blend-shape weights and joint rotations as time samples (with curves)
      Face             Mesh: ICT's quads, UVs (st, face-varying), normals, vertex colours, skin weights
        <target>       BlendShape per morph target (ARKit's 52 names, or ICT's 53): sparse offsets + normals
      Looks/skin       UsdPreviewSurface reading the vertex colours, or the albedo atlas written beside
                       the file (``<name>.png``, UsdUVTexture over the st primvar) when there is one

Time codes are frames at ``TIME_CODES_PER_SECOND``; a sample sits at ``time_s * 60``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..curves import Curves
from ..errors import AssetMissing
from ..rig import (JOINT_NAMES, JOINT_PARENTS, build_rig, euler_to_quat, rest_shape, target_deltas,
                   target_names, target_weights)

TIME_CODES_PER_SECOND = 60
_DROP = 1e-5  # m: offsets under this are not stored (as in the GLB)


def _pxr():
    try:
        from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdSkel, Vt
    except ImportError:
        raise AssetMissing("USD export needs usd-core: pip install 'face3d[usd]' (or pip install usd-core)") from None
    return Gf, Sdf, Usd, UsdGeom, UsdShade, UsdSkel, Vt


def write_usd(path: Path, vertices: np.ndarray, model, weights: np.ndarray | None = None,
              curves: Curves | None = None, targets: str = "arkit", tongue: float = 0.0, bake: bool = False,
              suffix: str = ".usda", texture_file: str | None = None) -> None:
    """Write the face ``vertices [V,3]`` (cm, expression-free) as USD at ``path`` (a temporary of
    ``formats.atomic``; ``suffix`` picks text ``.usda`` or binary ``.usdc``/``.usd``). Arguments as
    ``formats.gltf.write_glb``; ``texture_file``: the albedo atlas's file name, beside the USD file (the
    UVs then address the atlas and the skin material reads it)."""
    Gf, Sdf, Usd, UsdGeom, UsdShade, UsdSkel, Vt = _pxr()
    from ..materials import vertex_colours

    names = target_names(targets)
    deltas = target_deltas(model, targets) * 0.01  # [K, V, 3] m
    base, default = rest_shape(model, vertices, weights, targets, tongue, bake)
    points = base * 0.01
    rig = build_rig(base, model)

    fmt = "usda" if suffix == ".usda" else "usdc"
    layer = Sdf.Layer.CreateAnonymous(f"face3d.{fmt}")
    stage = Usd.Stage.Open(layer)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    stage.SetTimeCodesPerSecond(TIME_CODES_PER_SECOND)
    stage.SetFramesPerSecond(TIME_CODES_PER_SECOND)
    root = UsdSkel.Root.Define(stage, "/face3d")
    stage.SetDefaultPrim(root.GetPrim())
    layer.customLayerData = {"generator": "face3d"}

    # Skeleton: joint paths name their parents; rest rotations identity, so transforms are translations.
    paths, joints = [], rig.joints * 0.01
    for j, parent in enumerate(JOINT_PARENTS):
        paths.append(JOINT_NAMES[j] if parent < 0 else f"{paths[parent]}/{JOINT_NAMES[j]}")
    skel = UsdSkel.Skeleton.Define(stage, "/face3d/Skel")
    skel.CreateJointsAttr(paths)
    skel.CreateBindTransformsAttr(Vt.Matrix4dArray([Gf.Matrix4d(1).SetTranslate(Gf.Vec3d(*map(float, p))) for p in joints]))
    local = [joints[j] - (joints[p] if p >= 0 else 0) for j, p in enumerate(JOINT_PARENTS)]
    skel.CreateRestTransformsAttr(Vt.Matrix4dArray([Gf.Matrix4d(1).SetTranslate(Gf.Vec3d(*map(float, t))) for t in local]))

    mesh = UsdGeom.Mesh.Define(stage, "/face3d/Face")
    polys = model.polygons
    counts = np.where(polys[:, 3] >= 0, 4, 3)
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(points))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(counts.astype(np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(polys[polys >= 0].astype(np.int32)))
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)  # a game mesh, shaded by its normals
    mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(model.vertex_normals(base).astype(np.float32)))  # noqa
    mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    lo, hi = points.min(0), points.max(0)
    mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, lo)), Gf.Vec3f(*map(float, hi))]))
    pv = UsdGeom.PrimvarsAPI(mesh)
    st = pv.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.faceVarying)
    if texture_file is None:
        st.Set(Vt.Vec2fArray.FromNumpy(model.uvs.astype(np.float32)))
    else:
        from ..texture import atlas_uvs

        st.Set(Vt.Vec2fArray.FromNumpy(atlas_uvs(model).astype(np.float32)))
    st.SetIndices(Vt.IntArray.FromNumpy(model.uv_polygons[model.uv_polygons >= 0].astype(np.int32)))
    colours = vertex_colours(model)
    pv.CreatePrimvar("displayColor", Sdf.ValueTypeNames.Color3fArray, UsdGeom.Tokens.vertex).Set(
        Vt.Vec3fArray.FromNumpy(colours[:, :3].copy()))
    pv.CreatePrimvar("displayOpacity", Sdf.ValueTypeNames.FloatArray, UsdGeom.Tokens.vertex).Set(
        Vt.FloatArray.FromNumpy(colours[:, 3].copy()))

    binding = UsdSkel.BindingAPI.Apply(mesh.GetPrim())
    binding.CreateSkeletonRel().SetTargets([skel.GetPath()])
    binding.CreateJointIndicesPrimvar(False, 4).Set(Vt.IntArray.FromNumpy(rig.joint_ids.astype(np.int32).reshape(-1)))
    binding.CreateJointWeightsPrimvar(False, 4).Set(Vt.FloatArray.FromNumpy(rig.joint_weights.reshape(-1)))
    binding.CreateGeomBindTransformAttr(Gf.Matrix4d(1))
    from .gltf import _normals

    normals = _normals(model, base)
    normal_offsets = _normals(model, base + deltas * 100) - normals
    shape_paths = []
    for k, name in enumerate(names):
        keep = np.flatnonzero(np.linalg.norm(deltas[k], axis=1) >= _DROP)
        shape = UsdSkel.BlendShape.Define(stage, f"/face3d/Face/{name}")
        shape.CreateOffsetsAttr(Vt.Vec3fArray.FromNumpy(deltas[k][keep].astype(np.float32)))
        shape.CreatePointIndicesAttr(Vt.IntArray.FromNumpy(keep.astype(np.int32)))
        shape.CreateNormalOffsetsAttr(Vt.Vec3fArray.FromNumpy(normal_offsets[k][keep].astype(np.float32)))
        shape_paths.append(shape.GetPath())
    binding.CreateBlendShapesAttr(names)
    binding.CreateBlendShapeTargetsRel().SetTargets(shape_paths)

    anim = UsdSkel.Animation.Define(stage, "/face3d/Skel/Anim")
    anim.CreateJointsAttr(paths)
    anim.CreateBlendShapesAttr(names)
    anim.CreateTranslationsAttr(Vt.Vec3fArray.FromNumpy(np.array(local, np.float32)))
    anim.CreateScalesAttr(Vt.Vec3hArray([Gf.Vec3h(1, 1, 1)] * len(paths)))
    rest_rot = Vt.QuatfArray([Gf.Quatf(1, 0, 0, 0)] * len(paths))
    if curves is None:
        anim.CreateBlendShapeWeightsAttr(Vt.FloatArray.FromNumpy(default.astype(np.float32)))
        anim.CreateRotationsAttr(rest_rot)
    else:
        frames = target_weights(curves.weights, targets, curves.tongue).astype(np.float32)
        quats = np.zeros((len(curves), len(paths), 4), np.float32)
        quats[..., 3] = 1
        if curves.head is not None:
            quats[:, JOINT_NAMES.index("head")] = euler_to_quat(curves.head)
        eyes = curves.eye_angles()
        quats[:, JOINT_NAMES.index("eyeLeft")] = euler_to_quat(eyes[:, 0])
        quats[:, JOINT_NAMES.index("eyeRight")] = euler_to_quat(eyes[:, 1])
        w_attr, r_attr = anim.CreateBlendShapeWeightsAttr(), anim.CreateRotationsAttr()
        codes = np.asarray(curves.times, np.float64) * TIME_CODES_PER_SECOND
        for code, f, q in zip(codes, frames, quats):
            w_attr.Set(Vt.FloatArray.FromNumpy(f), code)
            r_attr.Set(Vt.QuatfArray([Gf.Quatf(float(x[3]), float(x[0]), float(x[1]), float(x[2])) for x in q]), code)
        stage.SetStartTimeCode(float(codes[0]))
        stage.SetEndTimeCode(float(codes[-1]))
    UsdSkel.BindingAPI.Apply(skel.GetPrim()).CreateAnimationSourceRel().SetTargets([anim.GetPath()])

    material = UsdShade.Material.Define(stage, "/face3d/Looks/skin")
    shader = UsdShade.Shader.Define(stage, "/face3d/Looks/skin/surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    if texture_file is None:
        reader = UsdShade.Shader.Define(stage, "/face3d/Looks/skin/colour")
        reader.CreateIdAttr("UsdPrimvarReader_float3")
        reader.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("displayColor")
    else:  # the albedo atlas through the st primvar (UsdPreviewSurface's texture network)
        uv = UsdShade.Shader.Define(stage, "/face3d/Looks/skin/st")
        uv.CreateIdAttr("UsdPrimvarReader_float2")
        uv.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("st")
        reader = UsdShade.Shader.Define(stage, "/face3d/Looks/skin/albedo")
        reader.CreateIdAttr("UsdUVTexture")
        reader.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(f"./{texture_file}"))
        reader.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
        reader.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(uv.ConnectableAPI(), "result")
        reader.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
        reader.ConnectableAPI(), "rgb" if texture_file else "result")
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.6)
    shader.CreateInput("opacityThreshold", Sdf.ValueTypeNames.Float).Set(0.5)
    opacity = UsdShade.Shader.Define(stage, "/face3d/Looks/skin/opacity")
    opacity.CreateIdAttr("UsdPrimvarReader_float")
    opacity.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("displayOpacity")
    shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).ConnectToSource(opacity.ConnectableAPI(), "result")
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(material)
    layer.Export(str(path), args={"format": fmt})
