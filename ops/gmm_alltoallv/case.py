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

from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, ClassVar

from ops.gmm_alltoallv.call import Call
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

SCHEMA = "gmm-alltoallv-case/1"
DEFAULT_GROUP = "ep_group"  # stands for the world's communicator name in rule evaluation
PRODUCTS = ("A3", "910_95")
DTYPES = ("float16", "bfloat16", "float32", "int8", "int32", "int64")
SIDES = ("valid", "invalid")
ENTRIES = ("v1", "v2")
STAGES = ("both", "first")
WEIGHTS = ("random", "identity")
MATRIX = "dispatch"  # the routing matrix's field (spec.case.pack_compact)

__all__ = ["SCHEMA", "Case", "CaseFormatError", "Fault", "Shared"]


@dataclass(frozen=True)
class Case(JsonCase):
    OPERATOR: ClassVar[str] = "gmm_alltoallv"
    SCHEMA: ClassVar[str] = SCHEMA
    COMPACT_MATRIX: ClassVar[str] = MATRIX

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
    @cached_property
    def _send(self) -> tuple[tuple[int, ...], ...]:
        """Every rank's sendCounts, read off the matrix once (a world of ep 64 asks often)."""
        e = self.e
        return tuple(tuple(self.dispatch[s][r * e + j] for s in range(self.ep) for j in range(e))
                     for r in range(self.ep))

    def send_counts(self, rank: int) -> tuple[int, ...]:
        return self._send[rank]

    def recv_counts(self, rank: int) -> tuple[int, ...]:
        return self.dispatch[rank]

    def a(self, rank: int) -> int:
        """Rows rank `rank`'s experts process: gmmX's rows."""
        return sum(self._send[rank])

    def bsk(self, rank: int) -> int:
        """Rows that come back to rank `rank`: y's rows."""
        return sum(self.dispatch[rank])

    # -- the arguments ------------------------------------------------------------------
    def natural_tensors(self, rank: int) -> dict[str, TensorDesc | None]:
        d, e, h1, n1 = self.dtype, self.e, self.h1, self.n1
        t: dict[str, TensorDesc | None] = {
            "gmmX": TensorDesc((self.a(rank), h1), d),
            "gmmWeight": TensorDesc((e, n1, h1) if self.trans_gmm_weight else (e, h1, n1), d),
            "sendCountsTensor": None,
            "recvCountsTensor": None,
            "mmX": None,
            "mmWeight": None,
            "y": TensorDesc((self.bsk(rank), n1), d),
            "mmY": None,
        }
        if self.shared is not None:
            bs, h2, n2 = self.shared.bs[rank], self.shared.h2, self.shared.n2
            t["mmX"] = TensorDesc((bs, h2), d)
            t["mmWeight"] = TensorDesc((n2, h2) if self.trans_mm_weight else (h2, n2), d)
            t["mmY"] = TensorDesc((bs, n2), d)
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

    def calls(self, group: str = DEFAULT_GROUP) -> list[Call]:
        return [self.call(r, group) for r in range(self.ep)]

    # -- identity and JSON --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == MATRIX:
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
        if self.weights != "random":
            bits.append(f"{self.weights} weights")
        if self.shared:
            bits.append(f"shared H2={self.shared.h2} N2={self.shared.n2}")
        if self.trans_gmm_weight:
            bits.append("transGmmWeight")
        if self.trans_mm_weight:
            bits.append("transMmWeight")
        if self.entry == "v2":
            bits.append(f"V2 commMode={self.comm_mode!r}")
        bits += [f"{f.op}({f.param}{'' if f.arg is None else ', ' + repr(f.arg)})"
                 for f in self.faults]
        return ", ".join(bits)


def apply_fault(case: Case, call: Call, fault: Fault) -> Call:
    """`fault` on `call`: a count tensor or an mmY `present` where the call leaves it null takes
    its natural shape (the counts the call passes; mmY of the arg's shape); every other op is
    the parameter table's (spec.case.apply_common)."""
    if fault.op == "present":
        counts = {"sendCountsTensor": call.send_counts, "recvCountsTensor": call.recv_counts}
        if fault.param in counts:
            desc = TensorDesc((len(counts[fault.param] or ()),), "int64")
        elif fault.param == "mmY":
            desc = TensorDesc(tuple(fault.arg or (1, 1)), case.dtype)
        else:
            raise CaseFormatError(f"faults: cannot make {fault.param} present")
        return replace(call, tensors={**call.tensors, fault.param: desc})
    return apply_common(call, fault, case.e)


def _parse(data: Any) -> Case:
    need(isinstance(data, dict), "(top level)", "a JSON object", type(data).__name__)
    if data.get("schema") != SCHEMA:
        raise CaseFormatError(f"case field 'schema': expected {SCHEMA!r}, got {data.get('schema')!r}")
    known = {f.name for f in fields(Case)} | {"schema"}
    extra = sorted(set(data) - known)
    if extra:
        raise CaseFormatError(f"case field '{extra[0]}' is unknown; accepted: {sorted(known)}")
    for name in ("product", "ep", "e", "h1", "n1", MATRIX):
        need(name in data, name, "a value (the field is required)", None)
    need(data["product"] in PRODUCTS, "product", f"one of {PRODUCTS}", data["product"])
    for name in ("ep", "e", "h1", "n1", "seed"):
        if name in data:
            need(is_int(data[name]) and data[name] >= 0, name, "a non-negative integer", data[name])
    ep, e = data["ep"], data["e"]
    need(ep >= 1, "ep", "a world size of at least 1", ep)
    matrix = parse_matrix(data, MATRIX, ep, e)
    dtype = data.get("dtype", "float16")
    need(dtype in DTYPES, "dtype", f"one of {DTYPES}", dtype)
    for name in ("trans_gmm_weight", "trans_mm_weight"):
        if name in data:
            need(isinstance(data[name], bool), name, "true or false", data[name])
    weights = data.get("weights", "random")
    need(weights in WEIGHTS, "weights", f"one of {WEIGHTS}", weights)
    need(weights != "identity" or data["h1"] == data["n1"], "weights",
         "identity weights only where H1 == N1", weights)
    side, stage = data.get("side", "valid"), data.get("stage", "both")
    need(side in SIDES, "side", f"one of {SIDES}", side)
    need(stage in STAGES, "stage", f"one of {STAGES}", stage)
    need(isinstance(data.get("clause", ""), str), "clause", "a clause id string", data.get("clause"))
    entry, comm_mode = data.get("entry", "v1"), data.get("comm_mode")
    need(entry in ENTRIES, "entry", f"one of {ENTRIES}", entry)
    need(comm_mode is None or (entry == "v2" and isinstance(comm_mode, str)), "comm_mode",
         "null, or a string for an entry v2 case", comm_mode)
    case = Case(
        product=data["product"], ep=ep, e=e, h1=data["h1"], n1=data["n1"], dispatch=matrix,
        dtype=dtype, shared=parse_shared(data, ep),
        trans_gmm_weight=data.get("trans_gmm_weight", False),
        trans_mm_weight=data.get("trans_mm_weight", False), weights=weights,
        seed=data.get("seed", 0), clause=data.get("clause", ""), side=side, stage=stage,
        faults=parse_faults(data), entry=entry, comm_mode=comm_mode,
    )
    try:
        case.calls()
    except (CaseFormatError, KeyError, IndexError, TypeError, ValueError, StopIteration) as err:
        raise CaseFormatError(f"case field 'faults': cannot be applied: {err}") from err
    return case
