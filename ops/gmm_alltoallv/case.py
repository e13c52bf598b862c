"""A case of aclnnGroupedMatMulAlltoAllv: one whole EP world as plain data, JSON and back.

The world is the dispatch direction's routing matrix `dispatch[s][r*e + j]`: the rows rank s's
tokens send to local expert j of rank r, which the combine sends back. It is the single source
of every rank's counts (contracts/gmm_alltoallv.md sections 2 and 7):

    sendCounts of rank r [s*e + j] = dispatch[s][r*e + j]   (A of rank r: a column block's sum)
    recvCounts of rank r [r'*e + j] = dispatch[r][r'*e + j]  (BSK of rank r: its row's sum)

so the combine of a world is exactly the inverse routing of the dispatch of the same matrix, with
the two count lists swapped. An invalid case is a consistent world plus `faults` (spec.case),
applied to every rank's arguments, so the JSON says exactly what was passed.

`weights` says what the experts compute: "random" weights (content-addressed, judged by the
accuracy standard) or "identity", each expert j of every rank the identity scaled by a power of
two (2^(j mod 4 - 1); H1 == N1): y is then the routed gmmX rows, exactly, which the oracle
checks bit for bit (the routing back, CALC.unpermute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ops.gmm_alltoallv.call import Call
from ops.moe.case import DEFAULT_GROUP, MoeCase, applicable, natural_present, parse_run, parse_world
from spec.call import TensorDesc, evolve
from spec.case import (
    CaseFormatError,
    Fault,
    Shared,
    apply_common,
    need,
    parse_faults,
    parse_shared,
)

SCHEMA = "gmm-alltoallv-case/1"
WEIGHTS = ("random", "identity")
MATRIX = "dispatch"  # the routing matrix's field (spec.case.pack_compact)

__all__ = ["SCHEMA", "Case", "CaseFormatError", "Fault", "Shared"]


@dataclass(frozen=True)
class Case(MoeCase):
    OPERATOR: ClassVar[str] = "gmm_alltoallv"
    SCHEMA: ClassVar[str] = SCHEMA
    __hash__ = MoeCase.__hash__  # kept by the dataclass: computed once
    COMPACT_MATRIX: ClassVar[str] = MATRIX
    MATRIX: ClassVar[str] = MATRIX

    product: str
    ep: int
    e: int
    h1: int
    n1: int
    dispatch: tuple[tuple[int, ...], ...]
    dtype: str = "float16"
    shared: Shared | None = None
    trans_gmm_weight: bool = False
    trans_mm_weight: bool = False
    weights: str = "random"
    seed: int = 0
    clause: str = ""
    side: str = "valid"
    stage: str = "both"
    faults: tuple[Fault, ...] = field(default=())
    entry: str = "v1"  # "v2": the call goes to aclnnGroupedMatMulAlltoAllvV2
    comm_mode: str | None = None  # V2's commMode (None: a null pointer)

    # -- the world's counts -------------------------------------------------------------
    def send_counts(self, rank: int) -> tuple[int, ...]:
        return self.columns[rank]

    def recv_counts(self, rank: int) -> tuple[int, ...]:
        return self.dispatch[rank]

    def a(self, rank: int) -> int:
        """Rows rank `rank`'s experts process: gmmX's rows."""
        return sum(self.columns[rank])

    def bsk(self, rank: int) -> int:
        """Rows that come back to rank `rank`: y's rows."""
        return sum(self.dispatch[rank])

    # -- the arguments ------------------------------------------------------------------
    def natural_tensors(self, rank: int) -> dict[str, TensorDesc | None]:
        d, h1, n1 = self.dtype, self.h1, self.n1
        t: dict[str, TensorDesc | None] = {
            "gmmX": TensorDesc((self.a(rank), h1), d),
            "gmmWeight": self.gmm_weight_desc(),
            "sendCountsTensor": None,
            "recvCountsTensor": None,
            "mmX": None,
            "mmWeight": None,
            "y": TensorDesc((self.bsk(rank), n1), d),
            "mmY": None,
        }
        t.update(self.shared_tensors(rank))
        return t

    def call(self, rank: int, group: str = DEFAULT_GROUP) -> Call:
        call = Call(
            product=self.product, world_size=self.ep, rank=rank,
            tensors=self.natural_tensors(rank), group=group, ep_world_size=self.ep,
            send_counts=self.send_counts(rank), recv_counts=self.recv_counts(rank),
            trans_gmm_weight=self.trans_gmm_weight, trans_mm_weight=self.trans_mm_weight,
            entry=self.entry, comm_mode=self.comm_mode,
        )
        for fault in self.faults:
            call = apply_fault(self, call, fault)
        return call

    # -- identity and JSON --------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Case:
        return _parse(data)

    def lead_bits(self) -> list[str]:
        return [f"{self.weights} weights"] if self.weights != "random" else []



def apply_fault(case: Case, call: Call, fault: Fault) -> Call:
    """`fault` on `call`: a count tensor or an mmY `present` where the call leaves it null takes
    its natural shape (the counts the call passes; mmY of the arg's shape); every other op is
    the parameter table's (spec.case.apply_common)."""
    if fault.op == "present":
        natural = natural_present(call, fault, case.dtype)
        if fault.param not in natural:
            raise CaseFormatError(f"faults: cannot make {fault.param} present")
        return evolve(call, tensors={**call.tensors, fault.param: natural[fault.param]})
    return apply_common(call, fault, case.e)


def _parse(data: Any) -> Case:
    ep, e, matrix, dtype = parse_world(data, Case, ("trans_gmm_weight", "trans_mm_weight"))
    weights = data.get("weights", "random")
    need(weights in WEIGHTS, "weights", f"one of {WEIGHTS}", weights)
    need(weights != "identity" or data["h1"] == data["n1"], "weights",
         "identity weights only where H1 == N1", weights)
    side, stage, entry, comm_mode = parse_run(data)
    return applicable(Case(
        product=data["product"], ep=ep, e=e, h1=data["h1"], n1=data["n1"], dispatch=matrix,
        dtype=dtype, shared=parse_shared(data, ep),
        trans_gmm_weight=data.get("trans_gmm_weight", False),
        trans_mm_weight=data.get("trans_mm_weight", False), weights=weights,
        seed=data.get("seed", 0), clause=data.get("clause", ""), side=side, stage=stage,
        faults=parse_faults(data), entry=entry, comm_mode=comm_mode,
    ))
