"""Nondeterminism: results within tolerance whose bits change from one call to the next, which
only running a case twice can show."""

from __future__ import annotations

import numpy as np

from fixtures.catalog import split_k
from ops.alltoallv_gmm.mutants._base import logical_weight, mutant
from ops.alltoallv_gmm.sim import SimBackend


@mutant("racy_split_k", "the grouped matmul splits H1 between two cores at a point that varies "
        "per call and adds their rounded partial sums")
class RacySplitK(SimBackend):
    def __init__(self, behavior: str = "doc") -> None:
        super().__init__(behavior)
        self.rng = np.random.default_rng()  # unseeded on purpose: a race, not a recipe

    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, j, a["trans_gmm_weight"])
            y[lo:hi] = split_k(permuted[lo:hi], w, y.dtype, self.rng)


@mutant("racy_shared_split_k", "the shared expert splits H2 at a point that varies per call and "
        "adds the rounded partial sums")
class RacySharedSplitK(SimBackend):
    def __init__(self, behavior: str = "doc") -> None:
        super().__init__(behavior)
        self.rng = np.random.default_rng()

    def shared_expert(self, a: dict) -> None:
        w = a["mm_weight"].astype(np.float32)
        w = w.T if a["trans_mm_weight"] else w
        a["mm_y"][...] = split_k(a["mm_x"], w, a["mm_y"].dtype, self.rng)
