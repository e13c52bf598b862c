"""`sim`: an independent, imperative emulation of aclnnGroupedMatMulAlltoAllv on numpy.

Its checks are written out by hand, in the order contracts/gmm_alltoallv.md section 5 gives for
the shipped code (op_api, nnopbase, tiling), from that file and not generated from the clauses:
the suite and the simulator are two readings of the contract, so a mistake in one shows up as a
disagreement with the other. `behavior=` names the contract version it honours (`BEHAVIORS`,
one row of data each, keyed by profile name); a new version is a new row, never a new branch.

The second stage computes every local expert's rows (GroupedMatMul) into a workspace buffer,
reorders them destination-rank-major (Unpermute) into a second one, and sends each destination
its rows through `ctx.comm.alltoallv`, whose arrivals, in rank order, are y. The class is built
from small overridable steps so that faulty variants (tests) can be derived.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import ml_dtypes
import numpy as np

from fixtures.protocol import ALL_CAPABILITIES, ENTRY_V2, NotApplicable, RankContext, tensor_format

SUCCESS = 0
NULLPTR = 161001
INVALID = 161002
TILING = 561002
MIB = 1 << 20
LIBRARY_WORKSPACE = 16 * 1024  # the bytes the sim's "library" reserves ahead of its buffers
_V1 = object()  # get_workspace_size without comm_mode: the call is V1's

_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def f32(a: np.ndarray) -> np.ndarray:
    """`a` in float32, exactly (bfloat16 through its bits)."""
    if a.dtype == _FLOATS[1]:
        return np.left_shift(a.view(np.uint16), 16, dtype=np.uint32).view(np.float32)
    return a.astype(np.float32)


@dataclass(frozen=True)
class Behavior:
    """One contract version as the sim reads it: codes, limits, and which checks exist."""

    tiling: int  # what every tiling check returns
    count_tensors: int  # a non-null sendCountsTensor / recvCountsTensor
    group_empty: int
    mm_triple: int  # mmX, mmWeight and mmY partly null
    counts_null: int  # sendCounts or recvCounts null
    comm_mode_null: int
    trans_mm_alone: bool  # transMmWeight without a shared expert is rejected
    bsk_multiple: bool  # with a shared expert, BSK % BS == 0
    e_max: int
    e_ep_max: int
    ep_sizes: dict[str, tuple[int, ...]]
    comm_modes: dict[str, tuple[str, ...]]  # V2's engines per product
    volume: str | None = None  # Atlas A3: "peer" (2 MiB every peer, both ways), "card", None


_DOC = Behavior(
    tiling=INVALID, count_tensors=INVALID, group_empty=INVALID, mm_triple=NULLPTR,
    counts_null=NULLPTR, comm_mode_null=NULLPTR, trans_mm_alone=False, bsk_multiple=False,
    e_max=32, e_ep_max=256, ep_sizes={"A3": (8, 16, 32, 64, 128), "910_95": (2, 4, 8, 16, 32, 64)},
    comm_modes={"A3": ("ai_cpu",), "910_95": ("ai_cpu", "ccu")})
BEHAVIORS: dict[str, Behavior] = {
    # the published text (ffed75a38): where it admits two outcomes, the first reading
    "doc": _DOC,
    "doc-2026.07": _DOC,
    # the code at 3a280bcc (contracts/gmm_alltoallv.md section 5)
    "cann-2026.07": replace(
        _DOC, tiling=TILING, count_tensors=NULLPTR, group_empty=NULLPTR, counts_null=INVALID,
        comm_mode_null=INVALID, trans_mm_alone=True, bsk_multiple=True),
}


@dataclass
class SimExecutor:
    args: dict
    workspace_size: int
    write_mm_y: bool
    used: bool = False
    notes: list[str] = field(default_factory=list)


def _dim(t: np.ndarray, i: int) -> int:
    return int(t.shape[i]) if t.ndim > i else -1


class SimBackend:
    operator = "gmm_alltoallv"  # what it implements (a variant derived from it too)
    two_stage = True
    capabilities = ALL_CAPABILITIES | {ENTRY_V2}
    world = "turns"  # its ranks only compute and talk through the communicator

    def __init__(self, behavior: str = "doc") -> None:
        if behavior not in BEHAVIORS:
            raise ValueError(f"sim: unknown behavior {behavior!r}; accepted: {', '.join(BEHAVIORS)}")
        self.behavior = behavior
        self.table = BEHAVIORS[behavior]

    # -- first stage --------------------------------------------------------------------
    def get_workspace_size(self, ctx: RankContext, *, null_outputs: frozenset = frozenset(),
                           comm_mode: object = _V1, **a) -> tuple[int, int, object]:
        if comm_mode is not _V1 and self.table.comm_modes is None:
            raise NotApplicable(f"sim behaviour {self.behavior} has no V2 entry point")
        status = self.check(ctx, a, null_outputs, comm_mode)
        if status != SUCCESS:
            return status, 0, None
        size = self.workspace_size(int(a["gmm_x"].shape[0]), self.n1(a), a["gmm_x"].dtype.itemsize)
        mm = a["mm_x"] is not None and a["mm_weight"] is not None
        return SUCCESS, size, SimExecutor(args=a, workspace_size=size, write_mm_y=mm)

    @staticmethod
    def n1(a: dict) -> int:
        w = a["gmm_weight"]
        return int(w.shape[1] if a["trans_gmm_weight"] else w.shape[2])

    @staticmethod
    def workspace_size(rows: int, n1: int, itemsize: int) -> int:
        """Library workspace + the grouped product (A, N1) + its unpermuted copy (A, N1)."""
        return LIBRARY_WORKSPACE + 2 * rows * n1 * itemsize

    def check(self, ctx: RankContext, a: dict, null_outputs: frozenset, comm_mode: object) -> int:
        b = self.table
        gx, gw, y = a["gmm_x"], a["gmm_weight"], a["y"]
        mx, mw, my = a["mm_x"], a["mm_weight"], a["mm_y"]
        group, sc, rc = a["group"], a["send_counts"], a["recv_counts"]

        # op_api, step 1: required pointers, the count tensors, the group, the mm triple.
        if null_outputs or gx is None or gw is None or y is None:
            return NULLPTR
        if a["send_counts_tensor"] is not None or a["recv_counts_tensor"] is not None:
            return b.count_tensors
        if group is None:
            return NULLPTR
        if group == "":
            return b.group_empty
        present = [t is not None for t in (mx, mw, my)]
        if any(present) and not all(present):
            return b.mm_triple
        # step 2: the group's length; step 3: the counts arrays.
        if len(group) >= 128:
            return INVALID
        if sc is None or rc is None:
            return b.counts_null
        if len(sc) == 0 or len(rc) == 0:
            return INVALID
        # step 4 (V2): commMode.
        if comm_mode is not _V1:
            if comm_mode is None:
                return b.comm_mode_null
            if comm_mode not in b.comm_modes[ctx.product]:
                return INVALID
        # step 5, nnopbase: one float dtype for every tensor, ND.
        shared = mx is not None
        tensors = [gx, gw, y] + ([mx, mw, my] if shared else [])
        if any(t.dtype not in _FLOATS or t.dtype != gx.dtype or tensor_format(t) != "ND"
               for t in tensors):
            return INVALID
        # step 6, tiling.
        return self.tiling(ctx, a)

    def tiling(self, ctx: RankContext, a: dict) -> int:
        b, late = self.table, self.table.tiling
        gx, gw, y = a["gmm_x"], a["gmm_weight"], a["y"]
        mx, mw, my = a["mm_x"], a["mm_weight"], a["mm_y"]
        sc, rc, ep = a["send_counts"], a["recv_counts"], a["ep_world_size"]
        shared = mx is not None
        if gx.ndim != 2 or gw.ndim != 3 or y.ndim != 2:
            return late
        if shared and (mx.ndim != 2 or mw.ndim != 2 or my.ndim != 2 or my.shape[0] != mx.shape[0]):
            return late
        if a["trans_mm_weight"] and not shared and b.trans_mm_alone:
            return late
        trans = a["trans_gmm_weight"]
        h1, e = gx.shape[1], gw.shape[0]
        if (gw.shape[2] if trans else gw.shape[1]) != h1 or self.n1(a) != y.shape[1]:
            return late
        if shared:
            tm = a["trans_mm_weight"]
            if (mw.shape[1] if tm else mw.shape[0]) != mx.shape[1]:
                return late
            if (mw.shape[0] if tm else mw.shape[1]) != my.shape[1]:
                return late
        if ep not in b.ep_sizes[ctx.product]:
            return late
        if not 0 < e <= b.e_max or not 0 < e * ep <= b.e_ep_max:
            return late
        if len(sc) != e * ep or len(rc) != e * ep:
            return late
        a_rows, bsk = sum(sc), sum(rc)
        if a_rows != gx.shape[0] or bsk != y.shape[0]:
            return late
        if any(not 0 <= v <= a_rows for v in sc) or any(not 0 <= v <= bsk for v in rc):
            return late
        if not (0 < h1 < 65536 and 0 < bsk < 52428800 and 0 < self.n1(a) < 65536):
            return late
        if shared:
            bs, h2, n2 = mx.shape[0], mx.shape[1], my.shape[1]
            if bs <= 0 or (b.bsk_multiple and bsk % bs):
                return late
            if not (2 <= bsk // bs <= 8 and 0 < h2 <= 12288 and 0 < n2 < 65536):
                return late
        if ctx.product == "A3" and b.volume is not None:
            return self.check_volume(sc, rc, e, ep, self.n1(a))
        return SUCCESS

    def check_volume(self, sc, rc, e: int, ep: int, n1: int) -> int:
        """Atlas A3's volume rule of a version that has one, on y's rows (N1 wide)."""
        row = n1 * 2
        if self.table.volume == "card":
            ok = min(sum(sc), sum(rc)) * row >= 2 * MIB
        else:
            ok = all(sum(c[p * e:(p + 1) * e]) * row >= 2 * MIB for c in (sc, rc)
                     for p in range(ep))
        return SUCCESS if ok else self.table.tiling

    # -- second stage -------------------------------------------------------------------
    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        if executor is None:
            return NULLPTR
        if workspace_size > 0 and workspace is None:
            return NULLPTR
        if workspace_size < executor.workspace_size:
            return INVALID
        ex: SimExecutor = executor
        a = ex.args
        if ex.write_mm_y:
            self.shared_expert(a)
        gmm_y = self.buffer(a, workspace, 0)
        self.grouped_matmul(a, gmm_y)
        unpermuted = self.buffer(a, workspace, 1)
        self.unpermute(a, gmm_y, unpermuted)
        self.send_back(ctx, a, unpermuted)
        ex.used = True
        return SUCCESS

    def shared_expert(self, a: dict) -> None:
        w = f32(a["mm_weight"])
        w = w.T if a["trans_mm_weight"] else w
        a["mm_y"][...] = (f32(a["mm_x"]) @ w).astype(a["mm_y"].dtype)

    def buffer(self, a: dict, workspace: np.ndarray, index: int) -> np.ndarray:
        """Workspace buffer `index` (0: the grouped product, 1: it unpermuted), (A, N1)."""
        rows, n1, dt = a["gmm_x"].shape[0], self.n1(a), a["gmm_x"].dtype
        size = rows * n1 * dt.itemsize
        start = LIBRARY_WORKSPACE + index * size
        return workspace[start:start + size].view(dt).reshape(rows, n1)

    @staticmethod
    def expert_rows(a: dict) -> list[tuple[int, int]]:
        """Rows of each local expert in gmmX: expert-major, so expert j's rows are the counts
        sendCounts[s*e + j] of every destination s, one after the other."""
        e, ep, sc = a["gmm_weight"].shape[0], a["ep_world_size"], a["send_counts"]
        bounds, at = [], 0
        for j in range(e):
            n = sum(sc[s * e + j] for s in range(ep))
            bounds.append((at, at + n))
            at += n
        return bounds

    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = f32(a["gmm_weight"][j])
            w = w.T if a["trans_gmm_weight"] else w
            out[lo:hi] = (f32(a["gmm_x"][lo:hi]) @ w).astype(out.dtype)

    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        """Destination-rank-major, local-expert-minor: for s, for j, the rows of expert j that
        go back to rank s (within expert j, the destinations follow one another in rank order)."""
        e, ep, sc = a["gmm_weight"].shape[0], a["ep_world_size"], a["send_counts"]
        starts = [lo for lo, _ in self.expert_rows(a)]
        at = 0
        for s in range(ep):
            for j in range(e):
                n = sc[s * e + j]
                src = starts[j] + sum(sc[t * e + j] for t in range(s))
                out[at:at + n] = rows[src:src + n]
                at += n

    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        """AlltoAllv: destination s gets its block; what arrives, source by source, is y."""
        e, sc = a["gmm_weight"].shape[0], a["send_counts"]
        bounds = np.cumsum([0] + [sum(sc[s * e:(s + 1) * e]) for s in range(ctx.world_size)])
        chunks = [rows[bounds[s]:bounds[s + 1]] for s in range(ctx.world_size)]
        received = ctx.comm.alltoallv(chunks)
        y, at = a["y"], 0
        for block in received:
            y[at:at + len(block)] = block
            at += len(block)


def factory(**options) -> SimBackend:
    return SimBackend(**options)
