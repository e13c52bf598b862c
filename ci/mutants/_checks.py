"""The sim's first-stage checks restated with every limit, code and check named, so that a
validation mutant is one changed number or one left-out check.

`CheckedSim()` with nothing changed behaves exactly like `fixtures.sim.SimBackend` (the suite's
own tests compare the two on both sides of every clause): the catalog's validation faults then
differ from the reference by the one change each states, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fixtures.protocol import RankContext, tensor_format
from fixtures.sim import _FLOATS, INVALID, NULLPTR, SUCCESS, TILING, SimBackend

CHECKS = (  # every check that can be left out, by name
    "null.required", "count_tensors", "group.null", "group.empty", "mm.pair", "mm.mmY",
    "mm.mmY_unexpected", "permuteOut.required", "permuteOut.unexpected", "counts.null",
    "counts.empty", "group.len", "dtype.supported", "dtype.match", "rank", "shape.H1",
    "shape.N1", "shape.mm", "shape.N2", "range.mm", "shape.permuteOut", "range.H1N1e",
    "range.e_ep", "epWorldSize", "counts.len", "counts.send_sum", "counts.recv_sum", "range.BSK",
    "counts.nonneg", "range.K", "transMm", "volume",
)


class CheckedSim(SimBackend):
    """The sim with its checks restated: limits are the lowest and highest valid values."""

    H1 = (1, 65535)
    N1 = (1, 65535)
    H2 = (1, 12288)
    N2 = (1, 65535)
    E = (1, 32)
    E_EP = (1, 256)
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
        return INVALID if self.behavior == "doc" else TILING

    @staticmethod
    def within(value: int, bounds: tuple[int, int]) -> bool:
        return bounds[0] <= value <= bounds[1]

    def check(self, ctx: RankContext, a: dict, null_outputs: frozenset) -> int:
        status = self.check_api(a, null_outputs)
        return status if status != SUCCESS else self.check_tiling(ctx, a)

    def check_api(self, a: dict, null_outputs: frozenset) -> int:
        """op_api's null and pair checks, then nnopbase's dtypes and formats."""
        doc = self.behavior == "doc"
        gx, gw, gy = a["gmm_x"], a["gmm_weight"], a["gmm_y"]
        mx, mw, my, po = a["mm_x"], a["mm_weight"], a["mm_y"], a["permute_out"]
        group, sc, rc, flag = a["group"], a["send_counts"], a["recv_counts"], a["permute_out_flag"]
        if self.on("null.required") and (null_outputs or gx is None or gw is None or gy is None):
            return self.code("null.required", NULLPTR)
        if self.on("count_tensors") and (a["send_counts_tensor"] is not None
                                         or a["recv_counts_tensor"] is not None):
            return self.code("count_tensors", INVALID if doc else NULLPTR)
        if self.on("group.null") and group is None:
            return self.code("group.null", NULLPTR)
        if self.on("group.empty") and group == "":
            return self.code("group.empty", INVALID if doc else NULLPTR)
        if self.on("mm.pair") and (mx is None) != (mw is None):
            return self.code("mm.pair", NULLPTR)
        if self.on("mm.mmY") and mx is not None and my is None:
            return self.code("mm.mmY", NULLPTR)
        if self.on("mm.mmY_unexpected") and mx is None and my is not None and not doc:
            return self.code("mm.mmY_unexpected", NULLPTR)
        if self.on("permuteOut.required") and flag and po is None:
            return self.code("permuteOut.required", NULLPTR)
        if self.on("permuteOut.unexpected") and not flag and po is not None and not doc:
            return self.code("permuteOut.unexpected", NULLPTR)
        if self.on("counts.null") and (sc is None or rc is None):
            return self.code("counts.null", NULLPTR if doc else INVALID)
        if self.on("counts.empty") and (len(sc) == 0 or len(rc) == 0):
            return self.code("counts.empty", INVALID)
        if self.on("group.len") and group is not None and len(group) > self.GROUP_LEN_MAX:
            return self.code("group.len", INVALID)
        used = [gx, gw, gy] + ([mx, mw, my] if mx is not None else []) + ([po] if flag else [])
        if self.on("dtype.supported") and any(t.dtype not in _FLOATS or tensor_format(t) != "ND"
                                               for t in used):
            return self.code("dtype.supported", INVALID)
        if self.on("dtype.match") and any(t.dtype != gx.dtype for t in used):
            return self.code("dtype.match", INVALID)
        return SUCCESS

    def check_tiling(self, ctx: RankContext, a: dict) -> int:
        """The tiling checks, in the order the shipped code runs them."""
        doc, late = self.behavior == "doc", self.tiling_error()
        gx, gw, gy = a["gmm_x"], a["gmm_weight"], a["gmm_y"]
        mx, mw, my, po = a["mm_x"], a["mm_weight"], a["mm_y"], a["permute_out"]
        sc, rc, flag = a["send_counts"], a["recv_counts"], a["permute_out_flag"]
        used = [gx, gw, gy] + ([mx, mw, my] if mx is not None else []) + ([po] if flag else [])
        if self.on("rank") and (gx.ndim != 2 or gw.ndim != 3 or gy.ndim != 2
                                or any(t.ndim != 2 for t in used[3:])):
            return self.code("rank", late)
        e, h1 = gw.shape[0], gx.shape[1]
        trans = a["trans_gmm_weight"]
        n1 = gw.shape[1] if trans else gw.shape[2]
        if self.on("shape.H1") and (gw.shape[2] if trans else gw.shape[1]) != h1:
            return self.code("shape.H1", late)
        if self.on("shape.N1") and doc and gy.shape[1] != n1:
            return self.code("shape.N1", INVALID)
        if mx is not None:
            tm = a["trans_mm_weight"]
            h2, n2 = mx.shape[1], (mw.shape[0] if tm else mw.shape[1])
            if self.on("shape.mm") and ((mw.shape[1] if tm else mw.shape[0]) != h2
                                        or my.shape[0] != mx.shape[0]):
                return self.code("shape.mm", late)
            if self.on("shape.N2") and doc and my.shape[1] != n2:
                return self.code("shape.N2", INVALID)
            if self.on("range.mm") and not (self.within(h2, self.H2) and self.within(n2, self.N2)):
                return self.code("range.mm", late)
        if self.on("shape.permuteOut") and flag and (po.shape[0] != gy.shape[0]
                                                      or po.shape[1] != h1):
            return self.code("shape.permuteOut", late)
        if self.on("range.H1N1e") and not (self.within(h1, self.H1) and self.within(n1, self.N1)
                                           and self.within(e, self.E)):
            return self.code("range.H1N1e", late)
        ep = a["ep_world_size"]
        if self.on("range.e_ep") and not self.within(e * ep, self.E_EP):
            return self.code("range.e_ep", late)
        if self.on("epWorldSize") and ep not in self.ep_sizes(ctx.product):
            return self.code("epWorldSize", late)
        if self.on("counts.len") and (len(sc) != e * ep or len(rc) != e * ep):
            return self.code("counts.len", late)
        bsk, rows = sum(sc), sum(rc)
        if self.on("counts.send_sum") and bsk != gx.shape[0]:
            return self.code("counts.send_sum", late)
        if self.on("counts.recv_sum") and rows != gy.shape[0]:
            return self.code("counts.recv_sum", late)
        if self.on("range.BSK") and not self.within(bsk, self.BSK):
            return self.code("range.BSK", late)
        if self.on("counts.nonneg") and (doc or ctx.product == "A3") and (
                min(sc) < 0 or min(rc) < 0):  # shipped: part of Atlas A3's volume check
            return self.code("counts.nonneg", late)
        if self.on("range.K") and mx is not None and not (
                mx.shape[0] > 0 and self.within(bsk // mx.shape[0], self.K)):
            return self.code("range.K", late)
        if self.on("transMm") and a["trans_mm_weight"] and mx is None and mw is None and not doc:
            return self.code("transMm", late)
        if self.on("volume") and ctx.product == "A3":
            return self.check_volume(sc, rc, e, ep, h1)
        return SUCCESS
