"""Benchmark: the full float64 oracle against the linear judge on one rank of the seed's example.

    python -m ci.bench_judge [--min-ratio 50] [--dtypes float16,bfloat16]

One rank of the published contract's example (A = 8,192 received rows, H1 = 7,168, N1 = 4,096, e =
4, skewed over the experts), in fp16 and bf16. Both judges see the same inputs (their generation is
timed apart: the runner has them anyway) and the same correct output (the float64 product rounded
once to the dtype). Times are process CPU seconds with one BLAS (and torch) thread. Then five planted faults,
each of which the linear judge must find: one wrong row, one wrong column, one wrong 128 x 256
tile, one expert computed with another expert's weight, one unwritten row. Exit 0 when the ratio
holds and every fault is found, 1 when not, 2 on bad input. The last line is `ratio (oracle /
judge): N.Nx (required: 50x)`.
"""

from __future__ import annotations

import os

# One BLAS thread for both judges, set before numpy loads: the ratio is then one of work, not of
# how each parallelises on a shared host (a skinny product's spinning threads count as CPU time).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# The linear judge converts fp16 through torch: its import, once per process like numpy's, is
# not the judge's cost.
import torch  # noqa: E402

from fixtures.harness import POISON_BITS  # noqa: E402
from golden import judge  # noqa: E402
from golden.linear import linear_judge  # noqa: E402
from ops.alltoallv_gmm import data  # noqa: E402
from ops.alltoallv_gmm.case import Case  # noqa: E402
from ops.alltoallv_gmm.oracle import (  # noqa: E402
    expert_row_offsets,
    gmm_groups,
    gmm_y,
    judge_seed,
    permute_out,
)
from ops.alltoallv_gmm.production import WORLDS  # noqa: E402

RANK = 0
A_ROWS = 8192
EXPERT_SHARES = (0.55, 0.27, 0.14, 0.04)  # a hot expert and a cold one, as a router gives


def bench_case(dtype: str) -> Case:
    """The seed example's world with rank 0 receiving exactly A_ROWS rows, skewed over its
    experts and uneven over the sources."""
    w = WORLDS["seed-example"]
    rng = np.random.default_rng(12)
    per_expert = np.floor(np.asarray(EXPERT_SHARES) * A_ROWS).astype(int)
    per_expert[0] += A_ROWS - per_expert.sum()
    send = np.ones((w.ep, w.ep * w.e), dtype=int)  # every other rank's experts: one row each
    for j, rows in enumerate(per_expert):
        share = rng.dirichlet(np.ones(w.ep))
        col = np.floor(share * rows).astype(int)
        col[0] += rows - col.sum()
        send[:, RANK * w.e + j] = col
    return Case(product="910_95", ep=w.ep, e=w.e, h1=w.h1, n1=w.n1,
                send=tuple(tuple(int(v) for v in row) for row in send), dtype=dtype, seed=7,
                clause="CALC.gmm")


def planted(case: Case, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """The five faults, each a copy of the correct output with one fault in it."""
    off = expert_row_offsets(case, RANK)
    faults = {}
    b = y.copy()
    b[1000] = y[1001]
    faults["one wrong row (row 1000 holds row 1001)"] = b
    b = y.copy()
    b[:, 300] = y[:, 301]
    faults["one wrong column (column 300 holds column 301)"] = b
    b = y.copy()
    b[2048:2176, 512:768] = y[2176:2304, 512:768]
    faults["one wrong 128 x 256 tile (rows 2048.., columns 512..)"] = b
    b = y.copy()
    j = int(np.argmin(np.diff(off)))
    other = (j + 1) % case.e
    b[off[j]:off[j + 1]] = (p[off[j]:off[j + 1]].astype(np.float32)
                            @ w[other].astype(np.float32)).astype(y.dtype)
    faults[f"expert {j} computed with expert {other}'s weight"] = b
    b = y.copy()
    b[4097].view(f"u{y.itemsize}")[...] = POISON_BITS[case.dtype]
    faults["one unwritten row (row 4097 still poisoned)"] = b
    return faults


def run(dtype: str, standard: str) -> tuple[float, float, list[str]]:
    case = bench_case(dtype)
    t0 = time.process_time()
    p = permute_out(case, RANK)
    w = data.gmm_weight_logical(case, RANK)
    t_inputs = time.process_time() - t0
    t0 = time.process_time()
    golden = gmm_y(case, RANK, p, w)
    y = golden.astype(data.np_dtype(dtype))
    full = judge(standard, "gmmY", y, golden, dtype)
    t_oracle = time.process_time() - t0
    groups = gmm_groups(case, RANK, p)
    seed = judge_seed(case, RANK, "gmmY")
    t0 = time.process_time()
    lin = linear_judge(standard, "gmmY", y, groups, dtype, seed)
    t_judge = time.process_time() - t0
    problems = []
    print(f"{dtype}: A={case.a(RANK)} H1={case.h1} N1={case.n1} e={case.e} (experts "
          f"{np.diff(expert_row_offsets(case, RANK)).tolist()} rows); inputs {t_inputs:.2f} s CPU")
    print(f"  full float64 oracle + {standard}: {t_oracle:.2f} s CPU, "
          f"{'passed' if full.passed else 'FAILED'}")
    print(f"  linear judge: {t_judge:.2f} s CPU, {'passed' if lin.passed else 'FAILED'}: {lin.reason}")
    for what in (full, lin):
        if not what.passed:
            problems.append(f"{dtype}: the correct output failed {what.standard}: {what.summary()}")
    for name, bad in planted(case, y, p, w).items():
        v = linear_judge(standard, "gmmY", bad, groups, dtype, seed)
        found = "found" if not v.passed else "MISSED"
        said = v.reason.partition("FAILED: ")[2].partition(" | ")[0]
        print(f"  planted {name}: {found}{': ' + said if said else ''}")
        if v.passed:
            problems.append(f"{dtype}: the linear judge missed {name}")
    return t_oracle, t_judge, problems


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(prog="python -m ci.bench_judge", description=__doc__.split("\n")[0])
    ap.add_argument("--min-ratio", type=float, default=50.0)
    ap.add_argument("--dtypes", default="float16,bfloat16")
    ap.add_argument("--judge", default="mixed")
    args = ap.parse_args(argv)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in ("float16", "bfloat16")]
    if bad or not dtypes:
        print(f"--dtypes {args.dtypes!r}: accepted: float16, bfloat16 (comma-separated)",
              file=sys.stderr)
        return 2
    if args.judge not in ("mixed", "mere-mare", "allclose"):
        print(f"--judge {args.judge!r}: accepted: mixed, mere-mare, allclose", file=sys.stderr)
        return 2
    oracle_s = judge_s = 0.0
    problems: list[str] = []
    for dtype in dtypes:
        o, j, p = run(dtype, args.judge)
        oracle_s, judge_s, problems = oracle_s + o, judge_s + j, problems + p
    for line in problems:
        print(f"problem: {line}")
    ratio = oracle_s / judge_s
    print(f"ratio (oracle / judge): {ratio:.1f}x (required: {args.min_ratio:g}x)")
    return 0 if ratio >= args.min_ratio and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
