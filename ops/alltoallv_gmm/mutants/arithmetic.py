"""Arithmetic faults: the right rows multiplied the wrong way."""

from __future__ import annotations

import numpy as np

from ops.alltoallv_gmm.mutants._base import logical_weight, mutant, rounded_matmul
from ops.alltoallv_gmm.sim import SimBackend


@mutant("ignores_trans_gmm_weight", "transGmmWeight ignored: the stored (N1, H1) weight is read "
        "as if it were (H1, N1)")
class IgnoresTransGmmWeight(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        h1, n1 = permuted.shape[1], y.shape[1]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = np.ascontiguousarray(w_all[j]).reshape(h1, n1).astype(np.float32)
            y[lo:hi] = (permuted[lo:hi].astype(np.float32) @ w).astype(y.dtype)


@mutant("ignores_trans_mm_weight", "transMmWeight ignored: the stored (N2, H2) shared weight is "
        "read as if it were (H2, N2)")
class IgnoresTransMmWeight(SimBackend):
    def shared_expert(self, a: dict) -> None:
        x, y = a["mm_x"], a["mm_y"]
        w = np.ascontiguousarray(a["mm_weight"]).reshape(x.shape[1], y.shape[1])
        y[...] = (x.astype(np.float32) @ w.astype(np.float32)).astype(y.dtype)


@mutant("wrong_expert_weight", "expert j is multiplied by the weight of expert (j+1) mod e")
class WrongExpertWeight(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        e = w_all.shape[0]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, (j + 1) % e, a["trans_gmm_weight"])
            y[lo:hi] = (permuted[lo:hi].astype(np.float32) @ w).astype(y.dtype)


@mutant("shared_expert_skipped", "the shared expert never runs: mmY is left as the caller "
        "passed it")
class SharedExpertSkipped(SimBackend):
    def shared_expert(self, a: dict) -> None:
        return None


@mutant("low_precision_accumulation", "the grouped matmul accumulates in fp16/bf16 (the output "
        "dtype) where fp32 is due")
class LowPrecisionAccumulation(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, j, a["trans_gmm_weight"])
            y[lo:hi] = rounded_matmul(permuted[lo:hi], w, y.dtype)


@mutant("last_row_dropped", "the grouped matmul stops one row short: gmmY's last row is zero")
class LastRowDropped(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        super().grouped_matmul(a, permuted)
        if a["gmm_y"].shape[0]:
            a["gmm_y"][-1] = 0


@mutant("last_k_dropped", "the reduction over H1 leaves out the last element (k = H1-1)")
class LastKDropped(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = logical_weight(w_all, j, a["trans_gmm_weight"])
            y[lo:hi] = (permuted[lo:hi, :-1].astype(np.float32) @ w[:-1]).astype(y.dtype)


@mutant("shared_rows_shifted", "the shared expert's output rows are shifted by one (row i gets "
        "row i+1's product, the last row row 0's)")
class SharedRowsShifted(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        a["mm_y"][...] = np.roll(a["mm_y"], -1, axis=0)


@mutant("weights_of_nonempty_groups", "the grouped matmul numbers its weights by the expert "
        "groups that have rows: after an empty group, every expert takes the previous one's weight")
class WeightsOfNonemptyGroups(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        w_all, y = a["gmm_weight"], a["gmm_y"]
        used = 0
        for lo, hi in self.expert_rows(a):
            if hi > lo:
                w = logical_weight(w_all, used, a["trans_gmm_weight"])
                y[lo:hi] = (permuted[lo:hi].astype(np.float32) @ w).astype(y.dtype)
                used += 1


@mutant("shared_last_k_dropped", "the shared expert's reduction over H2 leaves out its last "
        "element")
class SharedLastKDropped(SimBackend):
    def shared_expert(self, a: dict) -> None:
        w = a["mm_weight"].astype(np.float32)
        w = w.T if a["trans_mm_weight"] else w
        x = a["mm_x"].astype(np.float32)
        a["mm_y"][...] = (x[:, :-1] @ w[:-1]).astype(a["mm_y"].dtype)
