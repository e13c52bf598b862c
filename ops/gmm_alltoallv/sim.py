"""`sim`: an independent, imperative emulation of aclnnGroupedMatMulAlltoAllv on numpy.

Its checks are written out by hand, in the order contracts/gmm_alltoallv.md section 5 gives for
the shipped code (op_api, nnopbase, tiling), from that file and not generated from the clauses:
the suite and the simulator are two readings of the contract, so a mistake in one shows up as a
disagreement with the other. The checks are a table (`FIRST_STAGE`, `SECOND_STAGE`, run by
fixtures/checks.py): a row names a check and says whether a call breaks it; what each returns,
the limits it holds and whether a version has it at all are data. `behavior=` names the contract
version it honours (`BEHAVIORS`, one row of data each, keyed by profile name); a new version is a
new row, never a new branch.

The second stage computes every local expert's rows (GroupedMatMul) into a workspace buffer,
reorders them destination-rank-major (Unpermute) into a second one, and sends each destination
its rows through `ctx.comm.alltoallv`, whose arrivals, in rank order, are y. The class is built
from small overridable steps. The mutant catalog (ops/gmm_alltoallv/mutants) derives its faults
from both: an entry of the row changed (a code, a limit, a check left out), or a step replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import pairwise
from typing import Any

import ml_dtypes
import numpy as np

from fixtures.checks import SECOND_STAGE, SUCCESS, Check, CheckedSim, Row, within
from fixtures.protocol import ALL_CAPABILITIES, ENTRY_V2, NotApplicable, RankContext, tensor_format
from spec.call import count_blocks
from spec.data import float32_of as f32  # exact; the mutants widen with it too
from spec.data import product_f32

NULLPTR = 161001
INVALID = 161002
TILING = 561002
MIB = 1 << 20
LIBRARY_WORKSPACE = 16 * 1024  # the bytes the sim's "library" reserves ahead of its buffers
_V1 = object()  # get_workspace_size without comm_mode: the call is V1's

_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


@dataclass
class SimExecutor:
    args: dict
    workspace_size: int
    write_mm_y: bool
    used: bool = False
    notes: list[str] = field(default_factory=list)


def _dim(t: np.ndarray, i: int) -> int:
    return int(t.shape[i]) if t.ndim > i else -1


# -- the checks, in the shipped order (contracts/gmm_alltoallv.md section 5) --------------------


class Args:
    """One rank's first-stage call as the checks read it; the sizes the tiling derives (e, H1,
    N1, ...) are read only by checks after the ones that make them readable (ranks, shapes)."""

    def __init__(self, product: str, a: Mapping[str, Any], null_outputs: frozenset,
                 comm_mode: object) -> None:
        self.product, self.a, self.null_outputs, self.mode = product, a, null_outputs, comm_mode
        self.gx, self.gw, self.y = a["gmm_x"], a["gmm_weight"], a["y"]
        self.mx, self.mw, self.my = a["mm_x"], a["mm_weight"], a["mm_y"]
        self.group, self.sc, self.rc = a["group"], a["send_counts"], a["recv_counts"]
        self.ep = a["ep_world_size"]

    @property
    def shared(self) -> bool:
        return self.mx is not None

    @property
    def tensors(self) -> list[np.ndarray]:
        """Every float tensor the operator uses."""
        return [self.gx, self.gw, self.y] + ([self.mx, self.mw, self.my] if self.shared else [])

    @property
    def trans(self) -> bool:
        return bool(self.a["trans_gmm_weight"])

    @property
    def trans_mm(self) -> bool:
        return bool(self.a["trans_mm_weight"])

    @property
    def e(self) -> int:
        return int(self.gw.shape[0])

    @property
    def h1(self) -> int:
        return int(self.gx.shape[1])

    @property
    def n1(self) -> int:
        return int(self.gw.shape[1] if self.trans else self.gw.shape[2])

    @cached_property
    def bsk(self) -> int:
        return sum(self.rc)

    @cached_property
    def sent(self) -> int:
        return sum(self.sc)

    @property
    def bs(self) -> int:
        return int(self.mx.shape[0])

    def mw_dim(self, logical: int) -> int:
        """mmWeight's size along its logical (H2, N2) axis 0 or 1, transposed or not."""
        return int(self.mw.shape[1 - logical if self.trans_mm else logical])


def _volume(c: Args, b: Behavior, per_peer: bool) -> bool:
    """Atlas A3's volume on y's rows (N1 wide, two bytes an element) outside its limits: the
    card's least direction, or any peer's share in either."""
    row = c.n1 * 2
    if not per_peer:
        return not within(min(c.sent, c.bsk) * row, b.limits["volume.card"])
    return any(not within(sum(counts[p * c.e:(p + 1) * c.e]) * row, b.limits["volume.peer"])
               for counts in (c.sc, c.rc) for p in range(c.ep))


API_CHECKS: tuple[Check, ...] = (
    # op_api, step 1: required pointers, the count tensors, the group, the mm triple.
    Check("null.required", lambda c, b: bool(c.null_outputs)
          or c.gx is None or c.gw is None or c.y is None),
    Check("count_tensors", lambda c, b: c.a["send_counts_tensor"] is not None
          or c.a["recv_counts_tensor"] is not None),
    Check("group.null", lambda c, b: c.group is None),
    Check("group.empty", lambda c, b: c.group == ""),
    Check("mm.triple", lambda c, b: len({t is None for t in (c.mx, c.mw, c.my)}) > 1),
    # step 2: the group's length; step 3: the counts arrays.
    Check("group.len", lambda c, b: not within(len(c.group), b.limits["group_len"])),
    Check("counts.null", lambda c, b: c.sc is None or c.rc is None),
    Check("counts.empty", lambda c, b: len(c.sc) == 0 or len(c.rc) == 0),
    # step 4 (V2): commMode.
    Check("comm_mode.null", lambda c, b: c.mode is None),
    Check("comm_mode.engine", lambda c, b: c.mode is not _V1
          and c.mode not in b.comm_modes[c.product]),
    # step 5, nnopbase: one float dtype for every tensor, ND.
    Check("dtype.supported", lambda c, b: any(t.dtype not in _FLOATS for t in c.tensors)),
    Check("dtype.match", lambda c, b: any(t.dtype != c.gx.dtype for t in c.tensors)),
    Check("format", lambda c, b: any(tensor_format(t) != "ND" for t in c.tensors)),
)
def _outside(counts, hi: int) -> bool:
    """Whether some count lies outside [0, hi]."""
    return bool(counts) and (min(counts) < 0 or max(counts) > hi)


TILING_CHECKS: tuple[Check, ...] = (
    # step 6, tiling, in its order.
    Check("rank", lambda c, b: c.gx.ndim != 2 or c.gw.ndim != 3 or c.y.ndim != 2),
    Check("rank.mm", lambda c, b: c.shared and (c.mx.ndim != 2 or c.mw.ndim != 2
                                                 or c.my.ndim != 2)),
    Check("shape.mmY.BS", lambda c, b: c.shared and c.my.shape[0] != c.mx.shape[0]),
    Check("transMm", lambda c, b: c.trans_mm and not c.shared),
    Check("shape.H1", lambda c, b: (c.gw.shape[2] if c.trans else c.gw.shape[1]) != c.h1),
    Check("shape.N1", lambda c, b: c.n1 != c.y.shape[1]),
    Check("shape.H2", lambda c, b: c.shared and c.mw_dim(0) != c.mx.shape[1]),
    Check("shape.N2", lambda c, b: c.shared and c.mw_dim(1) != c.my.shape[1]),
    Check("epWorldSize", lambda c, b: c.ep not in b.ep_sizes[c.product]),
    Check("range.e", lambda c, b: not within(c.e, b.limits["e"])),
    Check("range.e_ep", lambda c, b: not within(c.e * c.ep, b.limits["e_ep"])),
    Check("counts.send_len", lambda c, b: len(c.sc) != c.e * c.ep),
    Check("counts.recv_len", lambda c, b: len(c.rc) != c.e * c.ep),
    Check("counts.send_sum", lambda c, b: c.sent != c.gx.shape[0]),
    Check("counts.recv_sum", lambda c, b: c.bsk != c.y.shape[0]),
    Check("counts.send_range", lambda c, b: _outside(c.sc, c.sent)),
    Check("counts.recv_range", lambda c, b: _outside(c.rc, c.bsk)),
    Check("range.H1", lambda c, b: not within(c.h1, b.limits["H1"])),
    Check("range.BSK", lambda c, b: not within(c.bsk, b.limits["BSK"])),
    Check("range.N1", lambda c, b: not within(c.n1, b.limits["N1"])),
    Check("range.BS", lambda c, b: c.shared and not within(c.bs, b.limits["BS"])),
    Check("counts.bsk_multiple", lambda c, b: c.shared and c.bsk % c.bs != 0),
    Check("range.K", lambda c, b: c.shared and not within(c.bsk // c.bs, b.limits["K"])),
    Check("range.H2", lambda c, b: c.shared and not within(c.mx.shape[1], b.limits["H2"])),
    Check("range.N2", lambda c, b: c.shared and not within(c.my.shape[1], b.limits["N2"])),
    # Atlas A3's volume, in a version that has it as a rule (none of those recorded).
    Check("volume.card", lambda c, b: c.product == "A3" and _volume(c, b, per_peer=False)),
    Check("volume.peer", lambda c, b: c.product == "A3" and _volume(c, b, per_peer=True)),
)
FIRST_STAGE = API_CHECKS + TILING_CHECKS


CHECKS = tuple(c.name for c in FIRST_STAGE + SECOND_STAGE)


# -- the contract versions --------------------------------------------------------------------


@dataclass(frozen=True)
class Behavior(Row):
    """One contract version as the sim reads it: the status each check returns, the limits the
    checks hold, the checks it does not have, and what it accepts per product."""

    ep_sizes: Mapping[str, tuple[int, ...]]
    comm_modes: Mapping[str, tuple[str, ...]]  # V2's engines per product


_VOLUME = frozenset({"volume.card", "volume.peer"})
_DOC = Behavior(
    codes={**dict.fromkeys(CHECKS, INVALID), **dict.fromkeys((
        "null.required", "group.null", "mm.triple", "counts.null", "comm_mode.null",
        "executor.null", "workspace.null"), NULLPTR)},
    limits={"group_len": (1, 127), "e": (1, 32), "e_ep": (1, 256), "H1": (1, 65535),
            "BSK": (1, 52428799), "N1": (1, 65535), "BS": (1, None), "K": (2, 8),
            "H2": (1, 12288), "N2": (1, 65535), "volume.card": (2 * MIB, None),
            "volume.peer": (2 * MIB, None)},
    # transMmWeight alone and a BSK with a remainder are the shipped code's checks only.
    absent=frozenset({"transMm", "counts.bsk_multiple"}) | _VOLUME,
    ep_sizes={"A3": (8, 16, 32, 64, 128), "910_95": (2, 4, 8, 16, 32, 64)},
    comm_modes={"A3": ("ai_cpu",), "910_95": ("ai_cpu", "ccu")})
BEHAVIORS: dict[str, Behavior] = {
    # the published text (ffed75a38): where it admits two outcomes, the first reading
    "doc": _DOC,
    "doc-2026.07": _DOC,
    # the code at 3a280bcc (contracts/gmm_alltoallv.md section 5)
    "cann-2026.07": replace(
        _DOC, codes={**_DOC.codes, **dict.fromkeys((c.name for c in TILING_CHECKS), TILING),
                     "count_tensors": NULLPTR, "group.empty": NULLPTR, "counts.null": INVALID,
                     "comm_mode.null": INVALID},
        absent=_VOLUME),
}


class SimBackend(CheckedSim):
    operator = "gmm_alltoallv"  # what it implements (a variant derived from it too)
    two_stage = True
    capabilities = ALL_CAPABILITIES | {ENTRY_V2}
    world = "turns"  # its ranks only compute and talk through the communicator
    # What an implementation changes in its version's row (fixtures.checks.CheckedSim: `codes`,
    # `limits`, `omitted`; `row` for the rest): a validation mutant of the catalog.

    def __init__(self, behavior: str = "doc") -> None:
        if behavior not in BEHAVIORS:
            raise ValueError(f"sim: unknown behavior {behavior!r}; accepted: {', '.join(BEHAVIORS)}")
        self.behavior = behavior
        self.table = self.row(BEHAVIORS[behavior])

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
        """The first stage's checks in the shipped order: the first one broken decides."""
        return self.first_broken(FIRST_STAGE, Args(ctx.product, a, null_outputs, comm_mode))

    # -- second stage -------------------------------------------------------------------
    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        status = self.check_stage2(workspace, workspace_size, executor)
        if status != SUCCESS:
            return status
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
        a["mm_y"][...] = product_f32(a["mm_x"], w).astype(a["mm_y"].dtype)

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
        e, ep = a["gmm_weight"].shape[0], a["ep_world_size"]
        bounds = [0, *np.cumsum(count_blocks(a["send_counts"], ep, e).sum(axis=0)).tolist()]
        return list(pairwise(bounds))

    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = f32(a["gmm_weight"][j])
            w = w.T if a["trans_gmm_weight"] else w
            out[lo:hi] = product_f32(a["gmm_x"][lo:hi], w).astype(out.dtype)

    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        """Destination-rank-major, local-expert-minor: for s, for j, the rows of expert j that
        go back to rank s (within expert j, the destinations follow one another in rank order)."""
        e, ep = a["gmm_weight"].shape[0], a["ep_world_size"]
        counts = count_blocks(a["send_counts"], ep, e)  # [s, j]: rows of expert j for rank s
        first = np.array([lo for lo, _ in self.expert_rows(a)], np.int64)  # expert j's rows
        source = first + np.cumsum(counts, axis=0) - counts  # where block (s, j) starts in rows
        sizes = counts.reshape(-1)  # the blocks in out's order: s-major, j-minor
        to = np.cumsum(sizes) - sizes
        n = int(sizes.sum())
        out[:n] = rows[np.repeat(source.reshape(-1) - to, sizes) + np.arange(n)]

    def send_back(self, ctx: RankContext, a: dict, rows: np.ndarray) -> None:
        """AlltoAllv: destination s gets its block; what arrives, source by source, is y."""
        e, sc = a["gmm_weight"].shape[0], a["send_counts"]
        bounds = [0, *np.cumsum(count_blocks(sc, ctx.world_size, e).sum(axis=1)).tolist()]
        chunks = [rows[bounds[s]:bounds[s + 1]] for s in range(ctx.world_size)]
        received = ctx.comm.alltoallv(chunks)
        y, at = a["y"], 0
        for block in received:
            y[at:at + len(block)] = block
            at += len(block)


def factory(**options) -> SimBackend:
    return SimBackend(**options)
