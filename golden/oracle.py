"""Expected outputs of one rank, from the case's content-addressed data alone (no backend).

The rows rank r receives are regenerated from their (source, r, expert) blocks and laid out
expert-major, source-rank-minor (OPERATOR.md section 1); the products are taken in float64.
"""

from __future__ import annotations

import numpy as np

from golden.judges import as_f64
from spec import data
from spec.memo import memoised

CHUNK_ROWS = 2048


def permute_out(case, rank: int) -> np.ndarray:
    """The rows rank `rank` receives: for each local expert j, from each source s in order."""
    return data.gmm_x_blocks(case, [(s, rank, j) for j in range(case.e) for s in range(case.ep)])


def expert_row_offsets(case, rank: int) -> list[int]:
    """Row offsets of each local expert's block in permuteOut and gmmY (length e + 1)."""
    sizes = [sum(case.send[s][rank * case.e + j] for s in range(case.ep)) for j in range(case.e)]
    return [0, *np.cumsum(sizes).tolist()]


def gmm_y(case, rank: int, permuted: np.ndarray | None = None,
          weight: np.ndarray | None = None) -> np.ndarray:
    """gmmY in float64; `permuted` and `weight` (e, H1, N1) are the rank's inputs if given."""
    p = permute_out(case, rank) if permuted is None else permuted
    w = as_f64(data.gmm_weight_logical(case, rank) if weight is None else weight)
    off = expert_row_offsets(case, rank)
    y = np.empty((off[-1], case.n1), np.float64)
    for j in range(case.e):
        for lo in range(off[j], off[j + 1], CHUNK_ROWS):  # float64 a slice at a time
            hi = min(lo + CHUNK_ROWS, off[j + 1])
            y[lo:hi] = as_f64(p[lo:hi]) @ w[j]
    return y


def mm_y(case, rank: int) -> np.ndarray | None:
    if case.shared is None:
        return None
    return as_f64(data.mm_x(case, rank)) @ as_f64(data.mm_weight_logical(case, rank))


@memoised()
def expected_outputs(case, rank: int) -> dict[str, np.ndarray | None]:
    p = permute_out(case, rank)
    return {"permuteOut": p, "gmmY": gmm_y(case, rank, p), "mmY": mm_y(case, rank)}
