"""The sim's first-stage checks restated with every limit, code and check named, so that a
validation mutant is one changed number or one left-out check.

`CheckedSim()` with nothing changed behaves exactly like `ops.alltoallv_gmm.sim.SimBackend` (the suite's
own tests compare the two on both sides of every clause): the catalog's validation faults then
differ from the reference by the one change each states, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fixtures.protocol import RankContext, tensor_format
from ops.alltoallv_gmm.sim import _FLOATS, _V1, INVALID, NULLPTR, SUCCESS, SimBackend, _dim, expert_chunk

CHECKS = (  # every check that can be left out, by name
    "null.required", "count_tensors", "group.null", "group.empty", "mm.pair", "mm.mmY",
    "mm.mmY_unexpected", "permuteOut.required", "permuteOut.unexpected", "counts.null",
    "counts.empty", "group.len", "comm_mode", "dtype.supported", "dtype.match", "rank", "shape.H1",
    "shape.N1", "shape.mm", "shape.N2", "range.mm", "shape.permuteOut", "range.H1N1e",
    "range.e_ep", "epWorldSize", "counts.len", "counts.send_sum", "counts.recv_sum", "range.BSK",
    "counts.nonneg", "counts.bsk_multiple", "range.K", "transMm", "group_num", "volume",
)


class CheckedSim(SimBackend):
    """The sim with its checks restated: limits are the lowest and highest valid values (None:
    the behaviour's own, from the sim's table)."""

    H1 = (1, 65535)
    N1 = (1, 65535)
    H2 = (1, 12288)
    N2 = (1, 65535)
    E: tuple[int, int] | None = None
    E_EP: tuple[int, int] | None = None
    BSK = (1, 52428799)
    K = (2, 8)
    GROUP_LEN_MAX = 127
    omitted: frozenset[str] = frozenset()  # checks left out
    codes: Mapping[str, int] = MappingProxyType({})  # checks returning another status than the sim's

    def on(self, name: str) -> bool:
        assert name in CHECKS, name
        return name not in self.omitted

    def code(self, name: str, status: int) -> int:
        """The status check `name` returns: the sim's, unless this class says otherwise."""
        return self.codes.get(name, status)

    def tiling_error(self) -> int:
        """What a tiling check returns: 161002 in the published text, 561002 as shipped."""
        return self.table.tiling

    def e_bounds(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return self.E or (1, self.table.e_max), self.E_EP or (1, self.table.e_ep_max)

    @staticmethod
    def within(value: int, bounds: tuple[int, int]) -> bool:
        return bounds[0] <= value <= bounds[1]

    def check(self, ctx: RankContext, a: dict, null_outputs: frozenset) -> int:
        status = self.check_api(a, null_outputs, ctx.product)
        return status if status != SUCCESS else self.check_tiling(ctx, a)

    def check_api(self, a: dict, null_outputs: frozenset, product: str) -> int:
        """op_api's null and pair checks, V2's commMode, then nnopbase's dtypes and formats."""
        b = self.table
        gx, gw, gy = a["gmm_x"], a["gmm_weight"], a["gmm_y"]
        mx, mw, my, po = a["mm_x"], a["mm_weight"], a["mm_y"], a["permute_out"]
        group, sc, rc, flag = a["group"], a["send_counts"], a["recv_counts"], a["permute_out_flag"]
        if self.on("null.required") and (null_outputs or gx is None or gw is None or gy is None):
            return self.code("null.required", NULLPTR)
        if self.on("count_tensors") and (a["send_counts_tensor"] is not None
                                         or a["recv_counts_tensor"] is not None):
            return self.code("count_tensors", b.count_tensors)
        if self.on("group.null") and group is None:
            return self.code("group.null", NULLPTR)
        if self.on("group.empty") and group == "":
            return self.code("group.empty", b.group_empty)
        if self.on("mm.pair") and (mx is None) != (mw is None):
            return self.code("mm.pair", NULLPTR)
        if self.on("mm.mmY") and mx is not None and my is None:
            return self.code("mm.mmY", NULLPTR)
        if self.on("mm.mmY_unexpected") and mx is None and my is not None and b.unrequested_outputs:
            return self.code("mm.mmY_unexpected", NULLPTR)
        if self.on("permuteOut.required") and flag and po is None:
            return self.code("permuteOut.required", NULLPTR)
        if self.on("permuteOut.unexpected") and not flag and po is not None and b.unrequested_outputs:
            return self.code("permuteOut.unexpected", NULLPTR)
        if self.on("counts.null") and (sc is None or rc is None):
            return self.code("counts.null", b.counts_null)
        if self.on("counts.empty") and (len(sc) == 0 or len(rc) == 0):
            return self.code("counts.empty", INVALID)
        if self.on("group.len") and group is not None and len(group) > self.GROUP_LEN_MAX:
            return self.code("group.len", INVALID)
        mode = a.get("comm_mode", _V1)
        if self.on("comm_mode") and mode is not _V1 and (
                mode is None or mode not in b.comm_modes[product]):
            return self.code("comm_mode", b.comm_mode_null if mode is None else INVALID)
        used = [gx, gw, gy] + ([mx, mw, my] if mx is not None else []) + ([po] if flag else [])
        if self.on("dtype.supported") and any(t.dtype not in _FLOATS or tensor_format(t) != "ND"
                                               for t in used):
            return self.code("dtype.supported", INVALID)
        if self.on("dtype.match") and any(t.dtype != gx.dtype for t in used):
            return self.code("dtype.match", INVALID)
        return SUCCESS

    def check_tiling(self, ctx: RankContext, a: dict) -> int:
        """The tiling checks, in the order the shipped code runs them."""
        b, late = self.table, self.tiling_error()
        gx, gw, gy = a["gmm_x"], a["gmm_weight"], a["gmm_y"]
        mx, mw, my, po = a["mm_x"], a["mm_weight"], a["mm_y"], a["permute_out"]
        sc, rc, flag = a["send_counts"], a["recv_counts"], a["permute_out_flag"]
        outputs = [gy] + ([my] if mx is not None else []) + ([po] if flag else [])
        inputs = [gx] + ([mx, mw] if mx is not None else [])
        if self.on("rank") and (any(t.ndim != 2 for t in inputs) or gw.ndim != 3 or (
                b.output_ranks and any(t.ndim != 2 for t in outputs))):
            return self.code("rank", late)
        e, h1 = gw.shape[0], gx.shape[1]
        trans = a["trans_gmm_weight"]
        n1 = gw.shape[1] if trans else gw.shape[2]
        if self.on("shape.H1") and (gw.shape[2] if trans else gw.shape[1]) != h1:
            return self.code("shape.H1", late)
        if self.on("shape.N1") and b.output_n and _dim(gy, 1) != n1:
            return self.code("shape.N1", late)
        if mx is not None:
            tm = a["trans_mm_weight"]
            h2, n2 = mx.shape[1], (mw.shape[0] if tm else mw.shape[1])
            if self.on("shape.mm") and ((mw.shape[1] if tm else mw.shape[0]) != h2
                                        or _dim(my, 0) != mx.shape[0]):
                return self.code("shape.mm", late)
            if self.on("shape.N2") and b.output_n and _dim(my, 1) != n2:
                return self.code("shape.N2", late)
            if self.on("range.mm") and not (self.within(h2, self.H2) and self.within(n2, self.N2)):
                return self.code("range.mm", late)
        if self.on("shape.permuteOut") and flag and (_dim(po, 0) != _dim(gy, 0)
                                                      or _dim(po, 1) != h1):
            return self.code("shape.permuteOut", late)
        e_bounds, e_ep_bounds = self.e_bounds()
        n1_range = gw.shape[1] if b.n1_range_dim1 else n1
        if self.on("range.H1N1e") and not (self.within(h1, self.H1)
                                           and self.within(n1_range, self.N1)
                                           and self.within(e, e_bounds)):
            return self.code("range.H1N1e", late)
        ep = a["ep_world_size"]
        if self.on("range.e_ep") and not self.within(e * ep, e_ep_bounds):
            return self.code("range.e_ep", late)
        if self.on("epWorldSize") and ep not in self.ep_sizes(ctx.product):
            return self.code("epWorldSize", late)
        if self.on("counts.len") and (len(sc) != e * ep or len(rc) != e * ep):
            return self.code("counts.len", late)
        bsk, rows = sum(sc), sum(rc)
        if self.on("counts.send_sum") and bsk != gx.shape[0]:
            return self.code("counts.send_sum", late)
        if self.on("counts.recv_sum") and rows != _dim(gy, 0):
            return self.code("counts.recv_sum", late)
        if self.on("range.BSK") and not self.within(bsk, self.BSK):
            return self.code("range.BSK", late)
        if self.on("counts.nonneg") and ((ctx.product in b.nonneg_send and min(sc) < 0)
                                         or (ctx.product in b.nonneg_recv and min(rc) < 0)):
            return self.code("counts.nonneg", late)
        if self.on("counts.bsk_multiple") and mx is not None and b.bsk_multiple and (
                mx.shape[0] <= 0 or bsk % mx.shape[0]):
            return self.code("counts.bsk_multiple", late)
        if self.on("range.K") and mx is not None and not (
                mx.shape[0] > 0 and self.within(bsk // mx.shape[0], self.K)):
            return self.code("range.K", late)
        if self.on("transMm") and a["trans_mm_weight"] and mx is None and mw is None \
                and b.trans_mm_alone:
            return self.code("transMm", late)
        if self.on("group_num") and b.group_cap is not None and any(rc) and (
                expert_chunk(e, ep, bsk, n1) * ep > b.group_cap):
            return self.code("group_num", late)
        if self.on("volume") and ctx.product == "A3":
            return self.check_volume(sc, rc, e, ep, h1)
        return SUCCESS
