"""Routing matrices of an EP world, for any operator whose world is one: `send[s][r*e + j]`,
the rows rank s routes to local expert j of rank r (the dispatch direction; its combine sends
the same rows back). Every count an operator's ranks pass derives from such a matrix, so a
consistent world is one matrix; these are the draws of one.
"""

from __future__ import annotations

import numpy as np

from strategies.choices import Unreachable


def balanced_matrix(ep: int, e: int, total: int) -> list[list[int]]:
    """Every rank sends `total` rows, spread so every rank also receives about `total`."""
    n = ep * e
    q, rem = divmod(total, n)
    return [[q + (1 if (k - s) % n < rem else 0) for k in range(n)] for s in range(ep)]


def small_matrix(rng: np.random.Generator, ep: int, e: int, max_count: int, min_bsk: int,
                 silent_rank: int | None, zero_share: float) -> list[list[int]]:
    counts = rng.integers(0, max_count + 1, (ep, ep * e))
    counts[rng.random((ep, ep * e)) < zero_share] = 0
    if silent_rank is not None:  # a rank that receives nothing
        counts[:, silent_rank * e:(silent_rank + 1) * e] = 0
    allowed = [k for k in range(ep * e) if silent_rank is None or k // e != silent_rank]
    for s in range(ep):
        while counts[s].sum() < min_bsk:
            counts[s, allowed[int(rng.integers(0, len(allowed)))]] += 1
    return counts.astype(int).tolist()


def bs_for_k(bsk: int, k: int) -> int:
    """A BS with BSK // BS == k, or Unreachable."""
    for bs in range(bsk // k, bsk // (k + 1), -1):
        if bs > 0 and bsk // bs == k:
            return bs
    raise Unreachable(f"no BS gives K={k} for BSK={bsk}")
