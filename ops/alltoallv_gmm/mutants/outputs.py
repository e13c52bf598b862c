"""Output faults: elements left unwritten, memory written that the call does not own, inputs
changed."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.alltoallv_gmm.mutants._base import mutant, spill
from ops.alltoallv_gmm.sim import SimBackend, SimExecutor


@mutant("unwritten_tail", "the last row of gmmY is never written")
class UnwrittenTail(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        y = a["gmm_y"]
        if not y.shape[0]:
            return
        keep = y[-1].copy()
        super().grouped_matmul(a, permuted)
        y[-1] = keep


@mutant("unwritten_permute_out_tail", "the last row of permuteOut is never written (the matmul "
        "still reads the right rows)")
class UnwrittenPermuteOutTail(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        if not out.shape[0] or out is not a["permute_out"]:
            super().permute(a, received, out)
            return
        keep = out[-1].copy()
        super().permute(a, received, out)
        self._last_row = out[-1].copy()
        out[-1] = keep

    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        if permuted is a["permute_out"] and permuted.shape[0]:
            permuted = permuted.copy()
            permuted[-1] = self._last_row
        super().grouped_matmul(a, permuted)


@mutant("write_past_gmm_y", "the grouped matmul's last tile writes one row past the end of gmmY")
class WritePastGmmY(SimBackend):
    def grouped_matmul(self, a: dict, permuted: np.ndarray) -> None:
        super().grouped_matmul(a, permuted)
        y = a["gmm_y"]
        spill(y, y[-1] if y.shape[0] else np.zeros(y.shape[1], y.dtype))


@mutant("write_past_workspace", "the library scratch area runs 32 bytes past the workspace it "
        "asked for")
class WritePastWorkspace(SimBackend):
    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        status = super().execute(ctx, workspace, workspace_size, executor, stream)
        if status == 0 and workspace is not None:
            spill(workspace, np.zeros(32, np.uint8))
        return status


@mutant("permute_out_unrequested", "permuteOut is written although permuteOutFlag is false",
        profiles=("doc",))
class PermuteOutUnrequested(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        super().permute(a, received, out)
        po = a["permute_out"]
        if po is not None and out is not po and po.shape == out.shape:
            po[...] = out


@mutant("mm_y_unrequested", "mmY is written (zeros) although no shared expert was passed",
        profiles=("doc",))
class MmYUnrequested(SimBackend):
    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        status = super().execute(ctx, workspace, workspace_size, executor, stream)
        a = getattr(executor, "args", {})
        if status == 0 and a.get("mm_x") is None and a.get("mm_y") is not None:
            a["mm_y"][...] = 0
        return status


@mutant("gmm_x_clobbered", "gmmX is used as scratch after the send: its first row is overwritten")
class GmmXClobbered(SimBackend):
    def communicate(self, ctx: RankContext, a: dict) -> list[np.ndarray]:
        received = super().communicate(ctx, a)
        if a["gmm_x"].shape[0]:
            a["gmm_x"][0] = 0
        return received


@mutant("mm_weight_transposed_in_place", "the shared weight is transposed in place in the caller's "
        "tensor when transMmWeight is true")
class MmWeightTransposedInPlace(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        w = a["mm_weight"]
        if a["trans_mm_weight"] and w.size:
            flat = w.reshape(-1)
            flat[...] = np.ascontiguousarray(w.T).reshape(-1)


@mutant("silent_rank_skips_shared", "a rank that receives no tokens returns early: its shared "
        "expert never runs and mmY stays unwritten")
class SilentRankSkipsShared(SimBackend):
    def shared_expert(self, a: dict) -> None:
        if a["gmm_y"].shape[0]:
            super().shared_expert(a)


@mutant("permute_out_as_received", "permuteOut holds the rows in the order they arrived "
        "(source-major); the grouped matmul reads the rows permuted right from a buffer of its own")
class PermuteOutAsReceived(SimBackend):
    def compute(self, ctx: RankContext, ex: SimExecutor, workspace: np.ndarray) -> None:
        a = ex.args
        if ex.write_mm_y:
            self.shared_expert(a)
        received = self.stage_received(self.communicate(ctx, a), self.buffer(a, workspace, 0))
        permuted = np.empty((a["gmm_y"].shape[0], a["gmm_x"].shape[1]), a["gmm_x"].dtype)
        self.permute(a, received, permuted)
        self.grouped_matmul(a, permuted)
        if ex.write_permute_out:
            a["permute_out"][...] = np.concatenate(received) if received else permuted
