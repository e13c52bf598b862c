"""The linear judge (golden/linear.py) against the full oracle on sizes where both run: the same
verdict on correct outputs and on planted faults, no false alarm from errors up to the standard's
allowance, and the harness choosing it where the oracle is out of reach."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from fixtures.backends import BackendSpec
from fixtures.harness import POISON_BITS
from fixtures.runner import Worlds
from golden import judge, linear
from ops.alltoallv_gmm import load, oracle
from ops.alltoallv_gmm.case import Case, Shared
from ops.alltoallv_gmm.oracle import expected_outputs, expert_row_offsets
from tests.support.simrun import sim_outputs

STANDARDS = ("mixed", "mere-mare", "allclose")


def tile_case(dtype: str = "float16", shared: bool = False) -> Case:
    """ep 4, e 3: on rank 0 an expert group past 256 rows, an empty one, a short one; an N
    tail."""
    send = ((150, 0, 9, 1, 0, 0, 2, 0, 0, 0, 0, 1),
            (100, 0, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0),
            (40, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0),
            (30, 0, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0))
    sh = Shared(tuple(sum(r) // 2 for r in send), 33, 257) if shared else None
    return Case("910_95", 4, 3, 300, 257, send, dtype=dtype, shared=sh, seed=5)


@cache
def outputs(dtype: str, shared: bool = False) -> tuple[dict[str, np.ndarray], ...]:
    """The sim's outputs of `tile_case` on every rank, computed once per module."""
    return tuple(sim_outputs(tile_case(dtype, shared)))


def verdicts(case: Case, outs: dict[str, np.ndarray], standard: str, rank: int = 0):
    from ops.alltoallv_gmm.oracle import permute_out

    gold = expected_outputs(case, rank)
    full = judge(standard, "gmmY", outs["gmmY"], gold["gmmY"], case.dtype)
    lin = oracle.judge_gmm(standard, outs["gmmY"], case, rank, permute_out(case, rank))
    return full, lin


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("standard", STANDARDS)
def test_correct_output_passes_both(dtype: str, standard: str) -> None:
    case = tile_case(dtype, shared=True)
    outs = outputs(dtype, shared=True)
    for rank in range(case.ep):
        full, lin = verdicts(case, outs[rank], standard, rank)
        assert full.passed and lin.passed, (full.summary(), lin.summary())
        assert lin.standard == f"linear({standard})" and "Rademacher" in lin.reason
        mm = oracle.judge_mm(standard, outs[rank]["mmY"], case, rank)
        assert mm.passed, mm.summary()


def _faults(case: Case, y: np.ndarray) -> dict[str, np.ndarray]:
    off = expert_row_offsets(case, 0)
    out = {}
    b = y.copy()
    b[100] = y[101]
    out["row"] = b
    b = y.copy()
    b[:, 7] = y[:, 8]
    out["column"] = b
    b = y.copy()
    b[128:256, 0:256] = y[0:128, 0:256]
    out["tile"] = b
    b = y.copy()
    b[off[0]:off[1]] = y[off[2] - (off[1] - off[0]):off[2]] if off[2] - off[1] >= off[1] else 0
    out["expert"] = b
    b = y.copy()
    b[200].view(f"u{y.itemsize}")[...] = POISON_BITS[case.dtype]
    out["unwritten row"] = b
    b = y.copy()
    b[-1] = 0
    out["last row of the last group"] = b
    return out


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_planted_faults_fail_both(dtype: str) -> None:
    case = tile_case(dtype)
    y = outputs(dtype)[0]["gmmY"]
    for name, bad in _faults(case, y).items():
        full, lin = verdicts(case, {"gmmY": bad}, "mixed")
        assert not full.passed, name
        assert not lin.passed, f"{name}: {lin.summary()}"
        assert "FAILED: " in lin.reason


def test_one_element_past_its_row_threshold_is_caught_by_the_projection() -> None:
    case = tile_case()
    y = outputs("float16")[0]["gmmY"].copy()
    y[5, 3] += np.float16(4.0)
    lin = verdicts(case, {"gmmY": y}, "mixed")[1]
    assert not lin.passed and "1 rows off their projection (worst row 5" in lin.reason


@pytest.mark.parametrize("standard", STANDARDS)
def test_errors_up_to_the_allowance_never_fail(standard: str) -> None:
    """Every element off by 90% of its allowance, with signs that do not know the probe."""
    case = tile_case()
    gold = expected_outputs(case, 0)["gmmY"]
    a, b = linear.tolerance(standard, case.dtype)
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = gold + 0.9 * (a + b * np.abs(gold)) * rng.choice((-1.0, 1.0), gold.shape)
        from ops.alltoallv_gmm.oracle import permute_out

        v = linear.linear_judge(standard, "gmmY", y, oracle.gmm_groups(case, 0, permute_out(case, 0)),
                                case.dtype, int(rng.integers(1 << 30)))
        assert "rows off their projection" not in v.reason, v.reason


def test_miss_bound_is_erdos() -> None:
    assert linear.miss_bound(2, 1) == pytest.approx(0.5)  # C(2,1)/4
    assert linear.miss_bound(4, 1) == pytest.approx(6 / 16)
    assert linear.miss_bound(256, 4) < 1e-5


def test_the_harness_judges_linearly_past_the_threshold(monkeypatch) -> None:
    monkeypatch.setattr(linear, "ORACLE_MACS", 0)
    assert oracle.preferred(tile_case(), 0)
    case = tile_case(shared=True)
    profile = load("doc")
    good = Worlds(BackendSpec("sim", {"behavior": "doc"}))
    bad = Worlds(BackendSpec("ops.alltoallv_gmm.mutants.arithmetic:wrong_expert_weight", {"behavior": "doc"}))
    try:
        ok = good.run(case, profile, "mixed")
        assert ok.passed, [f.message for f in ok.findings]
        standards = {v["standard"] for r in ok.reports for v in r.verdicts}
        assert standards == {"bitwise", "linear(mixed)"}
        failed = bad.run(case, profile, "mixed")
        assert "CALC.gmm" in failed.failing_clauses()
        assert any("linear(mixed) FAILED" in f.message for f in failed.findings)
    finally:
        good.close()
        bad.close()


def _big_case(dtype: str) -> Case:
    """One rank receiving 1,500 rows over three experts, H1 past a K pass, an N tail: large
    enough that the float32 sums are long, small enough for the float64 oracle."""
    send = ((600, 0, 250, 1, 0, 0, 0, 0), (300, 0, 150, 0, 1, 0, 0, 0),
            (100, 0, 50, 0, 0, 1, 0, 0), (50, 0, 0, 0, 0, 0, 1, 0))
    return Case("910_95", 4, 2, 4100, 600, send, dtype=dtype, seed=9)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_float32_rounding_bound_alone_holds_the_exact_product(monkeypatch, dtype: str) -> None:
    """With no allowance at all (a = b = 0) only the float32 rounding bound stands between the
    exact float64 product and a failure: it must hold it, and still catch a small error."""
    from ops.alltoallv_gmm.oracle import gmm_y, permute_out

    case = _big_case(dtype)
    p = permute_out(case, 0)
    gold = gmm_y(case, 0, p)
    groups = oracle.gmm_groups(case, 0, p)
    monkeypatch.setattr(linear, "tolerance", lambda standard, dt: (0.0, 0.0))
    for seed in range(3):
        v = linear.linear_judge("mixed", "gmmY", gold, groups, dtype, seed)
        assert "off their projection" not in v.reason, v.reason
    bad = gold.copy()
    bad[700, 11] += 0.25
    v = linear.linear_judge("mixed", "gmmY", bad, groups, dtype, 0)
    assert "1 rows off their projection (worst row 700" in v.reason, v.reason


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_agrees_with_the_oracle_on_a_long_reduction(dtype: str) -> None:
    """The correct output (the product rounded once) passes both; a planted tile fault fails
    both."""
    from ops.alltoallv_gmm import data
    from ops.alltoallv_gmm.oracle import gmm_y, permute_out

    case = _big_case(dtype)
    p = permute_out(case, 0)
    gold = gmm_y(case, 0, p)
    y = gold.astype(data.np_dtype(dtype))
    groups = oracle.gmm_groups(case, 0, p)
    seed = oracle.judge_seed(case, 0, "gmmY")
    assert judge("mixed", "gmmY", y, gold, dtype).passed
    v = linear.linear_judge("mixed", "gmmY", y, groups, dtype, seed)
    assert v.passed, v.summary()
    bad = y.copy()
    bad[256:384, 256:512] = y[128:256, 256:512]
    assert not judge("mixed", "gmmY", bad, gold, dtype).passed
    assert not linear.linear_judge("mixed", "gmmY", bad, groups, dtype, seed).passed


def _big_output(dtype: str):
    from ops.alltoallv_gmm import data
    from ops.alltoallv_gmm.oracle import gmm_y, permute_out

    case = _big_case(dtype)
    p = permute_out(case, 0)
    gold = gmm_y(case, 0, p)
    return case, p, gold, gold.astype(data.np_dtype(dtype))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_fault_in_the_tail_blocks_is_found(dtype: str) -> None:
    """Rows 1024.. of the one group of 1,050 rows sit in the short last block of X (ROW_CHUNK)
    and of Y (CHUNK), and H1 = 4,100 leaves W a last block of 4 rows: the correct output passes,
    one element off in each of two tail rows is found by their projections."""
    assert 1050 % linear.ROW_CHUNK and 1050 % linear.CHUNK and 4100 % linear.H_CHUNK
    case, p, _, y = _big_output(dtype)
    groups = oracle.gmm_groups(case, 0, p)
    seed = oracle.judge_seed(case, 0, "gmmY")
    assert linear.linear_judge("mixed", "gmmY", y, groups, dtype, seed).passed
    bad = y.copy()
    bad[1030, 5] += 32
    bad[1040, 599] -= 32
    v = linear.linear_judge("mixed", "gmmY", bad, groups, dtype, seed)
    assert "2 rows off their projection" in v.reason, v.reason


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_an_infinite_element_fails_even_outside_the_sample(dtype: str) -> None:
    """An inf makes that row's and column's sums of squares infinite: the threshold must not
    become infinite with them."""
    case, p, _, y = _big_output(dtype)
    groups = oracle.gmm_groups(case, 0, p)
    seed = oracle.judge_seed(case, 0, "gmmY")
    rows, cols = linear._sample(np.random.default_rng(seed), groups, linear.SAMPLE_ROWS,
                                linear.SAMPLE_COLUMNS, y.shape[1])
    assert 700 not in rows and 11 not in cols
    bad = y.copy()
    bad[700, 11] = np.inf
    v = linear.linear_judge("mixed", "gmmY", bad, groups, dtype, seed)
    assert "1 rows off their projection (worst row 700" in v.reason, v.reason


def test_float32_operands_agree_with_the_oracle() -> None:
    """float32 operands take the float path to max|X| and max|W|: the exact product passes with
    no allowance at all, the correct output passes both judges, a tile fault fails both."""
    from dataclasses import replace

    from ops.alltoallv_gmm.oracle import gmm_y, permute_out

    case = replace(_big_case("float16"), dtype="float32")
    p = permute_out(case, 0)
    assert p.dtype == np.float32
    gold = gmm_y(case, 0, p)
    y = gold.astype(np.float32)
    groups = oracle.gmm_groups(case, 0, p)
    seed = oracle.judge_seed(case, 0, "gmmY")
    assert judge("mixed", "gmmY", y, gold, "float32").passed
    assert linear.linear_judge("mixed", "gmmY", y, groups, "float32", seed).passed
    bad = y.copy()
    bad[256:384, 256:512] = y[128:256, 256:512]
    assert not judge("mixed", "gmmY", bad, gold, "float32").passed
    assert not linear.linear_judge("mixed", "gmmY", bad, groups, "float32", seed).passed


def test_exact_product_passes_float32_operands_with_no_allowance(monkeypatch) -> None:
    from dataclasses import replace

    from ops.alltoallv_gmm.oracle import gmm_y, permute_out

    case = replace(_big_case("float16"), dtype="float32")
    p = permute_out(case, 0)
    gold = gmm_y(case, 0, p)
    groups = oracle.gmm_groups(case, 0, p)
    monkeypatch.setattr(linear, "tolerance", lambda standard, dt: (0.0, 0.0))
    for seed in range(3):
        v = linear.linear_judge("mixed", "gmmY", gold, groups, "float32", seed)
        assert "off their projection" not in v.reason, v.reason


def test_max_abs_reads_the_16_bit_patterns() -> None:
    """max|x| off the bits equals the float one whichever sign holds it; NaN stays NaN."""
    from ops.alltoallv_gmm import data

    rng = np.random.default_rng(1)
    for dtype in ("float16", "bfloat16"):
        nd = data.np_dtype(dtype)
        for sign in (1.0, -1.0):
            v = (rng.standard_normal(1000) * 3).astype(nd)
            v[17] = sign * 40.0
            assert linear._max_abs(v, v.astype(np.float32)) == 40.0
        assert linear._max_abs(np.full(3, -2.0, nd), None) == 2.0
        v[3] = np.nan
        assert np.isnan(linear._max_abs(v, v.astype(np.float32)))
    v = np.array([-5.0, 2.0], np.float32)
    assert linear._max_abs(v, v) == 5.0


def test_sign_patterns_are_the_left_probes() -> None:
    left = np.random.default_rng(2).choice((-1.0, 1.0), (50, linear.PROBES))
    assert (linear._signs()[linear._patterns(left)] == left).all()
    assert len(linear._signs()) == 1 << linear.PROBES


def test_outputs_whose_squares_leave_float32_still_pass() -> None:
    """bf16 values near 1e26 are ordinary bf16 and float32 numbers, but their squares are not:
    the sums of squares behind the thresholds must not overflow into a failure (nor into an
    infinite threshold that would pass anything)."""
    from ops.alltoallv_gmm import data

    nd = data.np_dtype("bfloat16")
    rng = np.random.default_rng(6)
    x = (rng.uniform(0.25, 1.0, (300, 512)) * rng.choice((-1, 1), (300, 512)) * 2.0**40).astype(nd)
    w = (rng.uniform(0.25, 1.0, (1, 512, 200)) * rng.choice((-1, 1), (1, 512, 200))
         * 2.0**40).astype(nd)
    gold = x.astype(np.float64) @ w[0].astype(np.float64)
    assert np.abs(gold).max() > 1e20 and np.isfinite(gold.astype(np.float32)).all()
    groups = linear.Groups(x, lambda j: w[j], [0, 300])
    y = gold.astype(nd)
    v = linear.linear_judge("mixed", "gmmY", y, groups, "bfloat16", 1)
    assert v.passed, v.summary()
    bad = y.copy()
    bad[100, 5] = -bad[100, 5] * 8
    v = linear.linear_judge("mixed", "gmmY", bad, groups, "bfloat16", 1)
    assert "rows off their projection (worst row 100" in v.reason, v.reason
