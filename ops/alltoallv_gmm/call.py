"""One rank's arguments to both stages of aclnnAlltoAllvGroupedMatMul, and the quantities the
clauses read off them (spec.call: what every operator's Call is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ops.alltoallv_gmm.params import PARAM
from spec.call import (
    MIB,
    MOE_ATTRIBUTE_QUANTITIES,
    MoeCall,
    Stage2,
    Undefined,
    dim,
    read_dim,
    weight_dim,
)


@dataclass(frozen=True)
class Call(MoeCall):
    trans_mm_weight: bool
    permute_out_flag: bool
    null_pointers: frozenset[str] = frozenset()  # first-stage outputs passed as null
    stage2: Stage2 = field(default_factory=Stage2)
    entry: str = "v1"  # "v2": aclnnAlltoAllvGroupedMatMulV2, which takes commMode
    comm_mode: str | None = None  # V2's commMode (None: a null pointer)


def _e(c: Call) -> int:
    return c.tensor("gmmWeight", 3).shape[0]


def _k(c: Call) -> int:
    bs = QUANTITIES["BS"](c)
    if bs <= 0:
        raise Undefined("BS is 0")
    return sum(c.counts("send")) // bs


def _bsk_multiple(c: Call) -> bool:
    if not c.has("mmX"):
        raise Undefined("no shared expert")
    bs = QUANTITIES["BS"](c)
    if bs <= 0:
        raise Undefined("BS is 0")
    return sum(c.counts("send")) % bs == 0


def _expert_chunk(e: int, ep: int, bsk: int, n1: int) -> int:
    """Experts merged into one GMM group (ops-transformer 90a96c4b6, CalcExpertNum)."""
    if e <= 4:
        return 1
    if e <= 16:
        return 4
    if (bsk // ep) * n1 < 20 * MIB:
        return max(1, min(e, 128 // ep, e // 2))
    return 4


def _group_num(c: Call) -> int:
    """GMM groups of the first stage's tiling; 0 when the rank receives nothing (no GMM)."""
    if not any(c.counts("recv")):
        return 0
    ep = c.ep_world_size
    return _expert_chunk(_e(c), ep, sum(c.counts("send")), QUANTITIES["N1"](c)) * ep


def _peer_blocks(c: Call, which: str) -> list[int]:
    counts = c.counts(which)
    e = _e(c)
    if len(counts) != e * c.ep_world_size:
        raise Undefined("counts length differs from e * epWorldSize")
    return [sum(counts[p * e:(p + 1) * e]) for p in range(c.ep_world_size)]


def _volume_h1(c: Call) -> int:
    return c.tensor("gmmX", 2).shape[1]


def _card_bytes(c: Call) -> list[int]:
    # The shipped formula counts 2 bytes a row element (fp16/bf16), whatever dtype is passed.
    h1 = _volume_h1(c)
    return [sum(c.counts("send")) * h1 * 2, sum(c.counts("recv")) * h1 * 2]


def _peer_bytes_min(c: Call) -> int:
    h1 = _volume_h1(c)
    return min(min(_peer_blocks(c, "send")), min(_peer_blocks(c, "recv"))) * h1 * 2


QUANTITIES: dict[str, Callable[[Call], object]] = {
    **MOE_ATTRIBUTE_QUANTITIES,
    "BSK": lambda c: sum(c.counts("send")),
    "A": lambda c: sum(c.counts("recv")),
    "rows.gmmX": dim("gmmX", 2, 0),
    "rows.gmmY": dim("gmmY", 2, 0),
    "rows.permuteOut": dim("permuteOut", 2, 0),
    "rows.mmY": dim("mmY", 2, 0),
    "H1": dim("gmmX", 2, 1),
    "H1.gmmWeight": weight_dim("gmmWeight", 3, 1, 2, "trans_gmm_weight"),
    "H1.permuteOut": dim("permuteOut", 2, 1),
    "N1": weight_dim("gmmWeight", 3, 2, 1, "trans_gmm_weight"),
    "N1.gmmY": dim("gmmY", 2, 1),
    "gmmWeight.dim1": lambda c: c.tensor("gmmWeight", 3).shape[1],
    **{f"{t}.dim{i}": read_dim(t, i) for t in ("gmmY", "mmY", "permuteOut") for i in (0, 1)},
    "e": _e,
    "e*ep": lambda c: _e(c) * c.ep_world_size,
    "BS": dim("mmX", 2, 0),
    "H2": dim("mmX", 2, 1),
    "H2.mmWeight": weight_dim("mmWeight", 2, 0, 1, "trans_mm_weight"),
    "N2": weight_dim("mmWeight", 2, 1, 0, "trans_mm_weight"),
    "N2.mmY": dim("mmY", 2, 1),
    "K": _k,
    "bsk_multiple_of_bs": _bsk_multiple,
    "groupNum": _group_num,
    "has.mmX": lambda c: c.has("mmX"),
    "has.mmWeight": lambda c: c.has("mmWeight"),
    "has.mm": lambda c: c.has("mmX") and c.has("mmWeight"),
    "has.mm_any": lambda c: c.has("mmX") or c.has("mmWeight"),
    "has.mmY": lambda c: c.has("mmY"),
    "has.permuteOut": lambda c: c.has("permuteOut"),
    "flag.permuteOut": lambda c: c.permute_out_flag,
    "flag.transMm": lambda c: c.trans_mm_weight,
    "card_bytes.min": lambda c: min(_card_bytes(c)),
    "card_bytes.max": lambda c: max(_card_bytes(c)),
    "peer_bytes.min": _peer_bytes_min,
}


Call.OPERATOR = "alltoallv_gmm"
Call.PARAMS = PARAM
Call.QUANTITIES = QUANTITIES
