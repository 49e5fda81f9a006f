"""Training-only code (targets, losses, evaluation geometry) shared by tools/; never imported by ``face3d``.

Tools put ``tools/`` on ``sys.path`` and import ``training.visemes``, ``training.losses``.
"""
