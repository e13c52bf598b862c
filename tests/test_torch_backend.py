"""The `torch` backend: torch ops in a gloo world, both contract readings, second-stage misuse,
and a faulty variant of it that the suite catches."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.backends import BackendSpec
from fixtures.runner import Worlds
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.sim import SimBackend
from ops.alltoallv_gmm.torch_backend import permute_index
from ops.alltoallv_gmm.worlds import Pins, build_world
from strategies import probe
from strategies.choices import Seeded

EP = 4


@pytest.mark.parametrize("seed", range(6))
def test_the_permute_index_is_the_sims_permute(seed: int) -> None:
    rng = np.random.default_rng(seed)
    e, ep = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    rc = [int(v) for v in rng.integers(0, 4, e * ep)]
    rc[0] = 0  # zero counts, and a source that sends nothing
    received = [np.arange(sum(rc[s * e:(s + 1) * e]))[:, None] + 1000 * s for s in range(ep)]
    want = np.zeros((sum(rc), 1), np.int64)
    SimBackend().permute({"gmm_weight": np.zeros((e, 1, 1)), "recv_counts": rc}, received, want)
    assert np.array_equal(np.concatenate(received)[permute_index(rc, e, ep)], want)


def _cases(profile_name: str) -> list:
    profile = load(profile_name)
    cases = [build_world(Seeded(s), "910_95", EP, profile, pins, "CALC.gmm", "valid")
             for s, pins in enumerate([
                 Pins(flag=False, dtype="bfloat16"),  # permuteOut kept in the workspace
                 Pins(flag=True, trans_gmm=True, shared=True, trans_mm=True, dtype="float16"),
                 Pins(flag=True, shared=True, trans_mm=False, dtype="bfloat16", e=3),
             ])]
    for clause in ("STAGE2.executor_null", "STAGE2.workspace_null", "STAGE2.workspace_small"):
        case, why = probe(clause, "invalid", "910_95", EP, profile, "float16")
        assert case is not None, why
        cases.append(case)
    return cases


@pytest.mark.parametrize("profile", ["doc", "cann-2025.12"])
def test_the_torch_world_passes_both_readings_of_the_contract(profile: str) -> None:
    worlds = Worlds(BackendSpec("torch", {"behavior": profile}), timeout=60)
    try:
        results = [worlds.run(case, load(profile)) for case in _cases(profile)]
    finally:
        worlds.close()
    assert [r.outcome for r in results] == ["passed"] * len(results), [
        (r.case.clause, [f.message for f in r.findings]) for r in results]
    computed = [r for r in results if r.plan is not None and r.plan.data_mode]
    assert len(computed) == 3 and all("CALC.permute" in r.exercised for r in computed[1:])
    assert [r.reports[0].status2 for r in results[3:]] == [161001, 161001, 161002]


def test_a_torch_backend_with_a_wrong_permute_is_caught() -> None:
    worlds = Worlds(BackendSpec("tests.support.pool_backends:source_major_torch",
                                {"behavior": "doc"}), timeout=60)
    case = build_world(Seeded(7), "910_95", EP, load("doc"), Pins(flag=True, e=2),
                       "CALC.permute", "valid")
    try:
        result = worlds.run(case, load("doc"))
    finally:
        worlds.close()
    assert result.outcome == "failed"
    assert {(f.clause, f.kind) for f in result.findings} >= {("CALC.permute", "movement")}
