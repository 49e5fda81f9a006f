"""Rendering ops in the manner of nvdiffrast: ``rasterize`` (OpenGL visibility and barycentrics; torch
re-derives the barycentrics where positions need gradients), ``interpolate``, ``texture`` and ``antialias`` over batched torch tensors, with an explicit
``RenderContext``; clip-space matrices and shading are small pure functions beside them."""
from .context import RenderContext, RenderUnavailable
from .rasterize import rasterize
from .interpolate import interpolate
from .texture import texture
from .camera import clip_matrix, near_far, to_clip
from .antialias import antialias, edge_topology
from .shading import (face_normals, lambert, pixel_normals, sh_basis, sh_directional, sh_irradiance, specular,
                      vertex_normals, view_directions)

__all__ = ["RenderContext", "RenderUnavailable", "rasterize", "interpolate", "texture", "antialias",
           "edge_topology", "clip_matrix", "near_far", "to_clip", "face_normals", "vertex_normals",
           "pixel_normals", "sh_basis", "sh_irradiance", "sh_directional", "lambert", "specular",
           "view_directions"]
