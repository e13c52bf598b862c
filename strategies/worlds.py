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


def shared_bs(rng: np.random.Generator, send: list[list[int]], k: int | None, divides: bool
              ) -> tuple[int, ...]:
    """Every rank's BS for a shared expert over routing rows `send` (a rank's row is its BSK):
    K = BSK // BS in [2, 8] (`k` when pinned), a divisor of BSK where the profile rejects a
    remainder (`divides`; the remainder is taken off the rank's largest blocks, in place). Both
    MoE operators' shared experts are sized this way, so one draw serves both."""
    bs = []
    for row in send:
        rows = sum(row)
        if k is not None:
            bs.append(bs_for_k(rows, k))
        elif rows < 2:
            raise Unreachable("a shared expert needs BSK >= 2 (K = BSK // BS >= 2)")
        elif divides:  # BS = BSK // K, the remainder taken off this rank's largest blocks
            drawn = int(rng.integers(2, min(8, rows) + 1))
            extra = rows - (rows // drawn) * drawn
            while extra:
                j = int(np.argmax(row))
                taken = min(extra, row[j])
                row[j] -= taken
                extra -= taken
            bs.append(rows // drawn)
        else:
            bs.append(int(rng.integers(rows // 9 + 1, rows // 2 + 1)))
    return tuple(bs)
