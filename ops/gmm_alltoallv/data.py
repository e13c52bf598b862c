"""The data recipe of aclnnGroupedMatMulAlltoAllv: each input tensor as content-addressed values
(spec.data).

A block of gmmX is addressed by where its rows travel in the dispatch direction: (source rank s,
expert rank r, local expert j), the rows s's tokens sent to expert j of rank r, which rank r now
processes and sends back. So the oracle of rank s regenerates every block that comes back to it
without rank r's data, and a row sent back to the wrong rank or into the wrong place shows. Each
expert's weight is a block of its own, (rank r, expert j), so that oracle regenerates just the
weights of the experts its rows went through. The shared expert's recipe is the dispatch
operators' (ops/moe/data.py: the same tensors of the same shapes).
"""

from __future__ import annotations

import functools

import numpy as np

from golden.judges import as_f64
from ops.moe.data import input_recipe, mm_weight, mm_weight_logical, mm_x
from spec.data import key, np_dtype, random_values, stacked_blocks

__all__ = ["gmm_weight", "gmm_weight_expert", "gmm_weight_logical", "gmm_x", "gmm_x_blocks",
           "identity_scale", "input_for", "key", "mm_weight", "mm_weight_logical", "mm_x"]


def gmm_x_blocks(case, blocks: list[tuple[int, int, int]]) -> np.ndarray:
    """The rows of blocks (source s, expert rank r, local expert j), in the order given,
    stacked: (rows, H1)."""
    counts = [case.dispatch[s][r * case.e + j] for s, r, j in blocks]
    return stacked_blocks(case.seed, "gmmX", blocks, counts, case.h1, case.dtype)


def gmm_x(case, rank: int) -> np.ndarray:
    """gmmX of `rank`: for each local expert j, from each source rank s in order (the dispatch's
    permuteOut order)."""
    return gmm_x_blocks(case, [(s, rank, j) for j in range(case.e) for s in range(case.ep)])


def identity_scale(j: int) -> float:
    """Expert j's factor under identity weights: a power of two, so the product is exact and
    a row through the wrong expert shows."""
    return 2.0 ** (j % 4 - 1)


def gmm_weight_expert(case, rank: int, j: int, float64: bool = False) -> np.ndarray:
    """gmmWeight[j] of `rank` as the formula uses it: (H1, N1), read-only; in float64 (exactly)
    for an oracle that asks.

    Every rank's oracle reads every rank's expert weights (its rows went through all of them),
    so in a world whose ranks share this process a small weight is made once, not once a rank
    (at most 64 Ki elements each, 1024 of them); spec.data keeps the large blocks itself."""
    address = (case.seed, case.weights, case.h1, case.n1, case.dtype, rank, j)
    if case.h1 * case.n1 <= SMALL_WEIGHT:
        return (_small_weight_f64 if float64 else _small_weight)(*address)
    w = _expert_weight(*address)
    return as_f64(w) if float64 else w


SMALL_WEIGHT = 1 << 16  # elements


def _expert_weight(seed: int, weights: str, h1: int, n1: int, dtype: str, rank: int, j: int
                   ) -> np.ndarray:
    if weights == "identity":
        w = (identity_scale(j) * np.eye(h1, n1)).astype(np_dtype(dtype))
    else:
        w = random_values(seed, "gmmWeight", (rank, j), (h1, n1), dtype, max(h1, 1) ** -0.5)
    w.flags.writeable = False
    return w


_small_weight = functools.lru_cache(maxsize=1024)(_expert_weight)


@functools.lru_cache(maxsize=1024)
def _small_weight_f64(*address: object) -> np.ndarray:
    w = as_f64(_small_weight(*address))
    w.flags.writeable = False
    return w


def gmm_weight_logical(case, rank: int) -> np.ndarray:
    """The weight as the formula uses it: (e, H1, N1)."""
    out = np.empty((case.e, case.h1, case.n1), np_dtype(case.dtype))
    for j in range(case.e):
        out[j] = gmm_weight_expert(case, rank, j)
    return out


def gmm_weight(case, rank: int) -> np.ndarray:
    """The weight as passed: (e, N1, H1) when transGmmWeight, holding the same logical values."""
    w = gmm_weight_logical(case, rank)
    return np.ascontiguousarray(w.transpose(0, 2, 1)) if case.trans_gmm_weight else w


INPUT_MAKERS = {"gmmX": gmm_x, "gmmWeight": gmm_weight, "mmX": mm_x, "mmWeight": mm_weight}


input_for = input_recipe(INPUT_MAKERS)
