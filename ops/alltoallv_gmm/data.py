"""The data recipe of aclnnAlltoAllvGroupedMatMul: each input tensor as content-addressed values
(spec.data), the rows of gmmX addressed by (source rank, destination rank, local expert).
"""

from __future__ import annotations

import numpy as np

from ops.moe.data import input_recipe, mm_weight, mm_weight_logical, mm_x
from spec.data import key, np_dtype, random_values, stacked_blocks
from spec.memo import memoised

__all__ = ["gmm_weight", "gmm_weight_logical", "gmm_x", "gmm_x_block", "gmm_x_blocks", "input_for",
           "key", "mm_weight", "mm_weight_logical", "mm_x", "np_dtype"]


def gmm_x_blocks(case, pairs: list[tuple[int, int, int]]) -> np.ndarray:
    """The rows of blocks (src, dst, expert), in the order given, stacked: (rows, H1)."""
    counts = [case.send[s][r * case.e + j] for s, r, j in pairs]
    return stacked_blocks(case.seed, "gmmX", pairs, counts, case.h1, case.dtype)


def gmm_x_block(case, src: int, dst: int, expert: int) -> np.ndarray:
    """The rows rank `src` sends to local expert `expert` of rank `dst`, in sending order."""
    return gmm_x_blocks(case, [(src, dst, expert)])


def gmm_x(case, rank: int) -> np.ndarray:
    """gmmX of `rank`: ordered by destination rank, then the destination's local expert."""
    return gmm_x_blocks(case, [(rank, r, j) for r in range(case.ep) for j in range(case.e)])


@memoised()
def gmm_weight_logical(case, rank: int) -> np.ndarray:
    """The weight as the formula uses it: (e, H1, N1)."""
    return random_values(case.seed, "gmmWeight", (rank,), (case.e, case.h1, case.n1),
                         case.dtype, max(case.h1, 1) ** -0.5)


def gmm_weight(case, rank: int) -> np.ndarray:
    """The weight as passed: (e, N1, H1) when transGmmWeight, holding the same logical values."""
    w = gmm_weight_logical(case, rank)
    return np.ascontiguousarray(w.transpose(0, 2, 1)) if case.trans_gmm_weight else w


INPUT_MAKERS = {"gmmX": gmm_x, "gmmWeight": gmm_weight, "mmX": mm_x, "mmWeight": mm_weight}


input_for = input_recipe(INPUT_MAKERS)
