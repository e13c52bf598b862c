"""The oracle: permuteOut as a plain nested-loop reading of OPERATOR.md section 1, gmmY and mmY in
float64, and judges that reject each planted fault and accept the sim's correct outputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import JUDGES, exact, judge
from ops.alltoallv_gmm import data
from ops.alltoallv_gmm.case import Case, Shared
from ops.alltoallv_gmm.oracle import expected_outputs, expert_row_offsets, permute_out
from ops.moe import oracle as moe_oracle
from tests.support.simrun import sim_outputs


@st.composite
def uneven_worlds(draw) -> Case:
    """ep 4 or 8, e 1..4, uneven counts with zeros, and sometimes a rank that receives nothing."""
    ep = draw(st.sampled_from([4, 8]))
    e = draw(st.integers(1, 4))
    counts = draw(st.lists(st.lists(st.integers(0, 4), min_size=ep * e, max_size=ep * e),
                           min_size=ep, max_size=ep))
    silent = draw(st.one_of(st.none(), st.integers(0, ep - 1)))
    if silent is not None:
        for row in counts:
            row[silent * e:(silent + 1) * e] = [0] * e
    h1 = draw(st.sampled_from([1, 3, 16]))
    return Case("910_95", ep, e, h1, 2, tuple(map(tuple, counts)),
                dtype=draw(st.sampled_from(["float16", "bfloat16"])), seed=draw(st.integers(0, 99)))


def nested_loop_permute(case: Case, rank: int) -> np.ndarray:
    """OPERATOR.md section 1, literally: rank s's gmmX is ordered by destination rank, then local
    expert; rank r lays out, for j, for s, the rows s sent to its expert j, in sending order."""
    gmm_x = [data.gmm_x(case, s) for s in range(case.ep)]  # every rank's whole tensor
    rows = []
    for j in range(case.e):
        for s in range(case.ep):
            start = sum(case.send[s][:rank * case.e + j])
            for i in range(case.send[s][rank * case.e + j]):
                rows.append(gmm_x[s][start + i])
    return np.array(rows, dtype=gmm_x[0].dtype).reshape(len(rows), case.h1)


@settings(max_examples=60, deadline=None)
@given(uneven_worlds())
def test_golden_permute_equals_the_nested_loop_reading_bit_for_bit(case):
    for r in range(case.ep):
        golden, literal = permute_out(case, r), nested_loop_permute(case, r)
        assert golden.shape == literal.shape
        assert np.array_equal(golden.view(np.uint16), literal.view(np.uint16))


def test_golden_products_are_float64_einsums():
    case = Case("910_95", 4, 3, 7, 5, ((1, 2, 0, 3, 1, 0, 2, 2, 1, 0, 1, 4),) * 4,
                shared=Shared((3, 3, 3, 3), 6, 4), trans_gmm_weight=True, seed=3)
    for r in range(4):
        out = expected_outputs(case, r)
        w = data.gmm_weight_logical(case, r).astype(np.float64)
        off = expert_row_offsets(case, r)
        p = out["permuteOut"].astype(np.float64)
        for j in range(case.e):
            want = np.einsum("ak,kn->an", p[off[j]:off[j + 1]], w[j])
            assert np.allclose(out["gmmY"][off[j]:off[j + 1]], want, rtol=1e-12, atol=0)
        mm = np.einsum("bk,kn->bn", data.mm_x(case, r).astype(np.float64),
                       data.mm_weight_logical(case, r).astype(np.float64))
        assert np.allclose(out["mmY"], mm, rtol=1e-12, atol=0)


@pytest.mark.parametrize("sizes", [(0, 5, 0, 0, 3, 9, 1, 0), (13,), (0, 0), (4, 4, 4, 1)])
def test_grouped_product_is_each_groups_einsum_across_slice_boundaries(monkeypatch, sizes):
    """Rows go to float64 a slice at a time across group boundaries: with slices of 4 rows,
    groups that are empty, end on a slice boundary, or span several slices still take their
    own weight, row for row."""
    monkeypatch.setattr(moe_oracle, "SLICE_ROWS", (4, 4))
    rng = np.random.default_rng(5)
    off = [0, *np.cumsum(sizes).tolist()]
    x = rng.standard_normal((off[-1], 6)).astype(np.float16)
    w = rng.standard_normal((len(sizes), 6, 3))
    y = moe_oracle.grouped_product(x, off, w.__getitem__, 3)
    assert y.shape == (off[-1], 3)
    for g in range(len(sizes)):
        want = np.einsum("ak,kn->an", x[off[g]:off[g + 1]].astype(np.float64), w[g])
        assert np.allclose(y[off[g]:off[g + 1]], want, rtol=1e-12, atol=0)


# -- judges against planted faults ----------------------------------------------------------

FAULT_CASE = Case("910_95", 4, 2, 256, 32, ((6, 5, 4, 7, 5, 6, 8, 3),) * 4, dtype="float16",
                  shared=Shared((16, 16, 16, 16), 64, 32), seed=11)


@pytest.fixture(scope="module")
def correct():
    """The sim's outputs and the oracle's, rank 1 (a rank with two non-empty expert blocks)."""
    return sim_outputs(FAULT_CASE)[1], expected_outputs(FAULT_CASE, 1)


def _judge_all(out: dict, golden: dict) -> dict[str, bool]:
    """Each standard's verdict on gmmY and mmY together with the bit check of permuteOut."""
    return {name: exact("permuteOut", out["permuteOut"], golden["permuteOut"]).passed
            and judge(name, "gmmY", out["gmmY"], golden["gmmY"], "float16").passed
            and judge(name, "mmY", out["mmY"], golden["mmY"], "float16").passed
            for name in JUDGES}


def test_each_judge_accepts_the_sims_correct_output(correct):
    out, golden = correct
    assert _judge_all(out, golden) == {name: True for name in JUDGES}


@pytest.mark.parametrize("name", list(JUDGES))
def test_each_judge_rejects_two_rows_swapped_in_permute_out(correct, name):
    out, golden = correct
    swapped = out["permuteOut"].copy()
    swapped[[0, 5]] = swapped[[5, 0]]
    assert not exact("permuteOut", swapped, golden["permuteOut"]).passed
    as_values = judge(name, "permuteOut", swapped, golden["permuteOut"].astype(np.float64),
                      "float16")
    assert not as_values.passed and as_values.worst_index[0] in (0, 5)


@pytest.mark.parametrize("name", list(JUDGES))
def test_each_judge_rejects_one_experts_block_scaled_by_1_01(correct, name):
    """fp16: 1 % is above every fp16 tolerance (bf16's mixed rtol, 2^-6, would admit it)."""
    out, golden = correct
    off = expert_row_offsets(FAULT_CASE, 1)
    scaled = out["gmmY"].astype(np.float32)
    scaled[off[1]:off[2]] *= np.float32(1.01)
    verdict = judge(name, "gmmY", scaled.astype(np.float16), golden["gmmY"], "float16")
    assert not verdict.passed
    assert off[1] <= verdict.worst_index[0] < off[2]


@pytest.mark.parametrize("name", list(JUDGES))
def test_each_judge_rejects_one_nan_in_mm_y(correct, name):
    out, golden = correct
    poisoned = out["mmY"].copy()
    poisoned[3, 7] = np.nan
    verdict = judge(name, "mmY", poisoned, golden["mmY"], "float16")
    assert not verdict.passed and verdict.worst_index == (3, 7)


def test_a_verdict_carries_its_statistics(correct):
    out, golden = correct
    v = judge("mixed", "gmmY", out["gmmY"], golden["gmmY"], "float16")
    assert v.passed and v.standard == "mixed" and v.elements == out["gmmY"].size
    assert v.matched_ratio == 1.0 and 0 < v.max_abs_error < 2.0**-9
    assert v.mere < 2.0**-10 and v.mare >= v.mere and len(v.worst_index) == 2
    assert "matched 100.0000%" in v.summary()
    with pytest.raises(ValueError, match="accepted: mixed, mere-mare, allclose"):
        judge("cosine", "gmmY", out["gmmY"], golden["gmmY"], "float16")
