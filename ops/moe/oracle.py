"""The shared expert's oracle, the same in both MoE operators: mmY = mmX @ mmWeight, in float64
or judged linearly (golden/linear.py), with the linear judge's seed for any output.
"""

from __future__ import annotations

import numpy as np

from golden.judges import as_f64
from golden.linear import Groups
from ops.moe.data import mm_weight_logical, mm_x
from spec.data import key


def mm_y(case, rank: int) -> np.ndarray | None:
    """mmY of `rank` in float64; None without a shared expert."""
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
