"""A judge whose cost is linear in the data, for outputs too large for the float64 oracle.

The full oracle costs A x H1 x N1 multiply-adds per rank; a production world (8,192 x 7,168 x
4,096) is out of reach of the host. This judge never forms the product. It checks:

- projections (Freivalds): for Rademacher probe vectors r (N entries of +-1), every row i of
  gmmY (expert j) and of mmY must satisfy y_i . r = x_i . (W_j r), and for probes l over the
  rows every column k must satisfy (l^T Y)_k = sum_j (l_j^T X_j) W_j[:, k]: one wrong row,
  column or tile moves its projections;
- the golden of a sample of whole rows (the first and last row of every expert group, where M
  tails sit, and random rows: each covers every column, so a wrong column shows) and of whole
  columns (the first, the last, random ones: each covers every row), judged by the chosen
  accuracy standard.

Every input is read once, converted exactly to float32 a block at a time; every probe is a
column of one GEMM per block (W_b @ [R | E_cols], [L | X_rows]^T X_b), and the blocks' float32
results are summed in float64.

A projection's threshold follows from the standard: with every element within its allowance
tol_ik <= a + b |y_ik| (golden/standards.py, at the output's own magnitude) and errors that do
not know the probe, |sum_k e_k r_k| <= T * sqrt(sum_k tol_ik^2) except with probability
2 exp(-T^2 / 2) (Hoeffding); T = 8. To it comes the float32 rounding of both sides, under the
probabilistic model of rounding (Higham and Mary, SIAM J. Sci. Comput. 41(5), 2019: each
rounding error independent, mean zero, at most u = 2^-24 relative): a value computed through
rounding events with partial sums s_e has error <= T u sqrt(sum_e s_e^2) with the same
probability (Azuma), each s_e bounded by Cauchy-Schwarz from norms taken in the same pass
(ROUNDING in _group_pass). The float64 sums of the blocks add under 2^-29 of that. A correct
output never fails at any size. The verdict names the method, the sample and the detection
guarantee (Erdos's Littlewood-Offord bound for a row with many wrong elements).
"""

from __future__ import annotations

import math

import numpy as np

from golden import standards as S
from golden.judges import Verdict, judge
from spec import data

PROBES = 4  # Rademacher probes of every row (and as many of every column)
SAMPLE_ROWS = 4  # random rows judged exactly, besides each group's first and last
SAMPLE_COLUMNS = 4  # random columns judged exactly, besides the first and the last
SIGMAS = 8.0  # T of the Hoeffding bound: a false alarm has probability 2 exp(-32) per check
H_CHUNK = 256  # rows of W (columns of X) read into float32 at a time: the reduction's block
CHUNK = 256  # rows of Y read into float32 at a time
U32 = 2.0**-24  # float32's unit roundoff


def tolerance(standard: str, dtype: str) -> tuple[float, float]:
    """(a, b) with each element's allowance under `standard` at most a + b * |y|, at the
    output's own magnitude."""
    if standard == "mixed":
        rtol, atol, _ = S.MIXED[dtype]
        return atol, rtol
    if standard == "mere-mare":
        _, small_atol = S.SMALL_VALUE[dtype]
        return small_atol, S.MARE_FACTOR * S.MERE_T[dtype]
    if standard == "allclose":
        rtol, atol = S.ALLCLOSE
        return atol, rtol
    raise ValueError(f"unknown judge {standard!r}; accepted: mixed, mere-mare, allclose")


def miss_bound(m: int, probes: int = PROBES) -> float:
    """Erdos's Littlewood-Offord bound: a Rademacher sum with m terms of magnitude >= 1 lands
    in an open interval of length 2 with probability <= C(m, m/2) / 2^m; over `probes`."""
    if m <= 0:
        return 1.0
    log_p = (math.lgamma(m + 1) - math.lgamma(m // 2 + 1) - math.lgamma(m - m // 2 + 1)
             - m * math.log(2))
    return math.exp(probes * log_p)


def guarantee(probes: int = PROBES) -> str:
    return (f"{probes} Rademacher probes each way: an element off by more than its row's or its "
            f"column's threshold is always caught; a row or column with m "
            f"elements off by at least the threshold is missed with probability <= "
            f"(C(m, m/2)/2^m)^{probes} (m=16: {miss_bound(16, probes):.1g}, m=256: "
            f"{miss_bound(256, probes):.1g})")


class _Groups:
    """The operands of one output as expert groups: rows [lo, hi) of X times W_j."""

    def __init__(self, x: np.ndarray, weights, bounds: list[int]) -> None:
        self.x, self.weights, self.bounds = x, weights, bounds

    def spans(self):
        for j in range(len(self.bounds) - 1):
            if self.bounds[j + 1] > self.bounds[j]:
                yield j, self.bounds[j], self.bounds[j + 1]


def _sample(rng: np.random.Generator, groups: _Groups, rows: int, cols: int, n: int
            ) -> tuple[np.ndarray, np.ndarray]:
    edges = {v for _, lo, hi in groups.spans() for v in (lo, hi - 1)}
    total = groups.bounds[-1]
    picked = set(rng.choice(total, min(rows, total), replace=False).tolist()) if total else set()
    cpicked = set(rng.choice(n, min(cols, n), replace=False).tolist()) | {0, n - 1}
    return np.array(sorted(edges | picked), np.int64), np.array(sorted(cpicked), np.int64)


class _Pass:
    """What one pass over the expert groups' operands collects: sums in float64, each from
    float32 products over at most H_CHUNK (or CHUNK) terms; `*_round` are the rounding bounds."""

    def __init__(self, total: int, n: int, ncols: int) -> None:
        self.row_dev = np.zeros(total)  # max over probes of |y_i . r - x_i . W r|
        self.row_sq = np.zeros(total)  # sum_k y_ik^2
        self.row_round = np.zeros(total)  # the float32 rounding bound of both sides, over lambda u
        self.col_got = np.zeros((PROBES, n))  # l^T Y
        self.col_want = np.zeros((PROBES, n))  # sum_j (l_j^T X_j) W_j
        self.col_sq = np.zeros(n)  # sum_i y_ik^2
        self.col_round = np.zeros(n)  # as row_round, for the columns
        self.cols_golden = np.zeros((total, ncols))
        self.rows_golden: dict[int, np.ndarray] = {}


def _blocks(n: int, size: int):
    for a in range(0, n, size):
        yield a, min(a + size, n)


def _into(buf: np.ndarray, src: np.ndarray) -> np.ndarray:
    """`src` converted into the float32 buffer `buf` (exact for fp16, bf16 and float32 inputs).
    fp16 goes through torch, whose conversion is vectorised (numpy's is one element at a time:
    it would be most of the judge's cost)."""
    if src.dtype == np.float16:
        import torch

        torch.from_numpy(buf).copy_(torch.from_numpy(src))
    else:
        np.copyto(buf, src, casting="unsafe")
    return buf


def _sq(a: np.ndarray, axis: int) -> np.ndarray:
    """Sums of squares along `axis`, in float32 (vectorised), raised by their own rounding
    bound (length x u) so that they stay upper bounds."""
    sq = np.einsum("ij,ij->j" if axis == 0 else "ij,ij->i", a, a)
    return sq.astype(np.float64) * (1 + a.shape[axis] * U32 * 1.01)


def _group_pass(acc: _Pass, x: np.ndarray, w: np.ndarray, y: np.ndarray, lo: int, r, left,
                rows: np.ndarray, cols: np.ndarray) -> None:
    """One expert group: X and W read once, together, H_CHUNK of the reduction at a time (X's
    columns, W's rows) into reused float32 buffers; then its rows of Y once."""
    m, (h, n), probes = len(x), w.shape, r.shape[1]
    mine = rows[(rows >= lo) & (rows < lo + m)] - lo
    rc = np.zeros((n, probes + len(cols)), np.float32)  # the row probes and the sampled columns
    rc[:, :probes] = r
    rc[cols, probes + np.arange(len(cols))] = 1.0
    left32 = left.astype(np.float32)
    xs = np.empty((len(mine), h), np.float32)
    _into(xs, x[mine])
    xbuf = np.empty((m, min(H_CHUNK, h)), np.float32)
    wbuf = np.empty((min(H_CHUNK, h), n), np.float32)
    xw = np.zeros((m, probes + len(cols)))  # x_i . W r, and the sampled columns' golden
    uw = np.zeros((probes + len(mine), n))  # (l^T X) W, and the sampled rows' golden
    x_row_sq, w_col_sq = np.zeros(m), np.zeros(n)
    w_row_sq = x_col_sq = wr_sq = u_sq = 0.0
    for a, b in _blocks(h, H_CHUNK):
        xb, wb = _into(xbuf[:, :b - a], x[:, a:b]), _into(wbuf[:b - a], w[a:b])
        wr = wb @ rc
        xw += xb @ wr
        u = np.concatenate([left32.T @ xb, xs[:, a:b]])
        uw += u @ wb
        x_row_sq += _sq(xb, 1)
        x_col_sq = max(x_col_sq, float(_sq(xb, 0).max()))
        w_col_sq += _sq(wb, 0)
        w_row_sq = max(w_row_sq, float(_sq(wb, 1).max()))
        wr_sq = max(wr_sq, float(_sq(wr[:, :probes], 0).max()))
        u_sq = max(u_sq, float(_sq(u[:probes], 1).max()))
    acc.col_want += uw[:probes]
    for i, g in zip(mine, uw[probes:], strict=True):
        acc.rows_golden[int(lo + i)] = g
    acc.cols_golden[lo:lo + m] = xw[:, probes:]
    # ROUNDING of the float32 products: W r over n terms (then weighted by
    # x_i), x_i . W r over blocks of H_CHUNK; l^T X over m terms (then weighted by W), that times
    # W over blocks of H_CHUNK. Partial sums by Cauchy-Schwarz, with the norms just taken.
    x_norm, w_col = np.sqrt(x_row_sq), np.sqrt(w_col_sq)
    hc = min(H_CHUNK, h)
    acc.row_round[lo:lo + m] = x_norm * (n * math.sqrt(w_row_sq) + math.sqrt(2 * hc * wr_sq))
    acc.col_round += w_col * (m * math.sqrt(x_col_sq) + math.sqrt(2 * hc * u_sq))
    ybuf, r32 = np.empty((min(CHUNK, m), n), np.float32), r.astype(np.float32)
    for a, b in _blocks(m, CHUNK):
        yb = _into(ybuf[:b - a], y[lo + a:lo + b])
        dev = np.abs(yb @ r32 - xw[a:b, :probes])
        acc.row_dev[lo + a:lo + b] = np.where(np.isnan(dev), np.inf, dev).max(1)
        sq = _sq(yb, 1)
        acc.row_sq[lo + a:lo + b] = sq
        acc.row_round[lo + a:lo + b] += (n + 1) * np.sqrt(sq)  # y_i . r: n terms, converted
        acc.col_got += left32[a:b].T @ yb
        acc.col_sq += _sq(yb, 0)


def linear_judge(standard: str, output: str, y: np.ndarray, groups: _Groups, dtype: str,
                 seed: int) -> Verdict:
    """Judge `y` (rows x N) against sum over groups of X[lo:hi] @ W_j without forming it."""
    rng = np.random.default_rng(seed)
    total, n = y.shape
    if total != groups.bounds[-1]:
        return Verdict(False, f"linear({standard})", output, int(y.size), 0.0, math.inf,
                       math.inf, math.inf, None, None, None,
                       f"shape {y.shape} but the groups cover {groups.bounds[-1]} rows")
    r = rng.choice((-1.0, 1.0), (n, PROBES))
    left = rng.choice((-1.0, 1.0), (total, PROBES))
    rows, cols = _sample(rng, groups, SAMPLE_ROWS, SAMPLE_COLUMNS, n)
    acc = _Pass(total, n, len(cols))
    for j, lo, hi in groups.spans():
        _group_pass(acc, groups.x[lo:hi], groups.weights(j), y, lo, r, left[lo:hi], rows, cols)
    a, b = tolerance(standard, dtype)
    # sqrt(sum_k (a + b|y_k|)^2) <= sqrt(2 N a^2 + 2 b^2 sum_k y_k^2), and the float32
    # rounding of both sides (ROUNDING); l^T Y sums blocks of CHUNK rows: CHUNK ||y_k||, and
    # each element's conversion.
    row_thr = SIGMAS * (np.sqrt(2 * n * a * a + 2 * b * b * acc.row_sq) + U32 * acc.row_round)
    col_thr = SIGMAS * (np.sqrt(2 * total * a * a + 2 * b * b * acc.col_sq)
                        + U32 * (acc.col_round + (CHUNK + 1) * np.sqrt(acc.col_sq)))
    bad_rows = np.flatnonzero(~(acc.row_dev <= row_thr))
    col_dev = np.abs(acc.col_got - acc.col_want).max(0)
    bad_cols = np.flatnonzero(~(np.nan_to_num(col_dev, nan=np.inf) <= col_thr))
    sample_rows = sorted(acc.rows_golden)
    out_s = np.concatenate([y[sample_rows].reshape(-1), y[:, cols].reshape(-1)])
    gold_s = np.concatenate([np.asarray([acc.rows_golden[i] for i in sample_rows]).reshape(-1),
                             acc.cols_golden.reshape(-1)])
    v = judge(standard, output, out_s, gold_s, dtype)
    method = (f"linear judge ({standard}): projections of all {total} rows and {n} columns, "
              f"{guarantee()}; "
              f"exact golden of {len(sample_rows)} whole rows (each group's first and last: "
              f"every column) and {len(cols)} whole columns (every row)")
    problems = []
    if len(bad_rows):
        i = int(bad_rows[np.argmax(acc.row_dev[bad_rows] / row_thr[bad_rows])])
        problems.append(f"{len(bad_rows)} rows off their projection (worst row {i}: off by "
                        f"{acc.row_dev[i]:.3g} against {row_thr[i]:.3g})")
    if len(bad_cols):
        k = int(bad_cols[0])
        problems.append(f"{len(bad_cols)} columns off their projection (first column {k}: off "
                        f"by {col_dev[k]:.3g} against {col_thr[k]:.3g})")
    if not v.passed:
        problems.append(f"the exact sample failed: {v.reason}")
    worst = None
    if v.worst_index is not None:
        flat = v.worst_index[0]
        worst = ((sample_rows[flat // n], flat % n) if flat < len(sample_rows) * n else
                 divmod(flat - len(sample_rows) * n, len(cols)))
        if flat >= len(sample_rows) * n:
            worst = (worst[0], int(cols[worst[1]]))
    passed = not problems
    return Verdict(passed, f"linear({standard})", output, int(y.size), v.matched_ratio,
                   v.max_abs_error, v.mere, v.mare, worst, v.worst_value, v.worst_golden,
                   method if passed else f"FAILED: {'; '.join(problems)} | {method}")


def gmm_groups(case, rank: int, permuted: np.ndarray) -> _Groups:
    from golden.oracle import expert_row_offsets

    w = data.gmm_weight_logical(case, rank)
    return _Groups(permuted, lambda j: w[j], expert_row_offsets(case, rank))


def mm_groups(case, rank: int) -> _Groups:
    x = data.mm_x(case, rank)
    w = data.mm_weight_logical(case, rank)
    return _Groups(x, lambda j: w, [0, x.shape[0]])


def judge_seed(case, rank: int, output: str) -> int:
    return data.key(case.seed, f"linear:{output}", rank)


ORACLE_MACS = 1 << 33  # a product of more multiply-adds than this is judged linearly
ORACLE_BYTES = 1 << 28  # or one whose float64 weights (the oracle's copy) take more bytes


def preferred(case, rank: int) -> bool:
    """Whether `rank`'s outputs are judged linearly: the float64 oracle would cost more
    multiply-adds or weight memory than the thresholds above (one rank of a production world)."""
    gmm = (case.a(rank) * case.h1 * case.n1, case.e * case.h1 * case.n1 * 8)
    mm = (0, 0) if case.shared is None else (
        case.shared.bs[rank] * case.shared.h2 * case.shared.n2, case.shared.h2 * case.shared.n2 * 8)
    return max(gmm[0], mm[0]) > ORACLE_MACS or max(gmm[1], mm[1]) > ORACLE_BYTES


def judge_gmm(standard: str, y: np.ndarray, case, rank: int, permuted: np.ndarray) -> Verdict:
    return linear_judge(standard, "gmmY", y, gmm_groups(case, rank, permuted), case.dtype,
                        judge_seed(case, rank, "gmmY"))


def judge_mm(standard: str, y: np.ndarray, case, rank: int) -> Verdict:
    return linear_judge(standard, "mmY", y, mm_groups(case, rank), case.dtype,
                        judge_seed(case, rank, "mmY"))
