"""Nondeterminism: results within tolerance whose bits change from one call to the next, which
only running a case twice can show."""

from __future__ import annotations

import numpy as np

from fixtures.catalog import split_k
from ops.gmm_alltoallv.mutants._base import logical, mutant, products
from ops.gmm_alltoallv.sim import SimBackend


@mutant("racy_split_k", "the grouped matmul splits H1 between two cores at a point that varies "
        "per call and adds their rounded partial sums")
class RacySplitK(SimBackend):
    def __init__(self, behavior: str = "doc") -> None:
        super().__init__(behavior)
        self.rng = np.random.default_rng()  # unseeded on purpose: a race, not a recipe

    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        products(self, a, out, matmul=lambda x, w, dt: split_k(x, w, dt, self.rng))


@mutant("racy_shared_split_k", "the shared expert splits H2 at a point that varies per call and "
        "adds the rounded partial sums")
class RacySharedSplitK(SimBackend):
    def __init__(self, behavior: str = "doc") -> None:
        super().__init__(behavior)
        self.rng = np.random.default_rng()

    def shared_expert(self, a: dict) -> None:
        w = logical(a["mm_weight"], a["trans_mm_weight"])
        a["mm_y"][...] = split_k(a["mm_x"], w, a["mm_y"].dtype, self.rng)
