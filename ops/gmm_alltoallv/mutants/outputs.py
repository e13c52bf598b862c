"""Output faults: elements of y or mmY left unwritten, memory written that the call does not own,
inputs changed. (The combine has no optional output of its intermediates: no permuteOut, no
gmmY; contracts/gmm_alltoallv.md section 3.)"""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.gmm_alltoallv.mutants._base import mutant, spill
from ops.gmm_alltoallv.sim import SUCCESS, SimBackend


@mutant("unwritten_y_tail", "the last row of y is never written")
class UnwrittenYTail(SimBackend):
    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        y = a["y"]
        keep = y[-1].copy() if len(y) else None
        super().send_back(ctx, a, rows)
        if keep is not None:
            y[-1] = keep


@mutant("unwritten_mm_y_tail", "the last row of mmY is never written")
class UnwrittenMmYTail(SimBackend):
    def shared_expert(self, a: dict) -> None:
        my = a["mm_y"]
        keep = my[-1].copy() if len(my) else None
        super().shared_expert(a)
        if keep is not None:
            my[-1] = keep


@mutant("write_past_y", "the last row received is written once more, one row past the end of y")
class WritePastY(SimBackend):
    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        super().send_back(ctx, a, rows)
        y = a["y"]
        spill(y, y[-1] if len(y) else np.ones(y.shape[1], y.dtype))


@mutant("write_past_mm_y", "the shared expert's last tile writes one row past the end of mmY")
class WritePastMmY(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        my = a["mm_y"]
        spill(my, my[-1] if len(my) else np.ones(my.shape[1], my.dtype))


@mutant("write_past_workspace", "the unpermute buffer runs 32 bytes past the workspace it asked "
        "for")
class WritePastWorkspace(SimBackend):
    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        status = super().execute(ctx, workspace, workspace_size, executor, stream)
        if status == SUCCESS and workspace is not None:
            spill(workspace, np.full(32, 0x5A, np.uint8))
        return status


@mutant("gmm_x_clobbered", "gmmX is used as scratch after the matmul: its first row is zeroed")
class GmmXClobbered(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        super().grouped_matmul(a, out)
        if len(a["gmm_x"]):
            a["gmm_x"][0] = 0


@mutant("mm_weight_transposed_in_place", "the shared weight is transposed in place in the "
        "caller's tensor when transMmWeight is true")
class MmWeightTransposedInPlace(SimBackend):
    def shared_expert(self, a: dict) -> None:
        super().shared_expert(a)
        w = a["mm_weight"]
        if a["trans_mm_weight"] and w.size and w.flags.writeable:
            flat = w.reshape(-1)
            flat[...] = np.ascontiguousarray(w.T).reshape(-1)


@mutant("silent_rank_skips_shared", "a rank that sends no rows back (A = 0) returns early: its "
        "shared expert never runs and mmY stays unwritten")
class SilentRankSkipsShared(SimBackend):
    def shared_expert(self, a: dict) -> None:
        if len(a["gmm_x"]):
            super().shared_expert(a)
