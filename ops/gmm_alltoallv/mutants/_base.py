"""The combine catalog's machinery, from fixtures/catalog.py (what every operator's catalog
shares: an entry, `@mutant` / `@variant`, `spill`, `rounded_matmul`), and the helpers only this
operator's faults need: an expert's weight whichever way it is stored, and the grouped matmul with
one choice changed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fixtures.catalog import KINDS, Entry, mutant, rounded_matmul, spill, variant
from ops.gmm_alltoallv.sim import SimBackend, f32

__all__ = ["KINDS", "Entry", "logical", "mutant", "products", "rounded_matmul", "spill",
           "variant"]


def logical(w: np.ndarray, trans: bool) -> np.ndarray:
    """A stored weight as its logical (in, out) float32 matrix."""
    w = f32(w)
    return w.T if trans else w


def products(backend: SimBackend, a: dict, out: np.ndarray,
             weight_of: Callable[[int], np.ndarray] | None = None,
             matmul: Callable[[np.ndarray, np.ndarray, np.dtype], np.ndarray] | None = None
             ) -> None:
    """The grouped matmul into `out`, expert j's logical weight `weight_of(j)` (default its own)
    and the product `matmul(x, w, dtype)` (default fp32, rounded once) if given."""
    trans = a["trans_gmm_weight"]
    for j, (lo, hi) in enumerate(backend.expert_rows(a)):
        w = logical(a["gmm_weight"][j], trans) if weight_of is None else weight_of(j)
        x = a["gmm_x"][lo:hi]
        out[lo:hi] = (f32(x) @ w).astype(out.dtype) if matmul is None else matmul(x, w, out.dtype)
