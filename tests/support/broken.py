"""A deliberately broken backend: permutes source-rank-major instead of expert-major.

Used to show that the suite catches a data-movement fault, names the clause, and prints a replay
command that reproduces the verdict (`--backend tests.support.broken:factory`).
"""

from __future__ import annotations

import numpy as np

from ops.alltoallv_gmm.sim import SimBackend


class SourceMajorPermute(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        offset = 0
        for rows in received:  # source rank outer, expert inner: the wrong order
            out[offset:offset + len(rows)] = rows
            offset += len(rows)


def factory(**options) -> SourceMajorPermute:
    return SourceMajorPermute(**options)
