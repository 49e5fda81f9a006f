"""Notes kept beside tensors the render ops have seen: which pixels an image covers, a triangle list's
planes. A cache, nothing more.

``rasterize``, ``interpolate`` and ``pixel_normals`` return full images ``[B,H,W,C]`` that are exactly zero
off the mesh. Each remembers, for the tensor it returns, the flat indices of its covered pixels ``[N]``
(int64, ascending, into ``B*H*W``) and their 0-based triangle ids ``[N]`` (int32). An op later handed that very
tensor, unchanged since (same version counter), gathers those pixels instead of searching the image again,
and ``sh_irradiance`` shades only them (the zero normal of every other pixel has one constant irradiance);
with the values there as planes ``[C,N]`` where the op that made the image had them, or as the first op to
read them gathered them.
Anything else — a copy, a view, a tensor edited in place, an inference-mode tensor — is searched as before,
so a note changes no value and no gradient to the tensors the image was computed from. (One thing it does
change: ``sh_irradiance`` sends no gradient to the background entries of a remembered normal image; those
are constants, so only a ``retain_grad()`` on that image would show it.)

A triangle list ``tri [F,3]`` gets its corner planes ``[3,F]`` (``tri_planes``: the ops gather per corner
from coordinate planes, and a transposed copy of a large list costs about as much as the gather itself) and
its index range (``index_range``, for rasterize's bounds check); a pixel's triangle ids, the corners of
those triangles (``corner_indices``).
"""
from __future__ import annotations

import weakref

import torch

_NOTES: dict[int, tuple] = {}


def _version(t: torch.Tensor) -> int | None:
    try:
        return t._version
    except RuntimeError:  # inference tensors keep no version counter: never noted
        return None


def _note(t: torch.Tensor, name: str, value) -> None:
    version = _version(t)
    if version is None:
        return
    key = id(t)
    rec = _NOTES.get(key)
    if rec is not None and rec[0]() is t and rec[1] == version:
        rec[2][name] = value
        return

    def forget(ref, key=key):
        if _NOTES.get(key, (None,))[0] is ref:
            _NOTES.pop(key, None)

    _NOTES[key] = (weakref.ref(t, forget), version, {name: value})


def _read(t: torch.Tensor, name: str):
    rec = _NOTES.get(id(t))
    if rec is None or rec[0]() is not t or rec[1] != _version(t):
        return None
    return rec[2].get(name)


def remember(image: torch.Tensor, covered: torch.Tensor, tid: torch.Tensor, planes: torch.Tensor | None = None
             ) -> None:
    """Note that ``image`` is zero outside the flat pixels ``covered [N]``, seen on triangles ``tid [N]``, and,
    when given, that ``planes [C,N]`` hold its values there (channel by channel)."""
    _note(image, "covered", (covered, tid))
    if planes is not None:
        _note(image, "planes", planes)


def covered_planes(image: torch.Tensor, covered: torch.Tensor, channels: int) -> torch.Tensor:
    """The first ``channels`` channels of ``image [B,H,W,C]`` at its flat pixels ``covered`` as planes
    ``[channels,N]``: as remembered, or gathered (and remembered for the next op where no gradient flows
    through them: the note would tie later calls to this call's graph)."""
    planes = _read(image, "planes")
    if planes is None or planes.shape[0] < channels:
        planes = image.reshape(-1, image.shape[-1]).index_select(0, covered).T.contiguous()
        if not image.requires_grad:
            _note(image, "planes", planes)
    return planes[:channels]


def recall(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(covered, tid)`` as remembered for this very tensor, or None."""
    return _read(image, "covered")


def tri_planes(tri: torch.Tensor) -> torch.Tensor:
    """``tri [F,3]``'s corners as int64 planes ``[3,F]`` (contiguous), computed once per triangle list.
    (int64: the backward of a gather is an ``index_add``, some 20 times slower with int32 indices.)"""
    planes = _read(tri, "planes")
    if planes is None:
        planes = tri.detach().T.long().contiguous()
        _note(tri, "planes", planes)
    return planes


def corner_indices(tri: torch.Tensor, tid: torch.Tensor) -> torch.Tensor:
    """``[3,N]``: the corners of triangles ``tid [N]`` of ``tri`` (the pixels' triangles: rasterize gathers
    them once, and interpolate over the same ``tri`` and ids reuses them)."""
    known = _read(tid, "corners")
    if known is not None and known[0] is tri and known[1] == _version(tri):
        return known[2]
    corners = tri_planes(tri).index_select(1, tid)
    _note(tid, "corners", (tri, _version(tri), corners))
    return corners


def index_range(tri: torch.Tensor) -> tuple[int, int]:
    """``(min, max)`` of a non-empty ``tri``, computed once per triangle list (each is a pass over it)."""
    known = _read(tri, "range")
    if known is None:
        known = int(tri.min()), int(tri.max())
        _note(tri, "range", known)
    return known
