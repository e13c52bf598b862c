"""Faults that only skewed routing shows, in both operators' catalogs: an expert group that
receives nothing, a source that sends one expert nothing and the next some rows, and the rows a
rank routes to its own experts (the local copy). On a hand-made world that has all three, the
simulator passes and each fault fails on a clause of the outputs."""

from __future__ import annotations

import numpy as np
import pytest

import ops
from fixtures.backends import BackendSpec
from fixtures.runner import Worlds
from spec.case import Shared

# send[s][r*e + j] (ep 4, e 3): rank 1's expert 0 receives nothing; every source sends rows to
# its own experts; each rank sends 18 rows (K = 2 with BS = 9).
SKEWED = ((2, 1, 3, 0, 2, 1, 1, 1, 2, 3, 0, 2),
          (1, 2, 1, 0, 3, 2, 2, 1, 1, 1, 2, 2),
          (3, 1, 2, 0, 1, 1, 1, 2, 3, 2, 1, 1),
          (1, 1, 1, 0, 2, 3, 2, 2, 1, 1, 1, 3))
OUTPUT_CLAUSES = {"CALC.gmm", "CALC.mm", "CALC.permute", "CALC.unpermute", "OUT.written"}


def _case(operator: str):
    op = ops.get(operator)
    return op.case_type(**{"product": "910_95", "ep": 4, "e": 3, "h1": 32, "n1": 24,
                           op.case_type.MATRIX: SKEWED, "seed": 5, "clause": "CALC.gmm",
                           "shared": Shared(bs=(9,) * 4, h2=16, n2=8)})


def _run(operator: str, target: str):
    op = ops.get(operator)
    worlds = Worlds(BackendSpec(target, {"behavior": "doc"}, op.name, op.home))
    try:
        return worlds.run(_case(operator), op.profile("doc"))
    finally:
        worlds.close()


@pytest.mark.parametrize("operator", ["alltoallv_gmm", "gmm_alltoallv"])
def test_the_simulator_passes_the_skewed_world(operator):
    result = _run(operator, "sim")
    assert result.outcome == "passed", [f.message for f in result.findings]


@pytest.mark.parametrize("operator, name", [
    ("alltoallv_gmm", "routing.own_block_stale"),
    ("alltoallv_gmm", "routing.empty_block_takes_a_row"),
    ("alltoallv_gmm", "arithmetic.weights_of_nonempty_groups"),
    ("alltoallv_gmm", "arithmetic.shared_last_k_dropped"),
    ("alltoallv_gmm", "outputs.permute_out_as_received"),
    ("gmm_alltoallv", "routing.own_block_from_start"),
    ("gmm_alltoallv", "routing.empty_block_takes_a_row"),
    ("gmm_alltoallv", "weights.weights_of_nonempty_groups"),
])
def test_a_fault_of_skewed_routing_fails_an_output_clause(operator, name):
    entry = ops.get(operator).part("mutants").get(name)
    result = _run(operator, entry.target)
    assert result.outcome == "failed", name
    assert {f.clause for f in result.findings} & OUTPUT_CLAUSES, [f.line() for f in result.findings]


def test_a_workspace_reaches_the_operator_poisoned_in_every_run(monkeypatch):
    """A part of the workspace the operator never writes reads as NaN in every run: a stale
    read (routing.own_block_stale) cannot borrow the rows an earlier run left in reused memory."""
    from fixtures import protocol
    from ops.alltoallv_gmm.sim import SimBackend

    seen: list[bytes] = []
    compute = SimBackend.compute

    def looking(self, ctx, ex, workspace):
        seen.append(bytes(np.unique(workspace)))
        compute(self, ctx, ex, workspace)

    monkeypatch.setattr(SimBackend, "compute", looking)
    assert _run("alltoallv_gmm", "sim").outcome == "passed"
    assert len(seen) == 8  # four ranks, each run twice (repeatability)
    assert set(seen) == {bytes([protocol.WORKSPACE_POISON_BYTE])}
    for run in range(3):
        result = _run("alltoallv_gmm", "ops.alltoallv_gmm.mutants.routing:own_block_stale")
        assert result.outcome == "failed", run
