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

Each operand is read in blocks of rows and converted to float32 by torch, exactly for fp16, bf16
and float32 (a float64 Y is rounded, and that is bounded): X twice (for the left probes before W is
read, for the right ones after), W and Y once. The left probes never multiply: a row's PROBES signs
are one of 2^PROBES patterns, so l^T X = S^T G with G the sums of the rows of each pattern
(index_add_), combined in float64. W r and (l^T X) W are small GEMMs over SUB rows of W at a time,
batched, as are Y r and X [W r | W_cols] over a few rows (one large skinny GEMM would first copy
the whole block).

A projection's threshold follows from the standard: with every element within its allowance tol_ik
<= a + b |y_ik| (golden/standards.py, at the output's own magnitude) and errors that do not know
the probe, |sum_k e_k r_k| <= T * sqrt(sum_k tol_ik^2) except with probability 2 exp(-T^2 / 2)
(Hoeffding); T = 8. To it comes the float32 rounding of both sides, under the probabilistic model
of rounding (Higham and Mary, SIAM J. Sci. Comput. 41(5), 2019: each rounding error independent,
mean zero, at most u = 2^-24 relative): a value computed through rounding events with partial sums
s_e has error <= T u sqrt(sum_e s_e^2) with the same probability (Azuma). Each s_e is bounded by a
sum of absolute terms, so the bound holds in whatever order BLAS or torch sum: through M_x =
max|X_j| and M_w = max|W_j| (read off the 16-bit patterns) and norms of computed vectors (ROUNDING
in _group_pass and linear_judge). The second order in u and the float64 sums add a factor e^(2 k u)
for sums of k terms (_second_order), gradual underflow at most 2^-150 a product (TINY); sums of
squares are raised to upper bounds (_sum_bound), in float64 where float32 would overflow. A correct
output never fails at any size; a bound or threshold that is not finite fails every row or column
it covers. Bounds through the maxima are loose for operands of wide dynamic range (the suite's
values lie within a factor 4 of their scale); they then blunt the projections, never the exact
sample. The verdict names the method, the sample and the detection guarantee (Erdos's
Littlewood-Offord bound for a row with many wrong elements).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from golden import standards as S
from golden.judges import Verdict, judge
from spec.data import np_dtype

PROBES = 4  # Rademacher probes of every row (and as many of every column)
SAMPLE_ROWS = 4  # random rows judged exactly, besides each group's first and last
SAMPLE_COLUMNS = 4  # random columns judged exactly, besides the first and the last
SIGMAS = 8.0  # T of the Hoeffding bound: a false alarm has probability 2 exp(-32) per check
H_CHUNK = 256  # rows of W read into float32 at a time (a multiple of SUB): U W's float32 block
SUB = 16  # rows of W per small GEMM (_matmul_rows)
ROW_CHUNK = 128  # rows of X read into float32 at a time
CHUNK = 256  # rows of Y read into float32 at a time
U32 = 2.0**-24  # float32's unit roundoff
TINY = 2.0**-149  # float32's least subnormal: the most one product loses to gradual underflow


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


class Groups:
    """The operands of one output as expert groups: rows [lo, hi) of X times W_j."""

    def __init__(self, x: np.ndarray, weights, bounds: list[int]) -> None:
        self.x, self.weights, self.bounds = x, weights, bounds

    def spans(self):
        for j in range(len(self.bounds) - 1):
            if self.bounds[j + 1] > self.bounds[j]:
                yield j, self.bounds[j], self.bounds[j + 1]


def _sample(rng: np.random.Generator, groups: Groups, rows: int, cols: int, n: int
            ) -> tuple[np.ndarray, np.ndarray]:
    edges = {v for _, lo, hi in groups.spans() for v in (lo, hi - 1)}
    total = groups.bounds[-1]
    picked = set(rng.choice(total, min(rows, total), replace=False).tolist()) if total else set()
    cpicked = set(rng.choice(n, min(cols, n), replace=False).tolist()) | {0, n - 1}
    return np.array(sorted(edges | picked), np.int64), np.array(sorted(cpicked), np.int64)


def _blocks(n: int, size: int):
    for a in range(0, n, size):
        yield a, min(a + size, n)


_BF16 = np_dtype("bfloat16")
_EXACT = (np.dtype(np.float16), _BF16, np.dtype(np.float32))  # exact in float32


def _torch(a: np.ndarray):
    """A torch view of `a`, no copy (ml_dtypes' bfloat16 through its bits): torch converts
    fp16 to float32 vectorised, numpy one element at a time."""
    import torch

    with warnings.catch_warnings():  # a read-only input: it is only read
        warnings.simplefilter("ignore", UserWarning)
        if a.dtype == _BF16:
            return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(a)


def _max_abs(src: np.ndarray, conv: np.ndarray) -> float:
    """max |src| (NaN if any is), from the 16-bit patterns where it can: the largest positive
    is the largest int16, the largest negative magnitude the largest uint16 less its sign."""
    if src.dtype.itemsize == 2:
        bits = max(int(src.view(np.int16).max()), 0, int(src.view(np.uint16).max()) & 0x7FFF)
        return float(np.array(bits, np.uint16).view(src.dtype))
    return float(max(conv.max(), -conv.min()))


def _matmul_rows(a: np.ndarray, b: np.ndarray, out: np.ndarray, rows: int) -> None:
    """out = a @ b as a batch of GEMMs of `rows` rows of a each: one large skinny GEMM first
    copies all of a into BLAS's panel layout, while blocks this small stay in cache and go to
    OpenBLAS's small-matrix kernels, which read the operands in place (1.3 to 2.3 times as
    fast on the bench's shapes). Each element of out is still one dot product over all of b's
    rows."""
    k = len(a) // rows
    if k:
        np.matmul(a[:k * rows].reshape(k, rows, a.shape[1]), b,
                  out=out[:k * rows].reshape(k, rows, b.shape[1]))
    if k * rows < len(a):
        np.matmul(a[k * rows:], b, out=out[k * rows:])


def _sum_bound(s: np.ndarray, k: int) -> np.ndarray:
    """An upper bound of an exact sum of k non-negative terms (products included) from its
    float32 value in any order: s <= s^ / (1 - gamma_k), and underflow <= 2^-149 a term."""
    grow = (1 - k * U32) / (1 - 2 * k * U32) if 2 * k * U32 < 1 else math.inf
    return s.astype(np.float64) * grow + k * TINY


def _second_order(k: int) -> float:
    """The factor on a first-order rounding bound whose sums have at most k terms: computed
    partial sums exceed the exact ones by at most (1 + u)^k, and the float64 sums add 2^-29."""
    return math.exp(2 * k * U32) + 2.0**-20


def _signs() -> np.ndarray:
    """(2^PROBES, PROBES): row g holds the probe signs of pattern g (bit q set: +1)."""
    g = np.arange(1 << PROBES)[:, None]
    return np.where((g >> np.arange(PROBES)) & 1, 1.0, -1.0)


def _patterns(left: np.ndarray) -> np.ndarray:
    """Each row's pattern of PROBES signs, as an index into _signs()."""
    return ((left > 0) * (1 << np.arange(PROBES))).sum(1)


class _Pass:
    """What the passes over the operands collect: per row, x_i . W r and the rounding bound; per
    column, the column probes' want side and its rounding bound; the sampled goldens."""

    def __init__(self, total: int, n: int, h: int, ncols: int) -> None:
        import torch

        self.z = np.empty((total, PROBES + ncols), np.float32)  # x_i . W r, sampled columns
        self.row_round = np.zeros(total)  # the float32 rounding bound over u, rows
        self.col_want = np.zeros((PROBES, n))  # sum_j (l_j^T X_j) W_j
        self.col_round = 0.0  # its rounding bound over u (the same for every column)
        self.rows_golden: dict[int, np.ndarray] = {}
        # One float32 block for every pass: fresh pages cost a fault each.
        self.scratch = np.empty(max(ROW_CHUNK * h, H_CHUNK * n, CHUNK * n), np.float32)
        self.tscratch = torch.from_numpy(self.scratch)

    def block(self, rows: int, cols: int):
        """The scratch as a (rows, cols) float32 block: its numpy and its torch view."""
        return (self.scratch[:rows * cols].reshape(rows, cols),
                self.tscratch[:rows * cols].view(rows, cols))


def _group_pass(acc: _Pass, x: np.ndarray, w: np.ndarray, lo: int, rt: np.ndarray,
                pat: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """One expert group: X in row blocks for U = [L^T X; sampled rows], W once in blocks of
    H_CHUNK rows for W r, its sampled columns and U W, X again for X [W r | W_cols]."""
    import torch

    m, (h, n), p = len(x), w.shape, rt.shape[0]
    for a in (x, w):
        if a.dtype not in _EXACT:
            raise ValueError(f"operands in {a.dtype}: the judge needs fp16, bf16 or float32")
    mine = rows[(rows >= lo) & (rows < lo + m)] - lo
    tx, tw, tpat = _torch(x), _torch(w), torch.from_numpy(pat)
    xbuf, txbuf = acc.block(min(ROW_CHUNK, m), h)
    g = torch.zeros((1 << p, h))  # l^T X by sign pattern: row g sums the rows of pattern g
    u = np.empty((p + len(mine), h), np.float32)
    mx = 0.0
    for a, b in _blocks(m, ROW_CHUNK):
        txbuf[:b - a].copy_(tx[a:b])
        g.index_add_(0, tpat[a:b], txbuf[:b - a])
        mx = max(mx, _max_abs(x[a:b], xbuf[:b - a]))
        for k in np.flatnonzero((mine >= a) & (mine < b)):
            u[p + k] = xbuf[mine[k] - a]
    u64 = _signs().T @ g.numpy().astype(np.float64)
    u[:p] = u64
    wbuf, twbuf = acc.block(min(H_CHUNK, h), n)
    r_nk, wr = np.ascontiguousarray(rt.T), np.empty((h, p), np.float32)  # W r
    wc = np.empty((h, len(cols)), np.float32)
    # U in SUB-column slices, one small GEMM each against SUB rows of W, summed by a GEMV.
    ns = h // SUB
    us = np.ascontiguousarray(u[:, :ns * SUB].reshape(len(u), ns, SUB).transpose(1, 0, 2))
    qs = np.empty((min(H_CHUNK, h) // SUB, len(u), n), np.float32)
    ones = np.ones(len(qs), np.float32)
    q64 = np.zeros((len(u), n))
    mw = 0.0
    for a, b in _blocks(h, H_CHUNK):
        twbuf[:b - a].copy_(tw[a:b])
        wb = wbuf[:b - a]
        _matmul_rows(wb, r_nk, wr[a:b], SUB)
        k = (b - a) // SUB
        if k:
            np.matmul(us[a // SUB:a // SUB + k], wb[:k * SUB].reshape(k, SUB, n), out=qs[:k])
            q64 += np.dot(ones[:k], qs[:k].reshape(k, -1)).reshape(len(u), n)
        if a + k * SUB < b:
            q64 += u[:, a + k * SUB:b] @ wb[k * SUB:]
        np.take(wb, cols, axis=1, out=wc[a:b])
        mw = max(mw, _max_abs(w[a:b], wb))
    rhs = np.concatenate([wr, wc], axis=1)
    for a, b in _blocks(m, ROW_CHUNK):
        txbuf[:b - a].copy_(tx[a:b])
        _matmul_rows(xbuf[:b - a], rhs, acc.z[lo + a:lo + b], 8)
    acc.col_want += q64[:p]
    for k, i in enumerate(mine):
        acc.rows_golden[int(lo + i)] = q64[p + k]
    # ROUNDING (over u), to first order, every partial sum bounded through M_x = max|X_j| and
    # M_w = max|W_j|. Rows: W r, n additions of partial sums <= n M_w, weighted by x_ih:
    # sqrt(H n^3) M_x M_w; x_i . W r, 2H products and sums <= M_x ||(W r)_q||_1.
    l1 = float(np.abs(wr.astype(np.float64)).sum(0).max())
    acc.row_round[lo:lo + m] = math.sqrt(h * n**3) * mx * mw + math.sqrt(2 * h) * mx * l1
    # Columns: the pattern sums, m_g additions of partial sums <= m_g M_x, combined in float64
    # and rounded once, weighted by w_hk: M_w (M_x sqrt(H sum_g m_g^3) + ||U_q||); U W, blocks
    # of H_CHUNK rows: 2 H_CHUNK products and sums in the small GEMMs and H_CHUNK / SUB in the
    # GEMV, partial sums <= M_w ||U_qb||_1 <= M_w sqrt(H_CHUNK) ||U_qb||, blocks summed in
    # float64: sqrt(2 + 1/SUB) H_CHUNK M_w ||U_q||.
    mg = np.bincount(pat, minlength=1 << p).astype(np.float64)
    u_norm = float(np.sqrt((u64 * u64).sum(1)).max())
    hc = min(H_CHUNK, h)
    acc.col_round += mw * (mx * math.sqrt(h * (mg**3).sum()) + u_norm
                           + math.sqrt(2 + 1 / SUB) * hc * u_norm)


def linear_judge(standard: str, output: str, y: np.ndarray, groups: Groups, dtype: str,
                 seed: int) -> Verdict:
    """Judge `y` (rows x N) against sum over groups of X[lo:hi] @ W_j without forming it."""
    import torch

    rng = np.random.default_rng(seed)
    total, n = y.shape
    if total != groups.bounds[-1]:
        return Verdict(False, f"linear({standard})", output, int(y.size), 0.0, math.inf,
                       math.inf, math.inf, None, None, None,
                       f"shape {y.shape} but the groups cover {groups.bounds[-1]} rows")
    r = rng.choice((-1.0, 1.0), (n, PROBES))
    left = rng.choice((-1.0, 1.0), (total, PROBES))
    rows, cols = _sample(rng, groups, SAMPLE_ROWS, SAMPLE_COLUMNS, n)
    rt, pat = np.ascontiguousarray(r.T, np.float32), _patterns(left)
    acc = _Pass(total, n, groups.x.shape[1], len(cols))
    h = 0
    for j, lo, hi in groups.spans():
        w = groups.weights(j)
        h = w.shape[0]
        _group_pass(acc, groups.x[lo:hi], w, lo, rt, pat[lo:hi], rows, cols)
    # Y once, in blocks of CHUNK rows: Y r, l^T Y by sign pattern, the sums of squares.
    ty, tpat = _torch(y), torch.from_numpy(pat)
    c = min(CHUNK, total)
    ybuf, tybuf = acc.block(c, n)
    ones = np.ones(c, np.float32)
    r_nk, yr = np.ascontiguousarray(rt.T), np.empty((total, PROBES), np.float32)  # Y r
    row_sq, col_sq = np.empty(total), np.zeros(n)
    gy = torch.zeros((1 << PROBES, n))
    for a, b in _blocks(total, CHUNK):
        yb = tybuf[:b - a].copy_(ty[a:b])
        _matmul_rows(ybuf[:b - a], r_nk, yr[a:b], 32)
        gy.index_add_(0, tpat[a:b], yb)
        sq = yb.mul_(yb)
        row_sq[a:b] = sq.sum(1).numpy()
        col_sq += np.dot(ones[:b - a], ybuf[:b - a])
    for i in np.flatnonzero(~np.isfinite(row_sq)):  # squares past float32's range: in float64
        row_sq[i] = np.square(y[i].astype(np.float64)).sum()
    if not np.isfinite(col_sq).all():
        k = np.flatnonzero(~np.isfinite(col_sq))
        col_sq[k] = np.square(y[:, k].astype(np.float64)).sum(0)
    row_sq, col_sq = _sum_bound(row_sq, n), _sum_bound(col_sq, c + 1)
    dev = np.abs(yr.astype(np.float64) - acc.z[:, :PROBES])
    row_dev = np.where(np.isnan(dev), np.inf, dev).max(1)
    col_got = _signs().T @ gy.numpy().astype(np.float64)
    a, b = tolerance(standard, dtype)
    # sqrt(sum_k (a + b|y_k|)^2) <= sqrt(2 N a^2 + 2 b^2 sum_k y_k^2), and the float32
    # rounding of both sides (ROUNDING): y_i . r, N additions of partial sums <= sqrt(N)
    # ||y_i||, and each element's conversion; the pattern sums of Y, m_g additions of partial
    # sums <= sqrt(m_g) ||y_gk||: max_g m_g ||y_k||, and the conversion.
    mg = int(np.bincount(pat, minlength=1 << PROBES).max())
    row_round = acc.row_round + (n + 1) * np.sqrt(row_sq)
    col_round = acc.col_round + (mg + 1) * np.sqrt(col_sq)
    second = _second_order(max(n, 2 * h, total))
    row_thr = SIGMAS * (np.sqrt(2 * n * a * a + 2 * b * b * row_sq)
                        + second * U32 * row_round) + 2 * h * TINY
    col_thr = SIGMAS * (np.sqrt(2 * total * a * a + 2 * b * b * col_sq)
                        + second * U32 * col_round) + 2 * h * TINY
    row_thr = np.where(np.isfinite(row_thr), row_thr, np.nan)  # an inf in Y or a bound fails
    col_thr = np.where(np.isfinite(col_thr), col_thr, np.nan)
    bad_rows = np.flatnonzero(~(row_dev <= row_thr))
    col_dev = np.abs(col_got - acc.col_want).max(0)
    bad_cols = np.flatnonzero(~(np.nan_to_num(col_dev, nan=np.inf) <= col_thr))
    sample_rows = sorted(acc.rows_golden)
    out_s = np.concatenate([y[sample_rows].reshape(-1), y[:, cols].reshape(-1)])
    gold_s = np.concatenate([np.asarray([acc.rows_golden[i] for i in sample_rows]).reshape(-1),
                             acc.z[:, PROBES:].reshape(-1)])
    v = judge(standard, output, out_s, gold_s, dtype)
    method = (f"linear judge ({standard}): projections of all {total} rows and {n} columns, "
              f"{guarantee()}; "
              f"exact golden of {len(sample_rows)} whole rows (each group's first and last: "
              f"every column) and {len(cols)} whole columns (every row)")
    problems = []
    if len(bad_rows):
        i = int(bad_rows[np.argmax(row_dev[bad_rows] / row_thr[bad_rows])])
        problems.append(f"{len(bad_rows)} rows off their projection (worst row {i}: off by "
                        f"{row_dev[i]:.3g} against {row_thr[i]:.3g})")
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


ORACLE_MACS = 1 << 33  # a product of more multiply-adds than this is judged linearly
ORACLE_BYTES = 1 << 28  # or one whose float64 weights (the oracle's copy) take more bytes
