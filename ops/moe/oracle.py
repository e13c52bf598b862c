"""The shared expert's oracle, the same in both MoE operators: mmY = mmX @ mmWeight, in float64
or judged linearly (golden/linear.py), with the linear judge's seed for any output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from golden.judges import as_f64
from golden.linear import Groups
from ops.moe.data import mm_weight_logical, mm_x
from spec.data import key
from spec.memo import memoised

SLICE_ELEMENTS = 1 << 18  # elements of x converted to float64 at a time (2 MiB)
SLICE_ROWS = (64, 2048)  # the fewest and most rows a slice holds, whatever H is


def grouped_product(x: np.ndarray, offsets: list[int], weight: Callable[[int], np.ndarray],
                    n: int) -> np.ndarray:
    """The grouped matmul in float64: rows offsets[g]:offsets[g + 1] of `x` times weight(g)
    (float64, (H, n)) for each non-empty group g. `x` goes to float64 a slice at a time, across
    group boundaries: a world of many small groups converts each row once, not once per group,
    and a slice of about SLICE_ELEMENTS stays in the cache (a slice of at least SLICE_ROWS[0]
    rows reads a wide weight once for many rows)."""
    y = np.empty((offsets[-1], n), np.float64)
    groups = [g for g in range(len(offsets) - 1) if offsets[g + 1] > offsets[g]]
    step = min(SLICE_ROWS[1], max(SLICE_ROWS[0], SLICE_ELEMENTS // max(x.shape[1], 1)))
    g = 0
    for lo in range(0, offsets[-1], step):
        hi = min(lo + step, offsets[-1])
        xf = as_f64(x[lo:hi])
        while g < len(groups) and offsets[groups[g]] < hi:
            a, b = max(offsets[groups[g]], lo), min(offsets[groups[g] + 1], hi)
            y[a:b] = xf[a - lo:b - lo] @ weight(groups[g])
            if offsets[groups[g] + 1] > hi:
                break  # the group goes on in the next slice
            g += 1
    return y


@memoised()
def mm_y(case, rank: int) -> np.ndarray | None:
    """mmY of `rank` in float64; None without a shared expert (remembered in a memo scope)."""
    if case.shared is None:
        return None
    return as_f64(mm_x(case, rank)) @ as_f64(mm_weight_logical(case, rank))


def mm_groups(case, rank: int) -> Groups:
    """mmY's operands for the linear judge: one group."""
    x = mm_x(case, rank)
    w = mm_weight_logical(case, rank)
    return Groups(x, lambda j: w, [0, x.shape[0]])


def judge_seed(case, rank: int, output: str) -> int:
    """The linear judge's seed for `output` of `rank`: a function of the case alone."""
    return key(case.seed, f"linear:{output}", rank)
