"""The data recipe of the round trip: each input as content-addressed values (spec.data), the
tokens and the dispatch's weights exactly those of the dispatch operator's own recipe, so a
token is the same bits whichever operator's oracle regenerates it.

Identity experts: expert j's dispatch weight is 2^(j mod 4) I and its combine weight 2^-(j mod 4)
I. Scaling by a power of two up, then down, is exact in float16 and bfloat16 (no value of the
recipe overflows by 8), so a token that comes back is its own bits, while one that went through
one expert and back through another, or to another row, shows.
"""

from __future__ import annotations

import numpy as np

from ops.alltoallv_gmm import data as dispatch_data
from spec.call import TensorDesc
from spec.data import block_values, keys, np_dtype, random_values


def identity_shift(j: int) -> int:
    """Expert j's power of two (its dispatch weight's exponent)."""
    return j % 4


def w1(case, rank: int) -> np.ndarray:
    """The dispatch's weights of `rank`: (e, H1, N1)."""
    if case.mode == "identity":
        eye = np.eye(case.h1, case.n1)
        return np.stack([2.0 ** identity_shift(j) * eye for j in range(case.e)]).astype(
            np_dtype(case.dtype))
    return dispatch_data.gmm_weight_logical(case.dispatch, rank)


def w2(case, rank: int) -> np.ndarray:
    """The combine's weights of `rank`: (e, N1, H1), the identity's inverse for identity."""
    if case.mode == "identity":
        eye = np.eye(case.n1, case.h1)
        return np.stack([2.0 ** -identity_shift(j) * eye for j in range(case.e)]).astype(
            np_dtype(case.dtype))
    return random_values(case.seed, "combineWeight", (rank,), (case.e, case.n1, case.h1),
                         case.dtype, max(case.n1, 1) ** -0.5)


def grad_blocks(case, blocks: list[tuple[int, int, int]]) -> np.ndarray:
    """Rows of the gradient of gmmY for blocks (source s, expert rank r, expert j), stacked:
    each block addressed by where its tokens came from, like the tokens themselves."""
    addressed = keys(case.seed, "gmmYGrad", blocks)
    counts = [case.send[s][r * case.e + j] for s, r, j in blocks]
    flat = block_values(addressed, [c * case.n1 for c in counts], case.dtype)
    return flat.reshape(sum(counts), case.n1)


def gmm_y_grad(case, rank: int) -> np.ndarray:
    """The gradient of gmmY of `rank`, in gmmY's row order (expert-major, source-minor)."""
    return grad_blocks(case, [(s, rank, j) for j in range(case.e) for s in range(case.ep)])


MAKERS = {
    "gmmX": lambda case, rank: dispatch_data.gmm_x(case.dispatch, rank),
    "gmmYGrad": gmm_y_grad,
    "gmmWeight": w1,
    "combineWeight": w2,
}


def input_for(case, rank: int, call, name: str, desc: TensorDesc) -> np.ndarray:
    """The value of input `name` on `rank` (the pair's cases have no faults: every tensor is
    the case's own)."""
    return MAKERS[name](case, rank)
