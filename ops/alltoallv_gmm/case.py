"""A case: one whole EP world as plain data, serialisable to JSON and back.

The world's send matrix `send[s][r*e + j]` (rows rank s sends to local expert j of rank r) is the
single source of every rank's sendCounts, recvCounts, BSK and A (OPERATOR.md section 1). An invalid
case is a consistent world plus `faults`: deviations applied to every rank's arguments, each a
small named operation, so the JSON says exactly what was passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, ClassVar

from ops.alltoallv_gmm.call import Call
from spec.call import TensorDesc
from spec.case import (
    CaseFormatError,
    Fault,
    JsonCase,
    Shared,
    apply_common,
    faults_list,
    is_int,
    need,
    parse_faults,
    parse_matrix,
    parse_shared,
    shared_dict,
)

SCHEMA = "alltoallv-gmm-case/1"
DEFAULT_GROUP = "ep_group"  # stands for the world's communicator name in rule evaluation
PRODUCTS = ("A3", "910_95")
DTYPES = ("float16", "bfloat16", "float32", "int8", "int32", "int64")
SIDES = ("valid", "invalid")
ENTRIES = ("v1", "v2")
# Fields a V1 case leaves out of its JSON, so V1 cases (and their ids) read as before V2 existed.
V2_FIELDS = {"entry": "v1", "comm_mode": None}
STAGES = ("both", "first")



@dataclass(frozen=True)
class Case(JsonCase):
    OPERATOR: ClassVar[str] = "alltoallv_gmm"
    SCHEMA: ClassVar[str] = SCHEMA

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

    @cached_property
    def _recv(self) -> tuple[tuple[int, ...], ...]:
        """Every rank's recvCounts, read off the send matrix once (a world of ep 64 asks often)."""
        e = self.e
        return tuple(tuple(self.send[s][r * e + j] for s in range(self.ep) for j in range(e))
                     for r in range(self.ep))

    def recv_counts(self, rank: int) -> tuple[int, ...]:
        return self._recv[rank]

    def bsk(self, rank: int) -> int:
        return sum(self.send[rank])

    def a(self, rank: int) -> int:
        return sum(self._recv[rank])

    # -- the arguments ------------------------------------------------------------------
    def natural_tensors(self, rank: int) -> dict[str, TensorDesc | None]:
        d, e, h1, n1 = self.dtype, self.e, self.h1, self.n1
        t: dict[str, TensorDesc | None] = {
            "gmmX": TensorDesc((self.bsk(rank), h1), d),
            "gmmWeight": TensorDesc((e, n1, h1) if self.trans_gmm_weight else (e, h1, n1), d),
            "sendCountsTensor": None,
            "recvCountsTensor": None,
            "mmX": None,
            "mmWeight": None,
            "gmmY": TensorDesc((self.a(rank), n1), d),
            "mmY": None,
            "permuteOut": TensorDesc((self.a(rank), h1), d) if self.permute_out_flag else None,
        }
        if self.shared is not None:
            bs, h2, n2 = self.shared.bs[rank], self.shared.h2, self.shared.n2
            t["mmX"] = TensorDesc((bs, h2), d)
            t["mmWeight"] = TensorDesc((n2, h2) if self.trans_mm_weight else (h2, n2), d)
            t["mmY"] = TensorDesc((bs, n2), d)
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

    def calls(self, group: str = DEFAULT_GROUP) -> list[Call]:
        return [self.call(r, group) for r in range(self.ep)]

    # -- identity and JSON --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in V2_FIELDS and v == V2_FIELDS[f.name] and self.entry == "v1":
                continue
            if f.name == "send":
                v = [list(row) for row in v]
            elif f.name == "shared":
                v = shared_dict(v)
            elif f.name == "faults":
                v = faults_list(v)
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, data: Any) -> Case:
        return _parse(data)

    def label(self) -> str:
        bits = [f"{self.product} ep={self.ep} e={self.e} {self.dtype} H1={self.h1} N1={self.n1}"]
        if self.shared:
            bits.append(f"shared H2={self.shared.h2} N2={self.shared.n2}")
        if self.trans_gmm_weight:
            bits.append("transGmmWeight")
        if self.trans_mm_weight:
            bits.append("transMmWeight")
        bits.append("permuteOut" if self.permute_out_flag else "no permuteOut")
        if self.entry == "v2":
            bits.append(f"V2 commMode={self.comm_mode!r}")
        bits += [f"{f.op}({f.param}{'' if f.arg is None else ', ' + repr(f.arg)})"
                 for f in self.faults]
        return ", ".join(bits)


# -- faults -----------------------------------------------------------------------------------


def apply_fault(case: Case, call: Call, fault: Fault) -> Call:
    """`fault` on `call`: a tensor `present` where the call leaves it null is this operator's own
    (its natural shape); every other op is the parameter table's (spec.case.apply_common)."""
    if fault.op == "present":
        natural = {
            "sendCountsTensor": TensorDesc((len(call.send_counts or ()),), "int64"),
            "recvCountsTensor": TensorDesc((len(call.recv_counts or ()),), "int64"),
            "permuteOut": TensorDesc((case.a(call.rank), case.h1), case.dtype),
            "mmY": TensorDesc(tuple(fault.arg or (1, 1)), case.dtype),
        }
        if fault.param in natural:
            return replace(call, tensors={**call.tensors, fault.param: natural[fault.param]})
    return apply_common(call, fault, case.e)


# -- parsing with one clear error per malformed field -----------------------------------------


def _parse(data: Any) -> Case:
    need(isinstance(data, dict), "(top level)", "a JSON object", type(data).__name__)
    if data.get("schema") != SCHEMA:
        raise CaseFormatError(f"case field 'schema': expected {SCHEMA!r}, got {data.get('schema')!r}")
    known = {f.name for f in fields(Case)} | {"schema"}
    extra = sorted(set(data) - known)
    if extra:
        raise CaseFormatError(f"case field '{extra[0]}' is unknown; accepted: {sorted(known)}")
    for name in ("product", "ep", "e", "h1", "n1", "send"):
        need(name in data, name, "a value (the field is required)", None)
    need(data["product"] in PRODUCTS, "product", f"one of {PRODUCTS}", data["product"])
    for name in ("ep", "e", "h1", "n1", "seed"):
        if name in data:
            need(is_int(data[name]) and data[name] >= 0, name, "a non-negative integer", data[name])
    ep, e = data["ep"], data["e"]
    need(ep >= 1, "ep", "a world size of at least 1", ep)
    send = parse_matrix(data, "send", ep, e)
    dtype = data.get("dtype", "float16")
    need(dtype in DTYPES, "dtype", f"one of {DTYPES}", dtype)
    for name in ("trans_gmm_weight", "trans_mm_weight", "permute_out_flag"):
        if name in data:
            need(isinstance(data[name], bool), name, "true or false", data[name])
    side, stage = data.get("side", "valid"), data.get("stage", "both")
    need(side in SIDES, "side", f"one of {SIDES}", side)
    need(stage in STAGES, "stage", f"one of {STAGES}", stage)
    need(isinstance(data.get("clause", ""), str), "clause", "a clause id string", data.get("clause"))
    entry, comm_mode = data.get("entry", "v1"), data.get("comm_mode")
    need(entry in ENTRIES, "entry", f"one of {ENTRIES}", entry)
    need(comm_mode is None or (entry == "v2" and isinstance(comm_mode, str)), "comm_mode",
          "null, or a string for an entry v2 case", comm_mode)
    shared = parse_shared(data, ep)
    parsed_faults = parse_faults(data)
    case = Case(
        product=data["product"], ep=ep, e=e, h1=data["h1"], n1=data["n1"],
        send=send, dtype=dtype, shared=shared,
        trans_gmm_weight=data.get("trans_gmm_weight", False),
        trans_mm_weight=data.get("trans_mm_weight", False),
        permute_out_flag=data.get("permute_out_flag", True), seed=data.get("seed", 0),
        clause=data.get("clause", ""), side=side, stage=stage, faults=parsed_faults,
        entry=entry, comm_mode=comm_mode,
    )
    try:
        case.calls()
    except (CaseFormatError, KeyError, IndexError, TypeError, ValueError, StopIteration) as err:
        raise CaseFormatError(f"case field 'faults': cannot be applied: {err}") from err
    return case
