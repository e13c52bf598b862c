"""Correct variants: implementations that differ from the sim where the contract leaves room
(accumulation order and precision, the order of the steps, how communication and compute are
pipelined, the library that computes). The suite must pass every one: a failure is a false alarm
of the suite."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.gmm_alltoallv.mutants._base import logical, products, variant
from ops.gmm_alltoallv.sim import SimBackend, f32
from ops.gmm_alltoallv.torch_backend import TorchBackend, unpermute_index
from ops.moe import torch_ops as moe_torch_ops
from ops.moe.torch_ops import row_bytes

BLOCK = 64


def _float64(x: np.ndarray, w: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return (f32(x).astype(np.float64) @ w.astype(np.float64)).astype(dtype)


@variant("float64_accumulation", "both matmuls accumulate in float64 and round once to the output "
         "dtype")
class Float64Accumulation(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        products(self, a, out, matmul=_float64)

    def shared_expert(self, a: dict) -> None:
        w = logical(a["mm_weight"], a["trans_mm_weight"])
        a["mm_y"][...] = _float64(a["mm_x"], w, a["mm_y"].dtype)


def reversed_blocks(x: np.ndarray, w: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x @ w in float32, the reduction in blocks of BLOCK taken from the last block to the first,
    rounded once."""
    acc = np.zeros((x.shape[0], w.shape[1]), np.float32)
    x32 = f32(x)
    for lo in reversed(range(0, x.shape[1], BLOCK)):
        acc += x32[:, lo:lo + BLOCK] @ w[lo:lo + BLOCK]
    return acc.astype(dtype)


@variant("reversed_block_order", "both matmuls sum the reduction in fp32 blocks of 64, last block "
         "first")
class ReversedBlockOrder(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        products(self, a, out, matmul=reversed_blocks)

    def shared_expert(self, a: dict) -> None:
        w = logical(a["mm_weight"], a["trans_mm_weight"])
        a["mm_y"][...] = reversed_blocks(a["mm_x"], w, a["mm_y"].dtype)


@variant("unpermute_first", "the rows are put in destination order first and then multiplied, "
         "each by its own expert's weight (Unpermute and GroupedMatMul commute row by row)")
class UnpermuteFirst(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        return None  # done in unpermute, on the reordered rows

    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        e, ep, sc = a["gmm_weight"].shape[0], a["ep_world_size"], list(a["send_counts"])
        index = unpermute_index(sc, e, ep)
        expert_of = np.empty(len(index), np.int64)
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            expert_of[lo:hi] = j
        x = a["gmm_x"][index]
        experts = expert_of[index]
        for j in range(e):
            sel = experts == j
            if sel.any():
                w = logical(a["gmm_weight"][j], a["trans_gmm_weight"])
                out[sel] = (f32(x[sel]) @ w).astype(out.dtype)


ROUNDS = 4  # the pipeline's rounds, at every world size (a round per peer would cost ep^2 sends)


@variant("destination_pipeline", "the AlltoAllv in rounds: in round t each rank sends the rows of "
         "the destinations (rank + d) mod ep with d = t mod 4, and y fills source by source as "
         "the rounds arrive")
class DestinationPipeline(SimBackend):
    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        """Round t: destination (rank + d) mod ep gets its block when d mod `rounds` is t."""
        e, sc, ep = a["gmm_weight"].shape[0], a["send_counts"], ctx.world_size
        bounds = np.cumsum([0] + [sum(sc[s * e:(s + 1) * e]) for s in range(ep)])
        rc = a["recv_counts"]
        y_bounds = np.cumsum([0] + [sum(rc[r * e:(r + 1) * e]) for r in range(ep)])
        rounds, empty = min(ep, ROUNDS), rows[:0]
        for t in range(rounds):
            chunks = [rows[bounds[d]:bounds[d + 1]] if (d - ctx.rank) % ep % rounds == t
                      else empty for d in range(ep)]
            received = ctx.comm.alltoallv(chunks)
            for source in range(ep):
                if (ctx.rank - source) % ep % rounds == t:
                    a["y"][y_bounds[source]:y_bounds[source + 1]] = received[source]


@variant("torch_ops", "the second stage's arithmetic and unpermute in torch ops (the torch "
         "backend's own: a float32 matmul per expert, index_select), on the in-process "
         "communicator")
class TorchOps(TorchBackend):
    execute = SimBackend.execute  # the sim's steps and communicator; torch computes

    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        moe_torch_ops.grouped_matmul(a, a["gmm_x"], out, self.expert_rows(a))

    def shared_expert(self, a: dict) -> None:
        moe_torch_ops.shared_expert(a)

    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        import torch

        index = unpermute_index(list(a["send_counts"]), a["gmm_weight"].shape[0],
                                a["ep_world_size"])
        torch.index_select(row_bytes(rows), 0, torch.from_numpy(index),
                           out=row_bytes(out, writable=True))
