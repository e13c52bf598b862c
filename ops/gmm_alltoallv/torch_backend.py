"""`torch`: aclnnGroupedMatMulAlltoAllv built from torch ops, in a multi-process world on gloo.

The CPU stand-in for the hardware path, as the dispatch operator's torch backend is: every rank
is a process (fixtures/pool/), and the rows travel back through
`torch.distributed.all_to_all_single` with split sizes straight into y, as HCCL would move them.

The first stage is the simulator's (`SimBackend.check` and `workspace_size`), so the contract
versions are honoured through `--backend-option behavior=...`. The second stage is torch: the
second-stage misuse checks in the sim's order, the shared-expert matmul, one matmul per local
expert in float32 cast back to the dtype into the workspace, the destination-major Unpermute by
an index into the workspace's second buffer, then the AlltoAllv into the caller's y.
"""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.gmm_alltoallv import sim
from ops.gmm_alltoallv.sim import SUCCESS, SimBackend, SimExecutor
from ops.moe.torch_ops import grouped_matmul, row_bytes, shared_expert

BEHAVIORS = sim.BEHAVIORS  # its first stage is the sim's, so it follows the same versions

WORLD = "processes"
DIST_BACKEND = "gloo"


def unpermute_index(send_counts: list[int], e: int, ep: int) -> np.ndarray:
    """Row indices into gmmX's (expert-major, source-minor) rows in the order they go back:
    destination-rank-major, then local expert (contracts/gmm_alltoallv.md section 2)."""
    expert_start = np.cumsum([0] + [sum(send_counts[s * e + j] for s in range(ep))
                                    for j in range(e)])
    parts = []
    for s in range(ep):
        for j in range(e):
            start = int(expert_start[j]) + sum(send_counts[t * e + j] for t in range(s))
            parts.append(np.arange(start, start + send_counts[s * e + j], dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


class TorchBackend(SimBackend):
    """The sim's first stage; a second stage of torch ops over the world's process group."""

    def execute(self, ctx: RankContext, workspace: np.ndarray | None, workspace_size: int,
                executor: object, stream: object) -> int:
        status = self.check_stage2(workspace, workspace_size, executor)  # type: ignore[arg-type]
        if status != SUCCESS:
            return status
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError("the torch backend runs in a multi-process world (fixtures/pool/), "
                               "where torch.distributed is initialised")
        ex: SimExecutor = executor  # type: ignore[assignment]
        a = ex.args
        if ex.write_mm_y:
            shared_expert(a)
        e, ep = a["gmm_weight"].shape[0], ctx.world_size
        sc, rc = list(a["send_counts"]), list(a["recv_counts"])
        gmm_y = self.buffer(a, workspace, 0)
        grouped_matmul(a, a["gmm_x"], gmm_y, self.expert_rows(a))
        unpermuted = self.buffer(a, workspace, 1)
        index = torch.from_numpy(unpermute_index(sc, e, ep))
        torch.index_select(row_bytes(gmm_y), 0, index, out=row_bytes(unpermuted, writable=True))
        send_rows = [sum(sc[s * e:(s + 1) * e]) for s in range(ep)]
        recv_rows = [sum(rc[r * e:(r + 1) * e]) for r in range(ep)]
        dist.all_to_all_single(row_bytes(a["y"], writable=True), row_bytes(unpermuted),
                               recv_rows, send_rows)
        ex.used = True
        return SUCCESS


def factory(**options: object) -> TorchBackend:
    return TorchBackend(**options)
