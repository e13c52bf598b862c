"""The data recipe both MoE operators share: the shared expert's tensors (the same names and
shapes in both) and the frame every input goes through (spec.data: content-addressed values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from spec.call import TensorDesc
from spec.data import np_dtype, random_values
from spec.memo import memoised

Maker = Callable[[object, int], np.ndarray]


@memoised()
def mm_x(case, rank: int) -> np.ndarray:
    bs, h2 = case.shared.bs[rank], case.shared.h2
    return random_values(case.seed, "mmX", (rank,), (bs, h2), case.dtype)


@memoised()
def mm_weight_logical(case, rank: int) -> np.ndarray:
    h2, n2 = case.shared.h2, case.shared.n2
    return random_values(case.seed, "mmWeight", (rank,), (h2, n2), case.dtype, max(h2, 1) ** -0.5)


def mm_weight(case, rank: int) -> np.ndarray:
    w = mm_weight_logical(case, rank)
    return np.ascontiguousarray(w.T) if case.trans_mm_weight else w


InputFor = Callable[[object, int, object, str, TensorDesc], np.ndarray]


def input_recipe(makers: Mapping[str, Maker]) -> InputFor:
    """An operator's `input_for(case, rank, call, name, desc)`: the value of input `name` as
    `call` passes it on `rank`. The recipe's tensor (`makers`) when the call passes it as the case
    defines it; a count tensor holding the call's own counts; otherwise (a fault changed its shape
    or dtype) content-addressed values of that shape. Memoised per case (spec.memo; two
    operators' cases are never equal, so they never share an entry)."""

    @memoised(copy=True)
    def input_tensor(case, rank: int, name: str, desc: TensorDesc,
                     counts: tuple[int, ...] | None) -> np.ndarray:
        natural = case.natural_tensors(rank).get(name)
        if name in makers and natural == desc:
            return makers[name](case, rank)
        if name.endswith("CountsTensor") and counts is not None and desc.shape == (len(counts),):
            return np.asarray(counts, dtype=np_dtype(desc.dtype))
        return random_values(case.seed, f"fault:{name}", (rank,), desc.shape, desc.dtype)

    def input_for(case, rank: int, call, name: str, desc: TensorDesc) -> np.ndarray:
        counts = call.send_counts if name.startswith("send") else call.recv_counts
        return input_tensor(case, rank, name, desc, None if counts is None else tuple(counts))

    return input_for
