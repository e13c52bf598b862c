"""The catalog's machinery, from fixtures/catalog.py (what every operator's catalog shares: an
entry, `@mutant` / `@variant`, the helpers `spill` and `rounded_matmul`), and the one helper only
this operator's faults need. An entry's factory takes the sim's options (`behavior=doc|...`,
default "doc") and nothing else, like the sim itself.
"""

from __future__ import annotations

import numpy as np

from fixtures.catalog import KINDS, Entry, mutant, rounded_matmul, spill, variant

__all__ = ["KINDS", "Entry", "logical_weight", "mutant", "rounded_matmul", "spill", "variant"]


def logical_weight(w_all: np.ndarray, j: int, trans: bool) -> np.ndarray:
    """Expert j's weight as (H1, N1) float32, whichever way it is stored."""
    w = w_all[j].astype(np.float32)
    return w.T if trans else w
