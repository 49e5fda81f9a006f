"""Every file format face3d reads or writes, one module per family (as trimesh.exchange):

- ``atomic``: safe, atomic output files and folders (markers, ``--overwrite``, stale temporaries);
- ``mesh``: ``save_mesh`` — OBJ/PLY/GLB by suffix; ``gltf``, ``obj`` (+ the upstream OBJ parser), ``ply``;
- ``fitdir``: a fit's ``params.json`` and ``landmarks.json``; ``livelink``: Live Link Face CSV;
- ``modelcache``: the parsed ICT-FaceKit model (``ict_facekit.npz``).
"""
