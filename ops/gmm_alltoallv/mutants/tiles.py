"""Faults of a kernel's tile structure in the combine's grouped matmul and shared expert: each one
modelled on a real kind of kernel bug, each invisible on worlds that stay inside one tile. The
combine runs the same GroupedMatmul kernel as the dispatch, so the tile sizes are that kernel's
table (ops/alltoallv_gmm/tiles.py)."""

from __future__ import annotations

import numpy as np

from fixtures.catalog import zero_n_tail
from ops.alltoallv_gmm.tiles import tiling
from ops.gmm_alltoallv.mutants._base import logical, mutant, products
from ops.gmm_alltoallv.sim import SimBackend, f32

T = tiling()
M_TILE = T.m.largest  # rows of the largest M tile
N_TILE = T.n.tiles[1]  # the base N tile of the tail mutants
K_BLOCK = T.k_block


@mutant("n_tail_zero", f"columns of the grouped product past the last full {N_TILE}-column tile "
        "are left at zero (the N loop runs N1 // tile times)")
class NTailZero(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        super().grouped_matmul(a, out)
        zero_n_tail(out, N_TILE)


@mutant("shared_n_tail_zero", f"columns of mmY past the last full {N_TILE}-column tile are left "
        "at zero (the shared expert's N loop runs N2 // tile times)")
class SharedNTailZero(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        zero_n_tail(a["mm_y"], N_TILE)


@mutant("k_tail_dropped", f"the reduction over H1 stops at the last multiple of {K_BLOCK} (a K "
        "tail past one pass is never accumulated)")
class KTailDropped(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        h1 = a["gmm_x"].shape[1]
        k = h1 // K_BLOCK * K_BLOCK or h1
        products(self, a, out, matmul=lambda x, w, dtype: (f32(x[:, :k]) @ w[:k]).astype(dtype))


@mutant("m_tail_from_previous_tile", f"rows of an expert group past its last full {M_TILE}-row "
        "tile are computed from the previous tile's rows (a tail tile that keeps the last tile's "
        "offset)")
class MTailFromPreviousTile(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        trans = a["trans_gmm_weight"]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            x = a["gmm_x"][lo:hi].copy()
            full = (hi - lo) // M_TILE * M_TILE
            if full and full < hi - lo:
                tail = hi - lo - full
                x[full:] = a["gmm_x"][lo + full - M_TILE:lo + full - M_TILE + tail]
            out[lo:hi] = (f32(x) @ logical(a["gmm_weight"][j], trans)).astype(out.dtype)
