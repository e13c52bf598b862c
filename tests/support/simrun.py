"""Run the sim on every rank of a case and keep its outputs (the suite itself never ships them)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fixtures.harness import materialise
from fixtures.protocol import RankContext
from fixtures.world import ThreadComm, ThreadExchange
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.sim import SimBackend


def sim_outputs(case: Case, behavior: str = "doc") -> list[dict[str, np.ndarray]]:
    """Both stages of the sim on every rank; each rank's outputs by name (copies)."""
    exchange = ThreadExchange(case.ep, timeout=60)

    def rank(r: int) -> dict[str, np.ndarray]:
        backend = SimBackend(behavior)
        ctx = RankContext(r, case.ep, case.product, ThreadComm(exchange, r), "sim")
        mat = materialise(case, r, case.call(r), data_mode=True)
        status, size, executor = backend.get_workspace_size(ctx, **mat.kwargs)
        assert status == 0, f"rank {r}: first stage returned {status}"
        workspace = np.zeros(size, np.uint8)
        assert backend.execute(ctx, workspace, size, executor, None) == 0
        return {name: buf.view.copy() for name, buf in mat.outputs.items()}

    with ThreadPoolExecutor(case.ep) as pool:
        return list(pool.map(rank, range(case.ep)))
