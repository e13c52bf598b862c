"""Data-routing faults: rows that reach the wrong place in permuteOut or the wrong expert."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.alltoallv_gmm.mutants._base import mutant
from ops.alltoallv_gmm.sim import SimBackend, SimExecutor


@mutant("source_major_permute", "permute lays rows out source-rank-major (for s, for j) instead of "
        "expert-major")
class SourceMajorPermute(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        offset = 0
        for rows in received:
            out[offset:offset + len(rows)] = rows
            offset += len(rows)


@mutant("reversed_expert_block", "the rows of the last local expert's block come out in reverse "
        "order")
class ReversedExpertBlock(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        super().permute(a, received, out)
        lo, hi = self.expert_rows(a)[-1]
        out[lo:hi] = out[lo:hi][::-1].copy()


@mutant("two_experts_swapped", "the rows of local experts 0 and 1 land in each other's places in "
        "permuteOut (e >= 2)")
class TwoExpertsSwapped(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        super().permute(a, received, out)
        bounds = self.expert_rows(a)
        if len(bounds) >= 2:
            (lo, mid), (_, hi) = bounds[0], bounds[1]
            out[lo:hi] = np.concatenate([out[mid:hi], out[lo:mid]])


def _permute_with(a: dict, received: list[np.ndarray], out: np.ndarray, start_of) -> None:
    """The sim's permute (expert-major, source-minor) with the start of expert j's rows within
    source s's rows given by `start_of(counts, s, j)`, counts being recvCounts."""
    e = a["gmm_weight"].shape[0]
    rc = a["recv_counts"]
    offset = 0
    for j in range(e):
        for s, rows in enumerate(received):
            start = start_of(rc, s, j)
            n = rc[s * e + j]
            block = rows[start:start + n]
            out[offset:offset + len(block)] = block
            offset += n


@mutant("source_offset_off_by_one", "the offset of expert j in a source's rows sums the counts of "
        "experts 0..j-2 (one count short)")
class SourceOffsetOffByOne(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        _permute_with(a, received, out, lambda rc, s, j: sum(rc[s * e:s * e + max(j - 1, 0)]))


@mutant("expert_boundary_off_by_one", "every expert block after the first starts one row late in "
        "the grouped matmul: its first row uses the previous expert's weight")
class ExpertBoundaryOffByOne(SimBackend):
    def expert_rows(self, a: dict) -> list[tuple[int, int]]:
        bounds = super().expert_rows(a)
        total = bounds[-1][1] if bounds else 0
        shifted = [min(hi + 1, total) if j < len(bounds) - 1 else hi for j, (_, hi) in enumerate(bounds)]
        starts = [0, *shifted[:-1]]
        return [(lo, max(lo, hi)) for lo, hi in zip(starts, shifted, strict=True)]


@mutant("send_recv_swapped", "sendCounts and recvCounts swapped: gmmX split by recvCounts, the "
        "received rows read by sendCounts")
class SendRecvSwapped(SimBackend):
    def communicate(self, ctx: RankContext, a: dict) -> list[np.ndarray]:
        return super().communicate(ctx, {**a, "send_counts": a["recv_counts"]})

    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        super().permute({**a, "recv_counts": a["send_counts"]}, received, out)

    def expert_rows(self, a: dict) -> list[tuple[int, int]]:
        return super().expert_rows({**a, "recv_counts": a["send_counts"]})


def _expert_major(counts: list[int], e: int, ep: int) -> list[int]:
    """The counts as an expert-major reading sees them: position s*e + j holds counts[j*ep + s]."""
    return [counts[j * ep + s] for s in range(ep) for j in range(e)]


@mutant("counts_expert_major", "recvCounts read expert-major (recvCounts[j*ep + s]) instead of "
        "rank-major (recvCounts[s*e + j])")
class CountsExpertMajor(SimBackend):
    def _reread(self, a: dict) -> dict:
        e, ep = a["gmm_weight"].shape[0], a["ep_world_size"]
        return {**a, "recv_counts": _expert_major(list(a["recv_counts"]), e, ep)}

    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        super().permute(self._reread(a), received, out)

    def expert_rows(self, a: dict) -> list[tuple[int, int]]:
        return super().expert_rows(self._reread(a))


@mutant("peers_reversed", "AlltoAllv sends the chunk for rank r to rank ep-1-r")
class PeersReversed(SimBackend):
    def communicate(self, ctx: RankContext, a: dict) -> list[np.ndarray]:
        e = a["gmm_weight"].shape[0]
        sc = a["send_counts"]
        bounds = np.cumsum([0] + [sum(sc[r * e:(r + 1) * e]) for r in range(ctx.world_size)])
        chunks = [a["gmm_x"][bounds[r]:bounds[r + 1]] for r in range(ctx.world_size)]
        return ctx.comm.alltoallv(chunks[::-1])


@mutant("own_block_stale", "the rows a rank routes to its own experts skip the receive buffer "
        "(the local copy is left out): the permute reads whatever the workspace held there")
class OwnBlockStale(SimBackend):
    def compute(self, ctx: RankContext, ex: SimExecutor, workspace: np.ndarray) -> None:
        a = ex.args
        if ex.write_mm_y:
            self.shared_expert(a)
        buf, views, offset = self.buffer(a, workspace, 0), [], 0
        for s, rows in enumerate(self.communicate(ctx, a)):
            if s != ctx.rank:
                buf[offset:offset + len(rows)] = rows
            views.append(buf[offset:offset + len(rows)])
            offset += len(rows)
        permuted = self.permute_target(a, workspace, ex)
        self.permute(a, views, permuted)
        self.grouped_matmul(a, permuted)


@mutant("empty_block_takes_a_row", "a source that sends an expert no rows still moves the offset "
        "of that source's later experts by one row (the count read as max(count, 1))")
class EmptyBlockTakesARow(SimBackend):
    def permute(self, a: dict, received: list[np.ndarray], out: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        _permute_with(a, received, out,
                      lambda rc, s, j: sum(max(c, 1) for c in rc[s * e:s * e + j]))
