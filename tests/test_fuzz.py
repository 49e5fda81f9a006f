"""Property-based fuzzing of the readers (random bytes, truncations, bit flips of real files), briefly
and with a fixed seed; ``python tools/fuzz.py --examples N`` runs the same targets for longer."""
from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, seed, settings

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import fuzz  # noqa: E402


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory):
    return fuzz.seeds(tmp_path_factory.mktemp("seeds"))


@pytest.mark.parametrize("target,examples", [("image", 60), ("audio", 40), ("csv", 60), ("fit", 60)])
def test_readers_never_give_a_traceback(target, examples, seed_files, tmp_path):
    assert seed_files[target], f"no seed files for {target}"
    fit_seeds = dict(seed_files["fit"])

    @seed(1234)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(fuzz.strategy(seed_files[target]))
    def case(pair):
        fuzz.run_target(target, pair[0], pair[1], tmp_path, fit_seeds)

    case()
