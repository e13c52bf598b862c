"""A case: one whole EP world as plain data, serialisable to JSON and back.

The world's send matrix `send[s][r*e + j]` (rows rank s sends to local expert j of rank r) is the
single source of every rank's sendCounts, recvCounts, BSK and A (OPERATOR.md section 1). An invalid
case is a consistent world plus `faults`: deviations applied to every rank's arguments, each a
small named operation, so the JSON says exactly what was passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ops.alltoallv_gmm.call import Call
from ops.moe.case import DEFAULT_GROUP, MoeCase, applicable, natural_present, parse_run, parse_world
from spec.call import TensorDesc, evolve
from spec.case import CaseFormatError, Fault, Shared, apply_common, parse_faults, parse_shared

SCHEMA = "alltoallv-gmm-case/1"
__all__ = ["SCHEMA", "Case", "CaseFormatError", "Fault", "Shared"]



@dataclass(frozen=True)
class Case(MoeCase):
    OPERATOR: ClassVar[str] = "alltoallv_gmm"
    SCHEMA: ClassVar[str] = SCHEMA
    __hash__ = MoeCase.__hash__  # kept by the dataclass: computed once
    MATRIX: ClassVar[str] = "send"
    # Fields a V1 case leaves out of its JSON, so V1 cases (and their ids) read as before V2 existed.
    V1_OMITS: ClassVar[dict[str, object]] = {"entry": "v1", "comm_mode": None}

    product: str
    ep: int
    e: int
    h1: int
    n1: int
    send: tuple[tuple[int, ...], ...]
    dtype: str = "float16"
    shared: Shared | None = None
    trans_gmm_weight: bool = False
    trans_mm_weight: bool = False
    permute_out_flag: bool = True
    seed: int = 0
    clause: str = ""
    side: str = "valid"
    stage: str = "both"
    faults: tuple[Fault, ...] = field(default=())
    entry: str = "v1"  # "v2": the call goes to aclnnAlltoAllvGroupedMatMulV2
    comm_mode: str | None = None  # V2's commMode (None: a null pointer)

    # -- the world's counts -------------------------------------------------------------
    def send_counts(self, rank: int) -> tuple[int, ...]:
        return self.send[rank]

    def recv_counts(self, rank: int) -> tuple[int, ...]:
        return self.columns[rank]

    def bsk(self, rank: int) -> int:
        return sum(self.send[rank])

    def a(self, rank: int) -> int:
        return sum(self.columns[rank])

    # -- the arguments ------------------------------------------------------------------
    def natural_tensors(self, rank: int) -> dict[str, TensorDesc | None]:
        d, h1, n1 = self.dtype, self.h1, self.n1
        t: dict[str, TensorDesc | None] = {
            "gmmX": TensorDesc((self.bsk(rank), h1), d),
            "gmmWeight": self.gmm_weight_desc(),
            "sendCountsTensor": None,
            "recvCountsTensor": None,
            "mmX": None,
            "mmWeight": None,
            "gmmY": TensorDesc((self.a(rank), n1), d),
            "mmY": None,
            "permuteOut": TensorDesc((self.a(rank), h1), d) if self.permute_out_flag else None,
        }
        t.update(self.shared_tensors(rank))
        return t

    def call(self, rank: int, group: str = DEFAULT_GROUP) -> Call:
        call = Call(
            product=self.product,
            world_size=self.ep,
            rank=rank,
            tensors=self.natural_tensors(rank),
            group=group,
            ep_world_size=self.ep,
            send_counts=self.send_counts(rank),
            recv_counts=self.recv_counts(rank),
            trans_gmm_weight=self.trans_gmm_weight,
            trans_mm_weight=self.trans_mm_weight,
            permute_out_flag=self.permute_out_flag,
            entry=self.entry,
            comm_mode=self.comm_mode,
        )
        for fault in self.faults:
            call = apply_fault(self, call, fault)
        return call

    # -- identity and JSON --------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Case:
        return _parse(data)

    def flag_bits(self) -> list[str]:
        return ["permuteOut" if self.permute_out_flag else "no permuteOut"]



# -- faults -----------------------------------------------------------------------------------


def apply_fault(case: Case, call: Call, fault: Fault) -> Call:
    """`fault` on `call`: a tensor `present` where the call leaves it null is this operator's own
    (its natural shape); every other op is the parameter table's (spec.case.apply_common)."""
    if fault.op == "present":
        natural = {**natural_present(call, fault, case.dtype),
                   "permuteOut": TensorDesc((case.a(call.rank), case.h1), case.dtype)}
        if fault.param in natural:
            return evolve(call, tensors={**call.tensors, fault.param: natural[fault.param]})
    return apply_common(call, fault, case.e)


# -- parsing with one clear error per malformed field -----------------------------------------


def _parse(data: Any) -> Case:
    ep, e, send, dtype = parse_world(data, Case, ("trans_gmm_weight", "trans_mm_weight",
                                                  "permute_out_flag"))
    side, stage, entry, comm_mode = parse_run(data)
    shared = parse_shared(data, ep)
    parsed_faults = parse_faults(data)
    return applicable(Case(
        product=data["product"], ep=ep, e=e, h1=data["h1"], n1=data["n1"],
        send=send, dtype=dtype, shared=shared,
        trans_gmm_weight=data.get("trans_gmm_weight", False),
        trans_mm_weight=data.get("trans_mm_weight", False),
        permute_out_flag=data.get("permute_out_flag", True), seed=data.get("seed", 0),
        clause=data.get("clause", ""), side=side, stage=stage, faults=parsed_faults,
        entry=entry, comm_mode=comm_mode,
    ))
