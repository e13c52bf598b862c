"""The round trip of one MoE layer (ops/moe_layer/): the dispatch then the combine on the same
world, identity experts bit for bit, random ones by the standard, the combine as the dispatch's
backward; planted faults in either half caught under the round trip's clauses, with a replay
command that reproduces them; a backend with one operator only not applicable, never passed."""

from __future__ import annotations

import dataclasses
import json
import shlex

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
from fixtures.backends import BackendError, BackendSpec
from fixtures.runner import Worlds
from golden.judges import as_f64
from ops.alltoallv_gmm import data as dispatch_data
from ops.alltoallv_gmm.case import Case as DispatchCase
from ops.moe_layer import data, oracle
from ops.moe_layer import pair as pair_module
from ops.moe_layer.case import Case
from reports import matrix
from reports.results import load
from spec.expect import expect_case
from strategies import clause_cases, probe
from tests.support.runs import run_module

OP = ops.get("moe_layer")
DOC = OP.profile("doc")
DISPATCH_MUTANT = "ops.alltoallv_gmm.mutants.routing:source_major_permute"
COMBINE_FAULT = "ops.gmm_alltoallv.mutants.routing:last_expert_dropped"
MODES = ("identity", "composite", "backward")
# ep 4, e 3: expert 0 of rank 1 and every expert of rank 3 empty (rank 3 receives nothing),
# expert 2 of rank 0 hot, uneven rows everywhere.
SKEWED = ((0, 9, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0),
          (3, 7, 12, 0, 1, 0, 2, 2, 0, 0, 0, 0),
          (1, 0, 15, 0, 4, 1, 0, 0, 3, 0, 0, 0),
          (2, 1, 9, 0, 0, 0, 5, 0, 1, 0, 0, 0))


def _case(mode: str, dtype: str = "float16", h1: int = 16, n1: int = 16, **kw) -> Case:
    world = DispatchCase("910_95", 4, 3, h1, n1, SKEWED, dtype, seed=7)
    return Case(world, mode, clause=f"ROUNDTRIP.{mode}", **kw)


@pytest.fixture(scope="module")
def pair():
    worlds = Worlds(BackendSpec.for_profile("sim", {}, DOC), timeout=60)
    yield worlds
    worlds.close()


def _worlds(**options) -> Worlds:
    return Worlds(BackendSpec.for_profile("sim", options, DOC), timeout=60)


def test_the_pair_is_a_registered_composite_of_both_operators():
    assert OP.halves == ("alltoallv_gmm", "gmm_alltoallv")
    assert {c.id for c in OP.clauses_for("910_95")} == {f"ROUNDTRIP.{m}" for m in MODES}
    # its worlds are those both operators support
    assert OP.world_sizes("910_95") == (4, 8, 16, 32, 64)
    assert OP.world_sizes("A3") == (8, 16, 32, 64)
    case = _case("composite")
    assert ops.case_from_dict(json.loads(case.to_json())) == case
    assert OP.case_from_dict(Case.dict_from_compact(case.to_compact())) == case
    # each half is its own operator's case of the same world, the combine's counts swapped
    assert case.combine.send_counts(1) == case.dispatch.recv_counts(1)
    assert case.combine.recv_counts(1) == case.dispatch.send_counts(1)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_identity_experts_bring_every_token_back_bit_for_bit(pair, dtype):
    case = _case("identity", dtype)
    assert sum(case.send[r][3 * 3 + j] for r in range(4) for j in range(3)) == 0  # rank 3 empty
    result = pair.run(case, DOC)
    assert result.outcome == "passed", [f.line() for f in result.findings]
    verdicts = [v for r in result.reports for v in r.verdicts]
    assert [(v["clause"], v["standard"], v["passed"]) for v in verdicts] == [
        ("ROUNDTRIP.identity", "bitwise", True)] * 4
    assert {"OUT.written", "OUT.deterministic"} <= result.exercised


@pytest.mark.parametrize("mode", ["composite", "backward"])
def test_random_experts_pass_by_the_standard(pair, mode):
    for trans in ((False, True) if mode == "backward" else (False,)):
        result = pair.run(_case(mode, "bfloat16", 64, 8, trans_gmm_weight=trans), DOC)
        assert result.outcome == "passed", [f.line() for f in result.findings]
        assert {v["clause"] for r in result.reports for v in r.verdicts} == {f"ROUNDTRIP.{mode}"}


def test_the_backward_oracle_is_the_float64_gradient():
    """torch autograd of the forward agrees with the explicit formula dX = dY W1^T per block."""
    case = _case("backward", "float16", 16, 8)
    for rank in range(4):
        want, at = [], 0
        for _, r, j in oracle.blocks(case, rank):
            n = case.send[rank][r * 3 + j]
            g = as_f64(data.grad_blocks(case, [(rank, r, j)]))
            want.append(g @ as_f64(data.w1(case, r)[j]).T)
            at += n
        np.testing.assert_allclose(oracle.backward_golden(case, rank), np.concatenate(want),
                                   rtol=1e-12, atol=1e-12)


def test_identity_weights_cancel_exactly_per_expert():
    case = _case("identity")
    for j in range(3):
        w1, w2 = as_f64(data.w1(case, 0)[j]), as_f64(data.w2(case, 0)[j])
        assert np.array_equal(w1 @ w2, np.eye(16)) and w1[0, 0] == 2.0 ** (j % 4)
    x = dispatch_data.gmm_x(case.dispatch, 0)
    assert x.shape == (case.bsk(0), 16)


def test_a_source_major_dispatch_permute_fails_the_round_trip():
    worlds = _worlds(dispatch=DISPATCH_MUTANT)
    try:
        for mode in ("identity", "composite"):
            result = worlds.run(_case(mode), DOC)
            assert result.outcome == "failed"
            assert result.failing_clauses() == [f"ROUNDTRIP.{mode}"]
        # the backward pairing calls the combine alone: a dispatch fault cannot show there
        assert worlds.run(_case("backward"), DOC).passed
    finally:
        worlds.close()


def test_a_combine_unpermute_ignoring_an_expert_fails_the_round_trip():
    worlds = _worlds(combine=COMBINE_FAULT)
    try:
        for mode in MODES:
            result = worlds.run(_case(mode), DOC)
            assert result.outcome == "failed", mode
            assert result.failing_clauses() == [f"ROUNDTRIP.{mode}"]
    finally:
        worlds.close()


def test_a_backend_of_one_operator_is_not_applicable_never_passed():
    # a backend of one's own that implements the dispatch alone stands for both halves
    spec = BackendSpec.for_profile("ops.alltoallv_gmm.sim:factory", {}, DOC)
    assert spec.name == OP.composer and spec.options["backend"] == "ops.alltoallv_gmm.sim:factory"
    worlds = Worlds(spec, timeout=60)
    try:
        result = worlds.run(_case("identity"), DOC)
        assert result.outcome == "not_applicable"
        assert "needs both operators" in result.reason
        assert "implements alltoallv_gmm, not aclnnGroupedMatMulAlltoAllv" in result.reason
    finally:
        worlds.close()


def test_a_built_in_name_one_operator_lacks_is_not_applicable(monkeypatch):
    combine = pair_module.ROLES["combine"]
    lacking = dataclasses.replace(combine, backends={k: v for k, v in combine.backends.items()
                                                     if k != "torch_npu"})
    monkeypatch.setitem(pair_module.ROLES, "combine", lacking)
    npu = BackendSpec.for_profile("sim", {"combine": "torch_npu"}, DOC).make()
    assert npu.missing == ["aclnnGroupedMatMulAlltoAllv has no torch_npu backend"]


def test_the_combine_starts_after_the_dispatch_has_written_its_input():
    """A device backend takes its inputs to the device in its first stage: the combine's first
    stage must come after the dispatch's second, or it reads gmmY before it is written."""
    worlds = _worlds(combine="tests.support.combine_faults:inputs_at_first_stage")
    try:
        for mode in ("identity", "composite"):
            result = worlds.run(_case(mode), DOC)
            assert result.outcome == "passed", [f.line() for f in result.findings]
    finally:
        worlds.close()


def test_a_half_that_cannot_be_loaded_is_bad_input():
    with pytest.raises(BackendError, match=r"round trip's dispatch half: --backend 'no\.such:x'"):
        BackendSpec.for_profile("sim", {"dispatch": "no.such:x"}, DOC).make()


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_drawn_worlds_are_valid_for_both_operators(data):
    mode = data.draw(st.sampled_from(MODES))
    product, ep = data.draw(st.sampled_from([("910_95", 4), ("910_95", 8), ("A3", 8)]))
    profile = OP.profile(data.draw(st.sampled_from(["doc", "cann-2026.07"])))
    found, why = probe(f"ROUNDTRIP.{mode}", "valid", product, ep, profile)
    if found is None:  # A3 under a floor: too big for the PR tier, with the reason
        assert product == "A3" and "volume floor" in why
        return
    case = data.draw(clause_cases(f"ROUNDTRIP.{mode}", "valid", product, ep, profile))
    assert (case.mode, case.product, case.ep) == (mode, product, ep)
    dispatch, combine = (ops.get(h).profile(profile.name) for h in OP.halves)
    assert expect_case(case.combine, combine).outcome == "success"
    if mode != "backward":
        assert expect_case(case.dispatch, dispatch).outcome == "success"
    if mode == "identity":
        assert case.h1 == case.n1


@pytest.mark.parametrize("mode", MODES)
def test_a_commmode_a_half_rejects_leaves_the_round_trip_unreachable_with_its_reason(mode):
    shipped = OP.profile("cann-2026.07")
    clause = f"ROUNDTRIP.{mode}"
    case, why = probe(clause, "valid", "A3", 8, shipped, "float16", "v2", "ccu")
    assert case is None
    assert "rejects this world: status 161002 from the first stage (PRODUCT.A3.commMode)" in why
    case, why = probe(clause, "valid", "910_95", 8, shipped, "float16", "v2", "ccu")
    assert case is not None and (case.entry, case.comm_mode) == ("v2", "ccu"), why


def test_larger_worlds_are_left_to_nightly_with_the_reason():
    case, why = probe("ROUNDTRIP.identity", "valid", "910_95", 16, DOC)
    assert case is None and "pr tier computes the round trip at ep <= 8" in why


# -- the suite: planted faults name the clause and replay; one operator is not applicable --------

SUITE = ["pytest", "suites/test_round_trip.py", "--product", "910_95", "--world-sizes", "4",
         "-p", "no:cacheprovider", "-q", "-n", "0"]


@pytest.mark.parametrize("option", [f"dispatch={DISPATCH_MUTANT}", f"combine={COMBINE_FAULT}"])
def test_a_faulty_half_fails_the_suite_and_its_replay_reproduces_it(tmp_path, option):
    proc = run_module(*SUITE, "--operator", "moe_layer", "--backend-option", option,
                      "--output-dir", str(tmp_path), "-k", "identity and float16",
                      timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "[ROUNDTRIP.identity] movement on rank" in proc.stdout
    replay = next(line.split("replay: ", 1)[1] for line in proc.stdout.splitlines()
                  if "replay: " in line)
    argv = shlex.split(replay)
    assert argv[:3] == ["python", "-m", "ci.replay"] and option in argv
    again = run_module(*argv[2:], timeout=120)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "verdict: FAILED" in again.stdout and "[ROUNDTRIP.identity]" in again.stdout
    part = matrix.build(load(tmp_path))["operators"]["moe_layer"]
    assert part["products"]["910_95"]["clauses"]["ROUNDTRIP.identity"]["state"] == "failed"


def test_the_suite_reports_a_one_operator_backend_not_applicable(tmp_path):
    proc = run_module(*SUITE, "--backend", "ops.alltoallv_gmm.sim:factory",
                      "--output-dir", str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "passed" not in proc.stdout.splitlines()[-1]
    assert "not applicable: the round trip needs both operators" in proc.stdout
    rows = matrix.build(load(tmp_path))["operators"]["moe_layer"]["products"]["910_95"]["clauses"]
    assert {cid: row["state"] for cid, row in rows.items()} == {
        f"ROUNDTRIP.{m}": "not_applicable" for m in MODES}


def test_an_option_of_the_pair_alone_says_how_to_run_it():
    proc = run_module(*SUITE, "--backend-option", f"dispatch={DISPATCH_MUTANT}", timeout=300)
    assert proc.returncode == 4
    assert "run it alone with --operator moe_layer" in proc.stderr + proc.stdout

