"""Routing faults of the Unpermute and the AlltoAllv: every row computed right, some of them
sent back to the wrong rank or the wrong row of y (or not at all)."""

from __future__ import annotations

import numpy as np

from fixtures.protocol import RankContext
from ops.gmm_alltoallv.mutants._base import mutant
from ops.gmm_alltoallv.sim import SimBackend


def _unpermute_with(a: dict, rows: np.ndarray, out: np.ndarray, counts: list[int],
                    offset_of) -> None:
    """The sim's unpermute with the count layout `counts` and the start of destination s's rows
    within expert j's group given by `offset_of(counts, s, j)` (relative to the group)."""
    e, ep = a["gmm_weight"].shape[0], a["ep_world_size"]
    starts = np.cumsum([0] + [sum(counts[s * e + j] for s in range(ep)) for j in range(e)])
    at = 0
    for s in range(ep):
        for j in range(e):
            n = counts[s * e + j]
            src = int(starts[j]) + offset_of(counts, s, j)
            block = rows[src:src + n]
            out[at:at + len(block)] = block
            at += n


@mutant("expert_major_unpermute", "the rows go back in gmmX's own order (expert-major, "
        "source-minor) instead of destination-rank-major: right counts per destination, wrong rows")
class ExpertMajorUnpermute(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        out[...] = rows


@mutant("last_expert_zeroed", "the rows of the last local expert are never copied back: they "
        "arrive as zeros")
class LastExpertZeroed(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        super().grouped_matmul(a, out)
        lo, hi = self.expert_rows(a)[-1]
        out[lo:hi] = 0


@mutant("last_expert_dropped", "the last local expert's rows are left out of the unpermute: the "
        "rows after them move up and y's tail is stale")
class LastExpertDropped(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        sc = list(a["send_counts"])
        kept = [0 if (i % e) == e - 1 else n for i, n in enumerate(sc)]
        super().unpermute({**a, "send_counts": kept}, rows, out)


@mutant("destinations_rotated", "the block for rank s is sent to rank s+1 (mod ep): every rank "
        "gets a neighbour's rows")
class DestinationsRotated(SimBackend):
    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        e, sc, ep = a["gmm_weight"].shape[0], a["send_counts"], ctx.world_size
        bounds = np.cumsum([0] + [sum(sc[s * e:(s + 1) * e]) for s in range(ep)])
        chunks = [rows[bounds[s]:bounds[s + 1]] for s in range(ep)]
        received = ctx.comm.alltoallv(chunks[-1:] + chunks[:-1])
        y, at = a["y"], 0
        for block in received:
            n = min(len(block), len(y) - at)
            y[at:at + n] = block[:n]
            at += n


@mutant("send_offset_off_by_one", "the start of destination s's rows within an expert's group "
        "sums the counts of destinations 0..s-2 (one count short)")
class SendOffsetOffByOne(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        _unpermute_with(a, rows, out, list(a["send_counts"]),
                        lambda c, s, j: sum(c[t * e + j] for t in range(max(s - 1, 0))))


@mutant("counts_transposed", "sendCounts read expert-major (sendCounts[j*ep + s], the op-plugin "
        "test's transposed layout) instead of sendCounts[s*e + j]")
class CountsTransposed(SimBackend):
    def _reread(self, a: dict) -> dict:
        e, ep, sc = a["gmm_weight"].shape[0], a["ep_world_size"], list(a["send_counts"])
        return {**a, "send_counts": [sc[j * ep + s] for s in range(ep) for j in range(e)]}

    def expert_rows(self, a: dict) -> list[tuple[int, int]]:
        return super().expert_rows(self._reread(a))

    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        super().unpermute(self._reread(a), rows, out)


@mutant("reversed_destination_block", "the rows going back to the last rank come out in reverse "
        "order")
class ReversedDestinationBlock(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        super().unpermute(a, rows, out)
        e, sc = a["gmm_weight"].shape[0], a["send_counts"]
        n = sum(sc[(a["ep_world_size"] - 1) * e:])
        if n:
            out[len(out) - n:] = out[len(out) - n:][::-1].copy()


@mutant("stale_last_row", "the unpermute skips the last row it should copy: that row of the "
        "workspace keeps whatever it held (the previous call's, or the poison) and is sent")
class StaleLastRow(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        if not len(out):
            return
        keep = out[-1].copy()
        super().unpermute(a, rows, out)
        out[-1] = keep


@mutant("expert_boundary_off_by_one", "every expert group after the first starts one row late in "
        "the grouped matmul: its first row takes the previous expert's weight")
class ExpertBoundaryOffByOne(SimBackend):
    def expert_rows(self, a: dict) -> list[tuple[int, int]]:
        bounds = super().expert_rows(a)
        total = bounds[-1][1] if bounds else 0
        ends = [min(hi + 1, total) if j < len(bounds) - 1 else hi
                for j, (_, hi) in enumerate(bounds)]
        starts = [0, *ends[:-1]]
        return [(lo, max(lo, hi)) for lo, hi in zip(starts, ends, strict=True)]


@mutant("send_recv_swapped", "sendCounts and recvCounts swapped: gmmX grouped and sent back by "
        "recvCounts")
class SendRecvSwapped(SimBackend):
    def _swap(self, a: dict) -> dict:
        return {**a, "send_counts": a["recv_counts"]}

    def expert_rows(self, a: dict) -> list[tuple[int, int]]:
        return super().expert_rows(self._swap(a))

    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        out[...] = 0
        fit = self._swap(a)
        if sum(fit["send_counts"]) <= len(rows):
            super().unpermute(fit, rows, out)

    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        super().send_back(ctx, a, rows)  # the sizes stay the ones the tiling checked


@mutant("own_block_from_start", "the block a rank sends back to itself is read from the start of "
        "the unpermuted rows, not from its own offset (the local copy skips the send offsets)")
class OwnBlockFromStart(SimBackend):
    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        e, sc, ep = a["gmm_weight"].shape[0], a["send_counts"], ctx.world_size
        bounds = np.cumsum([0] + [sum(sc[s * e:(s + 1) * e]) for s in range(ep)])
        chunks = [rows[bounds[s]:bounds[s + 1]] for s in range(ep)]
        chunks[ctx.rank] = rows[:len(chunks[ctx.rank])]
        received = ctx.comm.alltoallv(chunks)
        y, at = a["y"], 0
        for block in received:
            y[at:at + len(block)] = block
            at += len(block)


@mutant("empty_block_takes_a_row", "a destination that gets no rows of an expert still moves the "
        "start of the later destinations' rows in that expert's group by one row")
class EmptyBlockTakesARow(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        _unpermute_with(a, rows, out, list(a["send_counts"]),
                        lambda c, s, j: sum(max(c[t * e + j], 1) for t in range(s)))
