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
    MOE_TENSOR_QUANTITIES,
    MoeCall,
    Stage2,
    Undefined,
    card_bytes,
    dim,
    peer_bytes_min,
)


@dataclass(frozen=True)
class Call(MoeCall):
    trans_mm_weight: bool
    null_pointers: frozenset[str] = frozenset()  # first-stage outputs passed as null
    stage2: Stage2 = field(default_factory=Stage2)
    entry: str = "v1"  # "v2": aclnnGroupedMatMulAlltoAllvV2, which takes commMode
    comm_mode: str | None = None  # V2's commMode (None: a null pointer)


def _bs(c: Call) -> int:
    if not c.has("mmX"):
        raise Undefined("no shared expert")
    bs = QUANTITIES["BS"](c)
    if bs <= 0:
        raise Undefined("BS is 0")
    return bs


def _bsk_by_bs(c: Call) -> tuple[int, int]:
    """(K, BSK % BS). BS is read before the counts: where no rank has a shared expert, one
    reading of the ranks' shared view (spec.views) answers for all of them."""
    bs = _bs(c)
    return divmod(c.count_sum("recv"), bs)


def _row_bytes(c: Call) -> int:
    """Bytes of one moved row: the AlltoAllv moves rows of gmmY, N1 wide, two bytes an element
    (the width the volume note speaks of is not stated; the rows on the wire are these)."""
    return QUANTITIES["N1"](c) * 2


QUANTITIES: dict[str, Callable[[Call], object]] = {
    **MOE_ATTRIBUTE_QUANTITIES,
    **MOE_TENSOR_QUANTITIES,
    "A": lambda c: c.count_sum("send"),
    "BSK": lambda c: c.count_sum("recv"),
    "rows.y": dim("y", 2, 0),
    "N1.y": dim("y", 2, 1),
    "K": lambda c: _bsk_by_bs(c)[0],
    "bsk_multiple_of_bs": lambda c: _bsk_by_bs(c)[1] == 0,
    "card_bytes.min": lambda c: min(card_bytes(c, _row_bytes(c))),
    "peer_bytes.min": lambda c: peer_bytes_min(c, _row_bytes(c)),
}


Call.OPERATOR = "gmm_alltoallv"
Call.PARAMS = PARAM
Call.QUANTITIES = QUANTITIES
