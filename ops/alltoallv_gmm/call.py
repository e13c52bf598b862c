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
    MOE_TENSOR_QUANTITIES,
    MoeCall,
    Stage2,
    Undefined,
    card_bytes,
    dim,
    experts,
    peer_bytes_min,
    read_dim,
)


@dataclass(frozen=True)
class Call(MoeCall):
    trans_mm_weight: bool
    permute_out_flag: bool
    null_pointers: frozenset[str] = frozenset()  # first-stage outputs passed as null
    stage2: Stage2 = field(default_factory=Stage2)
    entry: str = "v1"  # "v2": aclnnAlltoAllvGroupedMatMulV2, which takes commMode
    comm_mode: str | None = None  # V2's commMode (None: a null pointer)


def _k(c: Call) -> int:
    bs = QUANTITIES["BS"](c)
    if bs <= 0:
        raise Undefined("BS is 0")
    return c.count_sum("send") // bs


def _bsk_multiple(c: Call) -> bool:
    if not c.has("mmX"):
        raise Undefined("no shared expert")
    bs = QUANTITIES["BS"](c)
    if bs <= 0:
        raise Undefined("BS is 0")
    return c.count_sum("send") % bs == 0


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
    return _expert_chunk(experts(c), ep, c.count_sum("send"), QUANTITIES["N1"](c)) * ep


def _row_bytes(c: Call) -> int:
    """Bytes of one moved row: the shipped formula counts 2 bytes a row element (fp16/bf16) of
    gmmX's H1, whatever dtype is passed."""
    return c.tensor("gmmX", 2).shape[1] * 2


QUANTITIES: dict[str, Callable[[Call], object]] = {
    **MOE_ATTRIBUTE_QUANTITIES,
    **MOE_TENSOR_QUANTITIES,
    "BSK": lambda c: c.count_sum("send"),
    "A": lambda c: c.count_sum("recv"),
    "rows.gmmY": dim("gmmY", 2, 0),
    "rows.permuteOut": dim("permuteOut", 2, 0),
    "H1.permuteOut": dim("permuteOut", 2, 1),
    "N1.gmmY": dim("gmmY", 2, 1),
    "gmmWeight.dim1": lambda c: c.tensor("gmmWeight", 3).shape[1],
    **{f"{t}.dim{i}": read_dim(t, i) for t in ("gmmY", "mmY", "permuteOut") for i in (0, 1)},
    "K": _k,
    "bsk_multiple_of_bs": _bsk_multiple,
    "groupNum": _group_num,
    "has.permuteOut": lambda c: c.has("permuteOut"),
    "flag.permuteOut": lambda c: c.permute_out_flag,
    "card_bytes.min": lambda c: min(card_bytes(c, _row_bytes(c))),
    "card_bytes.max": lambda c: max(card_bytes(c, _row_bytes(c))),
    "peer_bytes.min": lambda c: peer_bytes_min(c, _row_bytes(c)),
}


Call.OPERATOR = "alltoallv_gmm"
Call.PARAMS = PARAM
Call.QUANTITIES = QUANTITIES
