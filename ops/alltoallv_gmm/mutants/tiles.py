"""Faults of a kernel's tile structure (spec/tiles.py): each one modelled on a real kind of kernel
bug, each invisible on worlds that stay inside one tile. The tile sizes come from the table, so
a mutant follows the kernel it models."""

from __future__ import annotations

import numpy as np

from fixtures.catalog import zero_n_tail
from ops.alltoallv_gmm.mutants._base import logical_weight, mutant
from ops.alltoallv_gmm.sim import SimBackend
from ops.alltoallv_gmm.tiles import tiling

T = tiling()
M_TILE = T.m.largest  # rows of the largest M tile
N_TILE = T.n.tiles[1]  # the base N tile of the tail mutants
K_BLOCK = T.k_block


def _products(backend: SimBackend, a: dict, permuted: np.ndarray, weight_of, rows_of=None
              ) -> None:
    """The grouped matmul with expert j's weight chosen by `weight_of(j)` and, if given, the
    input rows of a group chosen by `rows_of(lo, hi)`."""
    w_all, y = a["gmm_weight"], a["gmm_y"]
    for j, (lo, hi) in enumerate(backend.expert_rows(a)):
        w = logical_weight(w_all, weight_of(j), a["trans_gmm_weight"])
        x = permuted[lo:hi] if rows_of is None else rows_of(lo, hi)
        y[lo:hi] = (x.astype(np.float32) @ w).astype(y.dtype)


@mutant("m_tail_from_previous_tile", f"rows of an expert group past its last full {M_TILE}-row "
        "tile are computed from the previous tile's rows (a tail tile that keeps the last tile's "
        "offset)")
class MTailFromPreviousTile(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        def rows_of(lo: int, hi: int) -> np.ndarray:
            full = (hi - lo) // M_TILE * M_TILE
            x = permuted[lo:hi].copy()
            if full and full < hi - lo:
                tail = hi - lo - full
                x[full:] = permuted[lo + full - M_TILE:lo + full - M_TILE + tail]
            return x

        _products(self, a, permuted, lambda j: j, rows_of)


@mutant("n_tail_zero", f"output columns of gmmY past the last full {N_TILE}-column tile are "
        "left at zero (the N loop runs N1 // tile times)")
class NTailZero(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        super().grouped_matmul(a, permuted)
        zero_n_tail(a["gmm_y"], N_TILE)


@mutant("shared_n_tail_zero", f"output columns of mmY past the last full {N_TILE}-column tile "
        "are left at zero (the shared expert's N loop runs N2 // tile times)")
class SharedNTailZero(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        zero_n_tail(a["mm_y"], N_TILE)


@mutant("k_tail_dropped", f"the reduction over H1 stops at the last multiple of {K_BLOCK} "
        "(a K tail past one pass is never accumulated)")
class KTailDropped(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        h1 = permuted.shape[1]
        k = h1 // K_BLOCK * K_BLOCK or h1
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, j, a["trans_gmm_weight"])
            y[lo:hi] = (permuted[lo:hi, :k].astype(np.float32) @ w[:k]).astype(y.dtype)


@mutant("partial_chunk_weights", "experts past the last full chunk (e % experts-per-chunk of "
        "them, e >= 5) use the weight of the chunk before (a chunk table of e // per-chunk "
        "entries)")
class PartialChunkWeights(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        per = T.experts_in_chunk(e)
        full = e // per * per

        def weight_of(j: int) -> int:
            return j - per if per > 1 and full < e and j >= full and full >= per else j

        _products(self, a, permuted, weight_of)


@mutant("narrow_row_index", f"row offsets within a rank are 16-bit: a rank receiving more than "
        f"{T.row_index_limit:,} rows computes row i from row i mod {T.row_index_limit:,}")
class NarrowRowIndex(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        limit = T.row_index_limit
        if permuted.shape[0] <= limit:
            return super().grouped_matmul(a, permuted)

        def rows_of(lo: int, hi: int) -> np.ndarray:
            return permuted[np.arange(lo, hi) % limit]

        _products(self, a, permuted, lambda j: j, rows_of)
        return None
