"""Benchmark the face model: median time of one forward pass (B=1, full mesh) and of loading the cache.

    python tools/bench_model.py [--repeat 200]

Targets (issue 2): forward <= 5 ms, load <= 0.5 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse

import torch

from common import median_ms
from face3d import assets
from face3d.model import N_EXPRESSION, N_IDENTITY, _load, load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    path = assets.model_path()
    load = median_ms(lambda: _load.__wrapped__(path), max(3, args.repeat // 40))
    model = load_model()
    g = torch.Generator().manual_seed(0)
    coeffs = dict(identity=torch.randn(1, N_IDENTITY, generator=g), expression=torch.rand(1, N_EXPRESSION, generator=g),
                  rotation=torch.randn(1, 3, generator=g) * 0.2, translation=torch.randn(1, 3, generator=g))
    print(f"model load (npz -> FaceModel)        median {load:8.1f} ms   target <= 500 ms")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.no_grad():
            fwd = median_ms(lambda: model(**coeffs), args.repeat)
        print(f"forward B=1, 26,719 vertices, {threads} thr  median {fwd:8.2f} ms   target <= 5 ms")


if __name__ == "__main__":
    main()
