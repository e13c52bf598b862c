"""Expert-weight faults: the right rows multiplied by the wrong matrix (another expert's, another
rank's, or the right one read the wrong way round)."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.gmm_alltoallv.mutants._base import logical, mutant, products
from ops.gmm_alltoallv.sim import SUCCESS, SimBackend, f32


@mutant("wrong_expert_weight", "expert j's rows are multiplied by expert (j+1) mod e's weight")
class WrongExpertWeight(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        e, trans = a["gmm_weight"].shape[0], a["trans_gmm_weight"]
        products(self, a, out, lambda j: logical(a["gmm_weight"][(j + 1) % e], trans))


@mutant("ignores_trans_gmm_weight", "transGmmWeight ignored: the stored (N1, H1) weight is read "
        "as if it were (H1, N1)")
class IgnoresTransGmmWeight(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        w_all = a["gmm_weight"]
        h1, n1 = a["gmm_x"].shape[1], out.shape[1]
        products(self, a, out,
                 lambda j: f32(np.ascontiguousarray(w_all[j]).reshape(h1, n1)))


@mutant("ignores_trans_mm_weight", "transMmWeight ignored: the stored (N2, H2) shared weight is "
        "read as if it were (H2, N2)")
class IgnoresTransMmWeight(SimBackend):
    def shared_expert(self, a: dict) -> None:
        x, y = a["mm_x"], a["mm_y"]
        w = f32(np.ascontiguousarray(a["mm_weight"]).reshape(x.shape[1], y.shape[1]))
        y[...] = (f32(x) @ w).astype(y.dtype)


class _NeighboursWeight(SimBackend):
    """Every rank swaps one weight with its neighbours before computing: rank r ends up with rank
    (r+1) mod ep's (a collective every rank joins, whether or not it has the weight)."""

    key = ""

    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        # The exchange runs where the sim's own AlltoAllv does: once the second stage's checks
        # pass, on every rank.
        if self.check_stage2(workspace, workspace_size, executor) != SUCCESS:
            return super().execute(ctx, workspace, workspace_size, executor, stream)
        a = executor.args
        mine = a.get(self.key)
        empty = np.zeros(0, np.uint8)
        payload = empty if mine is None else np.ascontiguousarray(mine)
        ep = ctx.world_size
        got = ctx.comm.alltoallv([payload if s == (ctx.rank - 1) % ep else empty
                                  for s in range(ep)])[(ctx.rank + 1) % ep]
        if mine is None or got.shape != mine.shape or got.dtype != mine.dtype:
            return super().execute(ctx, workspace, workspace_size, executor, stream)
        executor.args = {**a, self.key: got}
        try:
            return super().execute(ctx, workspace, workspace_size, executor, stream)
        finally:
            executor.args = a


@mutant("gmm_weight_of_next_rank", "the grouped matmul uses rank (r+1) mod ep's gmmWeight: the "
        "right local expert of the wrong expert rank")
class GmmWeightOfNextRank(_NeighboursWeight):
    key = "gmm_weight"


@mutant("mm_weight_of_next_rank", "the shared expert uses rank (r+1) mod ep's mmWeight")
class MmWeightOfNextRank(_NeighboursWeight):
    key = "mm_weight"


@mutant("weights_of_nonempty_groups", "the grouped matmul numbers its weights by the expert "
        "groups that have rows: after an empty group, every expert takes the previous one's weight")
class WeightsOfNonemptyGroups(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        trans, rows = a["trans_gmm_weight"], self.expert_rows(a)
        used = [sum(hi > lo for lo, hi in rows[:j]) for j in range(len(rows))]
        products(self, a, out, lambda j: logical(a["gmm_weight"][used[j]], trans))
