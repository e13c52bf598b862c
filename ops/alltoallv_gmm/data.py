"""The data recipe of aclnnAlltoAllvGroupedMatMul: each input tensor as content-addressed values
(spec.data), the rows of gmmX addressed by (source rank, destination rank, local expert).
"""

from __future__ import annotations

import numpy as np

from spec.call import TensorDesc
from spec.data import block_values, key, np_dtype, random_values
from spec.memo import memoised


def gmm_x_blocks(case, pairs: list[tuple[int, int, int]]) -> np.ndarray:
    """The rows of blocks (src, dst, expert), in the order given, stacked: (rows, H1)."""
    keys = [key(case.seed, "gmmX", s, r, j) for s, r, j in pairs]
    counts = [case.send[s][r * case.e + j] for s, r, j in pairs]
    flat = block_values(keys, [c * case.h1 for c in counts], case.dtype)
    return flat.reshape(sum(counts), case.h1)


def gmm_x_block(case, src: int, dst: int, expert: int) -> np.ndarray:
    """The rows rank `src` sends to local expert `expert` of rank `dst`, in sending order."""
    return gmm_x_blocks(case, [(src, dst, expert)])


def gmm_x(case, rank: int) -> np.ndarray:
    """gmmX of `rank`: ordered by destination rank, then the destination's local expert."""
    return gmm_x_blocks(case, [(rank, r, j) for r in range(case.ep) for j in range(case.e)])


def gmm_weight_logical(case, rank: int) -> np.ndarray:
    """The weight as the formula uses it: (e, H1, N1)."""
    return random_values(case.seed, "gmmWeight", (rank,), (case.e, case.h1, case.n1),
                         case.dtype, max(case.h1, 1) ** -0.5)


def gmm_weight(case, rank: int) -> np.ndarray:
    """The weight as passed: (e, N1, H1) when transGmmWeight, holding the same logical values."""
    w = gmm_weight_logical(case, rank)
    return np.ascontiguousarray(w.transpose(0, 2, 1)) if case.trans_gmm_weight else w


def mm_x(case, rank: int) -> np.ndarray:
    bs, h2 = case.shared.bs[rank], case.shared.h2
    return random_values(case.seed, "mmX", (rank,), (bs, h2), case.dtype)


def mm_weight_logical(case, rank: int) -> np.ndarray:
    h2, n2 = case.shared.h2, case.shared.n2
    return random_values(case.seed, "mmWeight", (rank,), (h2, n2), case.dtype, max(h2, 1) ** -0.5)


def mm_weight(case, rank: int) -> np.ndarray:
    w = mm_weight_logical(case, rank)
    return np.ascontiguousarray(w.T) if case.trans_mm_weight else w


INPUT_MAKERS = {"gmmX": gmm_x, "gmmWeight": gmm_weight, "mmX": mm_x, "mmWeight": mm_weight}


@memoised(copy=True)
def input_tensor(case, rank: int, name: str, desc: TensorDesc, counts: tuple[int, ...] | None
                 ) -> np.ndarray:
    """The value of input `name` on `rank` as the call describes it.

    The recipe's tensor when the call passes it as the case defines it; otherwise (a fault changed
    its shape or dtype, or it is a count tensor) content-addressed values of the described shape.
    """
    natural = case.natural_tensors(rank).get(name)
    if name in INPUT_MAKERS and natural == desc:
        return INPUT_MAKERS[name](case, rank)
    if name.endswith("CountsTensor") and counts is not None and desc.shape == (len(counts),):
        return np.asarray(counts, dtype=np_dtype(desc.dtype))
    return random_values(case.seed, f"fault:{name}", (rank,), desc.shape, desc.dtype)


def input_for(case, rank: int, call, name: str, desc: TensorDesc) -> np.ndarray:
    """The value of input `name` as `call` passes it on `rank` (the count tensors hold the
    call's own counts)."""
    counts = call.send_counts if name.startswith("send") else call.recv_counts
    return input_tensor(case, rank, name, desc, None if counts is None else tuple(counts))
