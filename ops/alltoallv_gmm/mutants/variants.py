"""Correct variants: implementations that differ from the sim where the contract leaves room
(accumulation order and precision, how communication and compute are pipelined). The suite must
pass every one of them: a failure is a false alarm of the suite."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.alltoallv_gmm.mutants._base import logical_weight, variant
from ops.alltoallv_gmm.sim import SimBackend, SimExecutor

BLOCK = 64


@variant("float64_accumulation", "both matmuls accumulate in float64 and round once to the output "
         "dtype")
class Float64Accumulation(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, j, a["trans_gmm_weight"]).astype(np.float64)
            y[lo:hi] = (permuted[lo:hi].astype(np.float64) @ w).astype(y.dtype)

    def shared_expert(self, a: dict) -> None:
        w = a["mm_weight"].astype(np.float64)
        w = w.T if a["trans_mm_weight"] else w
        a["mm_y"][...] = (a["mm_x"].astype(np.float64) @ w).astype(a["mm_y"].dtype)


def reversed_blocks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w in float32, the reduction in blocks of BLOCK taken from the last block to the first."""
    acc = np.zeros((x.shape[0], w.shape[1]), np.float32)
    for lo in reversed(range(0, x.shape[1], BLOCK)):
        acc += x[:, lo:lo + BLOCK].astype(np.float32) @ w[lo:lo + BLOCK].astype(np.float32)
    return acc


@variant("reversed_block_order", "both matmuls sum the reduction in fp32 blocks of 64, last block "
         "first")
class ReversedBlockOrder(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, j, a["trans_gmm_weight"])
            y[lo:hi] = reversed_blocks(permuted[lo:hi], w).astype(y.dtype)

    def shared_expert(self, a: dict) -> None:
        w = a["mm_weight"].T if a["trans_mm_weight"] else a["mm_weight"]
        a["mm_y"][...] = reversed_blocks(a["mm_x"], w).astype(a["mm_y"].dtype)


@variant("chunked_pipeline", "one AlltoAllv per local expert; each expert's rows are permuted and "
         "multiplied as they arrive, with a slice of the shared expert computed in between")
class ChunkedPipeline(SimBackend):
    def compute(self, ctx: RankContext, ex: SimExecutor, workspace: np.ndarray) -> None:
        a = ex.args
        received = self.buffer(a, workspace, 0)
        out = self.permute_target(a, workspace, ex)
        e, ep = a["gmm_weight"].shape[0], ctx.world_size
        sc, rc = a["send_counts"], a["recv_counts"]
        send_starts = np.cumsum([0, *sc])
        shared_rows = np.array_split(np.arange(a["mm_x"].shape[0]), e) if ex.write_mm_y else None
        offset = 0
        for j in range(e):
            chunks = [a["gmm_x"][send_starts[r * e + j]:send_starts[r * e + j + 1]]
                      for r in range(ep)]
            arrived = ctx.comm.alltoallv(chunks)  # arrived[s]: the rows s sent to my expert j
            lo = offset
            for s in range(ep):
                n = rc[s * e + j]
                if len(arrived[s]) != n:
                    raise ValueError(f"rank {s} sent {len(arrived[s])} rows for expert {j}, "
                                     f"recvCounts says {n}")
                received[offset:offset + n] = arrived[s]
                offset += n
            out[lo:offset] = received[lo:offset]
            if shared_rows is not None:  # overlap: a slice of the shared expert per chunk
                self.shared_slice(a, shared_rows[j])
            self.expert_block(a, out, j, lo, offset)

    @staticmethod
    def shared_slice(a: dict, rows: np.ndarray) -> None:
        if not rows.size:
            return
        w = a["mm_weight"].astype(np.float32)
        w = w.T if a["trans_mm_weight"] else w
        sel = slice(int(rows[0]), int(rows[-1]) + 1)
        a["mm_y"][sel] = (a["mm_x"][sel].astype(np.float32) @ w).astype(a["mm_y"].dtype)

    @staticmethod
    def expert_block(a: dict, permuted: np.ndarray, j: int, lo: int, hi: int) -> None:
        w = logical_weight(a["gmm_weight"], j, a["trans_gmm_weight"])
        y = a["gmm_y"]
        y[lo:hi] = (permuted[lo:hi].astype(np.float32) @ w).astype(y.dtype)
