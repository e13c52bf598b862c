"""One rank's arguments to both stages of aclnnGroupedMatMulAlltoAllv, and the quantities the
clauses read off them (spec.call: what every operator's Call is).

The names of the quantities follow the contract's letters for this direction: A is what this
rank's experts processed (gmmX's rows, the sum of sendCounts), BSK what comes back to it (y's
rows, the sum of recvCounts), K = BSK // BS with a shared expert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ops.gmm_alltoallv.params import PARAM
from spec.call import (
    MOE_ATTRIBUTE_QUANTITIES,
    MoeCall,
    Stage2,
    Undefined,
    dim,
    weight_dim,
)


@dataclass(frozen=True)
class Call(MoeCall):
    trans_mm_weight: bool
    null_pointers: frozenset[str] = frozenset()  # first-stage outputs passed as null
    stage2: Stage2 = field(default_factory=Stage2)
    entry: str = "v1"  # "v2": aclnnGroupedMatMulAlltoAllvV2, which takes commMode
    comm_mode: str | None = None  # V2's commMode (None: a null pointer)


def _e(c: Call) -> int:
    return c.tensor("gmmWeight", 3).shape[0]


def _bs(c: Call) -> int:
    if not c.has("mmX"):
        raise Undefined("no shared expert")
    bs = QUANTITIES["BS"](c)
    if bs <= 0:
        raise Undefined("BS is 0")
    return bs


def _peer_blocks(c: Call, which: str) -> list[int]:
    counts = c.counts(which)
    e = _e(c)
    if len(counts) != e * c.ep_world_size:
        raise Undefined("counts length differs from e * epWorldSize")
    return [sum(counts[p * e:(p + 1) * e]) for p in range(c.ep_world_size)]


def _row_bytes(c: Call) -> int:
    """Bytes of one moved row: the AlltoAllv moves rows of gmmY, N1 wide, two bytes an element
    (the width the volume note speaks of is not stated; the rows on the wire are these)."""
    return QUANTITIES["N1"](c) * 2


def _card_bytes(c: Call) -> list[int]:
    return [sum(c.counts("send")) * _row_bytes(c), sum(c.counts("recv")) * _row_bytes(c)]


def _peer_bytes_min(c: Call) -> int:
    return min(min(_peer_blocks(c, "send")), min(_peer_blocks(c, "recv"))) * _row_bytes(c)


QUANTITIES: dict[str, Callable[[Call], object]] = {
    **MOE_ATTRIBUTE_QUANTITIES,
    "A": lambda c: sum(c.counts("send")),
    "BSK": lambda c: sum(c.counts("recv")),
    "rows.gmmX": dim("gmmX", 2, 0),
    "rows.y": dim("y", 2, 0),
    "rows.mmY": dim("mmY", 2, 0),
    "H1": dim("gmmX", 2, 1),
    "H1.gmmWeight": weight_dim("gmmWeight", 3, 1, 2, "trans_gmm_weight"),
    "N1": weight_dim("gmmWeight", 3, 2, 1, "trans_gmm_weight"),
    "N1.y": dim("y", 2, 1),
    "e": _e,
    "e*ep": lambda c: _e(c) * c.ep_world_size,
    "BS": dim("mmX", 2, 0),
    "H2": dim("mmX", 2, 1),
    "H2.mmWeight": weight_dim("mmWeight", 2, 0, 1, "trans_mm_weight"),
    "N2": weight_dim("mmWeight", 2, 1, 0, "trans_mm_weight"),
    "N2.mmY": dim("mmY", 2, 1),
    "K": lambda c: sum(c.counts("recv")) // _bs(c),
    "bsk_multiple_of_bs": lambda c: sum(c.counts("recv")) % _bs(c) == 0,
    "has.mmX": lambda c: c.has("mmX"),
    "has.mmWeight": lambda c: c.has("mmWeight"),
    "has.mm": lambda c: c.has("mmX") and c.has("mmWeight"),
    "has.mm_any": lambda c: c.has("mmX") or c.has("mmWeight"),
    "has.mmY": lambda c: c.has("mmY"),
    "flag.transMm": lambda c: c.trans_mm_weight,
    "card_bytes.min": lambda c: min(_card_bytes(c)),
    "peer_bytes.min": _peer_bytes_min,
}


Call.OPERATOR = "gmm_alltoallv"
Call.PARAMS = PARAM
Call.QUANTITIES = QUANTITIES
