"""The diagnosis of a data-movement fault (ops/alltoallv_gmm/diagnose.py): planted faults on a real
case's permuteOut (and gmmY) get the right pattern and the right origin of their first wrong row,
a correct output gets none, the cost stays linear by construction, and through the real harness
the catalog's routing mutants fail with a finding that names the pattern and where the first wrong
rows came from."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fixtures.backends import BackendSpec
from fixtures.harness import POISON_BITS
from fixtures.runner import Worlds
from golden import exact, linear
from ops.alltoallv_gmm import data, diagnose, load, oracle
from ops.alltoallv_gmm import mutants as M
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.oracle import expected_outputs, permute_out
from strategies import probe

RANK = 1
# Rank 1 receives expert 0 from sources 0, 2, 3 (rows 0-1, 2-4, 5), expert 1 from sources 0, 1, 3
# (rows 6-8, 9-10, 11-12) and expert 2 from sources 0, 1, 2 (rows 13, 14-15, 16).
SEND = ((1, 0, 2, 2, 3, 1, 0, 1, 1, 2, 0, 1),
        (0, 2, 1, 0, 2, 2, 1, 1, 0, 0, 3, 0),
        (2, 1, 0, 3, 0, 1, 2, 0, 2, 1, 1, 1),
        (1, 1, 1, 1, 2, 0, 0, 2, 1, 2, 0, 2))
CASE = Case("910_95", 4, 3, 16, 8, SEND, seed=5, clause="CALC.permute")


def own(s: int, j: int, i: int) -> dict:
    return {"source": s, "rank": RANK, "expert": j, "index": i}


def golden() -> np.ndarray:
    return permute_out(CASE, RANK)


def source_major() -> np.ndarray:
    """The rank's rows for source, for expert, read off the blocks themselves."""
    return np.concatenate([data.gmm_x_block(CASE, s, RANK, j) for s in range(4) for j in range(3)])


def swapped_0_2() -> np.ndarray:
    g = golden()
    return np.concatenate([g[13:17], g[6:13], g[0:6]])


def reversed_expert_1() -> np.ndarray:
    out = golden()
    out[6:13] = out[6:13][::-1].copy()
    return out


def reversed_block_s2_e0() -> np.ndarray:
    out = golden()
    out[2:5] = out[2:5][::-1].copy()
    return out


def shifted_up_2_in_expert_1() -> np.ndarray:
    g, out = golden(), golden()
    out[6:11] = g[8:13]
    out[11:13] = 0
    return out


def shifted_down_3_across() -> np.ndarray:
    g, out = golden(), golden()
    out[3:] = g[:-3]
    out[:3] = 0
    return out


def rotated_by_5() -> np.ndarray:
    return np.roll(golden(), 5, axis=0)


def stale_copy() -> np.ndarray:
    out = golden()
    out[10] = out[2]
    return out


def zero_row() -> np.ndarray:
    out = golden()
    out[4] = 0
    return out


def unwritten_row() -> np.ndarray:
    out = golden()
    out[4].view(np.uint16)[...] = POISON_BITS["float16"]
    return out


def another_tensors_row() -> np.ndarray:
    out = golden()
    out[4] = data.gmm_x_block(dataclasses.replace(CASE, seed=99), 0, RANK, 0)[0]
    return out


def another_ranks_row() -> np.ndarray:
    out = golden()
    out[4] = data.gmm_x_block(CASE, 3, 2, 1)[0]
    return out


# fault: (pattern name, first wrong row, where it came from)
PLANTED = {
    "source-major": (source_major, "source_major", 2, {"kind": "row", **own(0, 1, 0)}),
    "experts swapped": (swapped_0_2, "experts_swapped", 0, {"kind": "row", **own(0, 2, 0)}),
    "expert block reversed": (reversed_expert_1, "block_reversed", 6,
                              {"kind": "row", **own(3, 1, 1)}),
    "source block reversed": (reversed_block_s2_e0, "block_reversed", 2,
                              {"kind": "row", **own(2, 0, 2)}),
    "shifted within a block": (shifted_up_2_in_expert_1, "shifted", 6,
                               {"kind": "row", **own(0, 1, 2)}),
    "shifted across the output": (shifted_down_3_across, "shifted", 0,
                                  {"kind": "foreign", "content": "zeros"}),
    "rotated across the output": (rotated_by_5, "shifted", 0, {"kind": "row", **own(3, 1, 1)}),
    "stale row": (stale_copy, "stale", 10, {"kind": "repeated", **own(2, 0, 0)}),
    "zeros": (zero_row, "foreign", 4, {"kind": "foreign", "content": "zeros"}),
    "never written": (unwritten_row, "foreign", 4,
                      {"kind": "foreign", "content": "non-finite values"}),
    "another tensor": (another_tensors_row, "foreign", 4,
                       {"kind": "foreign", "content": "other values"}),
    "another rank": (another_ranks_row, "other_rank", 4,
                     {"kind": "other_rank", "source": 3, "rank": 2, "expert": 1, "index": 0}),
}


@pytest.mark.parametrize("fault", PLANTED)
def test_a_planted_fault_gets_its_pattern_and_the_origin_of_its_first_wrong_row(fault: str):
    make, pattern, row, found = PLANTED[fault]
    d = diagnose.permute(CASE, RANK, make(), golden())
    assert d is not None and d["pattern"]["name"] == pattern, d["pattern"]
    assert d["first"][0]["row"] == row
    assert d["first"][0]["found"] == found
    assert d["first"][0]["expected"] == diagnose.Layout(CASE, RANK).origin(row)
    json.dumps(d)  # data a report can keep


def test_the_patterns_parameters_say_which_experts_block_and_shift():
    def pattern(make) -> dict:
        return diagnose.permute(CASE, RANK, make(), golden())["pattern"]

    assert pattern(swapped_0_2)["experts"] == [0, 2]
    assert pattern(reversed_expert_1)["text"] == "expert 1's block reversed"
    assert pattern(reversed_block_s2_e0)["text"] == "the block of source 2 for expert 0 reversed"
    within = pattern(shifted_up_2_in_expert_1)
    assert (within["k"], within["rows"]) == (-2, [6, 13])
    assert within["text"].startswith("rows shifted by -2 within expert 1's block")
    across = pattern(shifted_down_3_across)
    assert (across["k"], across["rows"], across["wrap"]) == (3, [0, 17], False)
    assert "across the output" in across["text"]
    rotated = pattern(rotated_by_5)
    assert (rotated["k"], rotated["rows"], rotated["wrap"]) == (5, [0, 17], True)


def test_two_patterns_that_explain_the_same_rows_are_both_named():
    """Rank 0 gets expert 0's rows from source 1 only and expert 1's from source 0 only: laid out
    source-major, they are the two experts swapped."""
    case = Case("910_95", 4, 2, 4, 2, ((0, 2, 1, 0, 0, 0, 0, 0), (3, 0, 0, 1, 0, 0, 0, 0),
                                        (0, 0, 1, 1, 0, 0, 0, 0), (0, 0, 0, 0, 1, 1, 0, 0)), seed=1)
    g = permute_out(case, 0)
    lay = diagnose.Layout(case, 0)
    d = diagnose.permute(case, 0, g[lay.source_major()], g)
    assert (d["pattern"]["name"], d["pattern"]["also"]) == ("experts_swapped", ["source_major"])
    assert "; equally, source-major order" in d["pattern"]["text"]


def test_faults_of_different_kinds_are_counted_by_kind():
    out = stale_copy()
    out[4] = 0
    d = diagnose.permute(CASE, RANK, out, golden())
    assert d["pattern"]["name"] == "mixed"
    assert d["kinds"] == {"repeated": 1, "foreign": 1}


def test_the_other_ranks_rows_are_searched_only_within_the_budget(monkeypatch):
    d = diagnose.permute(CASE, RANK, another_ranks_row(), golden())
    assert d["searched"]["other_ranks"].startswith("searched")
    assert diagnose.permute(CASE, RANK, source_major(), golden())["searched"]["other_ranks"] == (
        "not needed")
    monkeypatch.setattr(diagnose, "WORLD_ROWS", 4)
    d = diagnose.permute(CASE, RANK, another_ranks_row(), golden())
    assert d["first"][0]["found"] == {"kind": "unsearched"}
    assert d["pattern"]["name"] == "unsearched"
    assert d["searched"]["other_ranks"] == "not searched: more than 4 rows"


def test_a_correct_output_gets_no_diagnosis():
    g = golden()
    assert diagnose.permute(CASE, RANK, g.copy(), g) is None
    v = diagnose.explain_permute(exact("permuteOut", g.copy(), g), CASE, RANK, g.copy(), g)
    assert v.passed and v.diagnosis is None and v.as_dict()["diagnosis"] is None


def test_the_verdict_names_the_pattern_and_the_first_wrong_rows_in_one_line():
    g, out = golden(), source_major()
    v = diagnose.explain_permute(exact("permuteOut", out, g), CASE, RANK, out, g)
    line = v.summary()
    assert "\n" not in line and not v.passed
    assert "15 of 17 rows wrong: source-major order" in line
    assert "row 2 holds source 0 expert 1 row 0 (expected source 2 expert 0 row 0)" in line
    assert v.as_dict()["diagnosis"] == v.diagnosis == diagnose.permute(CASE, RANK, out, g)


def test_a_shape_mismatch_is_left_to_the_judge():
    g = golden()
    out = g[:-1].copy()
    v = exact("permuteOut", out, g)
    assert diagnose.explain_permute(v, CASE, RANK, out, g) is v


# -- the cost: linear by construction ----------------------------------------------------------


def _wide_case() -> Case:
    """ep 8, e 4, rank 0 receiving some thousands of rows."""
    rng = np.random.default_rng(3)
    send = tuple(tuple(int(c) for c in rng.integers(0, 120, 32)) for _ in range(8))
    return Case("910_95", 8, 4, 8, 4, send, seed=2, clause="CALC.permute")


# Patterns tried, at most: for each of two anchors a swap, three reversals and three regions'
# shifts, with and without wrapping; then source-major order.
MOST_PATTERNS = 2 * (1 + 3 + 3 * 2) + 1


def test_the_number_of_patterns_tried_does_not_grow_with_the_output():
    for case, rank in ((CASE, RANK), (_wide_case(), 0)):
        lay = diagnose.Layout(case, rank)
        last = lay.rows - 1
        for anchors in ([(0, last), (last, 0)], [(last // 2, 1), (last, last // 3)]):
            assert len(list(diagnose.hypotheses(lay, anchors))) <= MOST_PATTERNS


@pytest.mark.parametrize("fault", ["source_major", "rotation"])
def test_rows_compared_grow_linearly_with_the_output(monkeypatch, fault: str):
    """Every row comparison the diagnosis makes, counted: at most a constant times the rows, the
    same constant for 17 rows and for thousands."""
    compared = [0]
    real = diagnose._rows_equal

    def counted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        compared[0] += len(a)
        return real(a, b)

    monkeypatch.setattr(diagnose, "_rows_equal", counted)
    bound = 2 + diagnose.ALIKE + MOST_PATTERNS  # the wrong rows, their look-up, each pattern
    sizes = []
    for case, rank in ((CASE, RANK), (_wide_case(), 0)):
        lay, g = diagnose.Layout(case, rank), permute_out(case, rank)
        out = g[lay.source_major()] if fault == "source_major" else np.roll(g, 5, axis=0)
        compared[0] = 0
        assert diagnose.permute(case, rank, out, g) is not None
        assert compared[0] <= bound * lay.rows
        sizes.append(lay.rows)
    assert sizes[1] > 100 * sizes[0]


def test_the_world_search_generates_eight_bytes_a_row_and_whole_rows_only_for_hits(monkeypatch):
    generated = [0]
    real = diagnose.block_elements

    def counted(keys: np.ndarray, index: np.ndarray, dtype: str) -> np.ndarray:
        generated[0] += len(keys)
        return real(keys, index, dtype)

    monkeypatch.setattr(diagnose, "block_elements", counted)
    case = _wide_case()
    g = permute_out(case, 0)
    out = g.copy()
    out[7] = data.gmm_x_block(case, 2, 5, 3)[1]
    d = diagnose.permute(case, 0, out, g)
    assert d["first"][0]["found"] == {"kind": "other_rank", "source": 2, "rank": 5, "expert": 3,
                                      "index": 1}
    world_rows = sum(case.send[s][r * 4 + j] for s in range(8) for r in range(1, 8)
                     for j in range(4))
    assert generated[0] <= world_rows * 4 + case.h1


# -- gmmY, where permuteOut is not requested ---------------------------------------------------

GMM_CASE = dataclasses.replace(CASE, permute_out_flag=False, clause="CALC.gmm")


def _gmm_verdict(y: np.ndarray):
    asked = oracle.requested(GMM_CASE.call(RANK))
    checks, _ = oracle.judge_outputs(GMM_CASE, RANK, {"gmmY": y}, asked, "mixed")
    (verdict,) = [v for clause, _, v in checks if clause == "CALC.gmm"]
    return verdict


def test_gmm_rows_moved_after_the_matmul_are_found_among_the_expected_rows():
    gold = expected_outputs(GMM_CASE, RANK)["gmmY"]
    y = np.concatenate([gold[13:17], gold[6:13], gold[0:6]]).astype(np.float16)
    v = _gmm_verdict(y)
    d = v.diagnosis
    assert not v.passed and d["output"] == "gmmY"
    assert (d["pattern"]["name"], d["pattern"]["stage"]) == ("experts_swapped", "after_matmul")
    assert d["first"][0]["found"] == {"kind": "expected_row", "row": 13, **own(0, 2, 0)}
    assert "experts 0 and 2 swapped" in v.reason and "row 0 holds expected row 13" in v.reason
    json.dumps(d)


def test_gmm_rows_moved_before_the_matmul_are_found_under_their_places_weights():
    worlds = Worlds(BackendSpec("ops.alltoallv_gmm.mutants.routing:two_experts_swapped", {"behavior": "doc"}))
    try:
        result = worlds.run(GMM_CASE, load("doc"))
    finally:
        worlds.close()
    (finding,) = [f for f in result.findings if f.rank == RANK]
    d = finding.stats["diagnosis"]
    assert (d["pattern"]["name"], d["pattern"]["stage"]) == ("experts_swapped", "before_matmul")
    assert d["pattern"]["experts"] == [0, 1]
    assert d["first"][0] == {"row": 0, "expected": own(0, 0, 0),
                             "found": {"kind": "weighted", "weight": 0, **own(0, 1, 0)}}
    assert "row 0 holds source 0 expert 1 row 0 under expert 0's weight" in finding.message


def test_a_gmm_row_no_routing_explains_is_said_to_be_none():
    gold = expected_outputs(GMM_CASE, RANK)["gmmY"]
    y = gold.astype(np.float16)
    y[3] *= np.float16(1.5)
    d = _gmm_verdict(y).diagnosis
    assert d["wrong_rows"] == 1 and d["pattern"]["name"] == "none"
    assert d["first"][0]["found"] == {"kind": "none", "expert": 0}


def test_a_correct_gmm_and_the_linear_judges_gmm_get_no_diagnosis(monkeypatch):
    gold = expected_outputs(GMM_CASE, RANK)["gmmY"]
    ok = _gmm_verdict(gold.astype(np.float16))
    assert ok.passed and ok.diagnosis is None
    assert diagnose.gmm(GMM_CASE, RANK, gold.astype(np.float16), gold, golden(),
                        data.gmm_weight_logical(GMM_CASE, RANK), "mixed") is None
    monkeypatch.setattr(linear, "ORACLE_MACS", 0)  # gmmY judged linearly: no golden to search
    y = np.concatenate([gold[13:17], gold[6:13], gold[0:6]]).astype(np.float16)
    v = _gmm_verdict(y)
    assert not v.passed and v.diagnosis is None


# -- through the harness: the catalog's routing mutants -----------------------------------------


def _layout(case: Case, rank: int, sources_first: bool, experts: list[int]) -> list[tuple]:
    """(source, expert, index) of every row, for source then expert or expert then source."""
    e = case.e
    if sources_first:
        blocks = [(s, j) for s in range(case.ep) for j in experts]
    else:
        blocks = [(s, j) for j in experts for s in range(case.ep)]
    return [(s, j, i) for s, j in blocks for i in range(case.send[s][rank * e + j])]


def _first_wrong(case: Case, rank: int, got: list[tuple]) -> str | None:
    want = _layout(case, rank, False, list(range(case.e)))
    p = next((p for p, (a, b) in enumerate(zip(got, want, strict=True)) if a != b), None)
    if p is None:
        return None
    s, j, i = got[p]
    return f"row {p} holds source {s} expert {j} row {i}"


MUTANTS = {
    "source_major_permute": ("source-major order",
                             lambda case, r: _layout(case, r, True, list(range(case.e)))),
    "two_experts_swapped": ("experts 0 and 1 swapped",
                            lambda case, r: _layout(case, r, False, [1, 0, *range(2, case.e)])),
}


@pytest.fixture(scope="module")
def permute_case() -> Case:
    case, why = probe("CALC.permute", "valid", "910_95", 4, load("doc"))
    assert case is not None, why
    return case


def test_two_experts_swapped_is_a_routing_mutant_of_the_catalog():
    entry = M.CATALOG["routing.two_experts_swapped"]
    assert entry.kind == "mutant" and entry.target == "ops.alltoallv_gmm.mutants.routing:two_experts_swapped"


@pytest.mark.parametrize("mutant", MUTANTS)
def test_a_routing_mutants_finding_names_the_pattern_and_the_source_of_the_first_wrong_rows(
        permute_case: Case, mutant: str):
    pattern, layout = MUTANTS[mutant]
    profile = load("doc")
    worlds = Worlds(BackendSpec(f"ops.alltoallv_gmm.mutants.routing:{mutant}", {"behavior": "doc"}))
    try:
        result = worlds.run(permute_case, profile)
    finally:
        worlds.close()
    assert result.outcome == "failed"
    findings = {f.rank: f for f in result.findings if f.clause == "CALC.permute"}
    expected = {r: _first_wrong(permute_case, r, layout(permute_case, r))
                for r in range(permute_case.ep)}
    assert set(findings) == {r for r, first in expected.items() if first is not None}
    for rank, finding in findings.items():
        assert finding.kind == "movement"
        assert pattern in finding.message and expected[rank] in finding.message, finding.message
        assert finding.stats["diagnosis"]["pattern"]["text"].startswith(pattern)


def test_the_sim_gets_no_diagnosis_on_the_same_case(permute_case: Case):
    worlds = Worlds(BackendSpec("sim", {"behavior": "doc"}))
    try:
        result = worlds.run(permute_case, load("doc"))
    finally:
        worlds.close()
    assert result.passed, [f.message for f in result.findings]
    assert all(v["diagnosis"] is None for r in result.reports for v in r.verdicts)
