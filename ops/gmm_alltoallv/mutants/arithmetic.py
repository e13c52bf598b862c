"""Arithmetic faults: the right rows and weights multiplied the wrong way, or y and mmY formed
from the wrong terms."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.gmm_alltoallv.mutants._base import logical, mutant, products, rounded_matmul
from ops.gmm_alltoallv.sim import SimBackend, f32


@mutant("low_precision_accumulation", "the grouped matmul accumulates in fp16/bf16 (the output "
        "dtype) where fp32 is due")
class LowPrecisionAccumulation(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        products(self, a, out, matmul=rounded_matmul)


@mutant("shared_low_precision_accumulation", "the shared expert accumulates in fp16/bf16 where "
        "fp32 is due")
class SharedLowPrecisionAccumulation(SimBackend):
    def shared_expert(self, a: dict) -> None:
        w = logical(a["mm_weight"], a["trans_mm_weight"])
        a["mm_y"][...] = rounded_matmul(a["mm_x"], w, a["mm_y"].dtype)


@mutant("shared_expert_skipped", "the shared expert never runs: mmY is left as the caller passed "
        "it")
class SharedExpertSkipped(SimBackend):
    def shared_expert(self, a: dict) -> None:
        return None


@mutant("last_k_dropped", "the reduction over H1 leaves out its last element (k = H1-1)")
class LastKDropped(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        products(self, a, out, matmul=lambda x, w, dt: (f32(x)[:, :-1] @ w[:-1]).astype(dt))


@mutant("shared_last_k_dropped", "the shared expert's reduction over H2 leaves out its last "
        "element")
class SharedLastKDropped(SimBackend):
    def shared_expert(self, a: dict) -> None:
        w = logical(a["mm_weight"], a["trans_mm_weight"])
        a["mm_y"][...] = (f32(a["mm_x"])[:, :-1] @ w[:-1]).astype(a["mm_y"].dtype)


@mutant("shared_rows_shifted", "mmY's rows are shifted by one (row i gets row i+1's product, the "
        "last row row 0's)")
class SharedRowsShifted(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        a["mm_y"][...] = np.roll(a["mm_y"], -1, axis=0)


@mutant("shared_added_into_y", "y formed as routed + shared: each token's shared-expert row "
        "(mmY[i // K], the columns y has) is added into y where the contract keeps mmY apart")
class SharedAddedIntoY(SimBackend):
    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        super().send_back(ctx, a, rows)
        y, my = a["y"], a["mm_y"]
        if a["mm_x"] is None or my is None or not len(my) or not len(y):
            return
        k = max(len(y) // len(my), 1)
        cols = min(y.shape[1], my.shape[1])  # the columns both have
        extra = np.repeat(f32(my[:, :cols]), k, axis=0)[:len(y)]
        rows = len(extra)
        y[:rows, :cols] = (f32(y[:rows, :cols]) + extra).astype(y.dtype)
