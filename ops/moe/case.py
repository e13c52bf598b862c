"""What a case of either MoE operator has besides its own fields: the world's routing matrix
read by column blocks, the calls of every rank, JSON with one clear error per malformed field,
and a label. Each operator's `Case` (a frozen dataclass) names its matrix field (`MATRIX`) and
keeps its own tensors, counts and faults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from functools import cached_property, lru_cache
from typing import Any, ClassVar

import numpy as np

from spec.call import TensorDesc, evolve
from spec.case import (
    CaseFormatError,
    Fault,
    JsonCase,
    faults_list,
    is_int,
    need,
    parse_matrix,
    shared_dict,
)

DEFAULT_GROUP = "ep_group"  # stands for the world's communicator name in rule evaluation
PRODUCTS = ("A3", "910_95")
DTYPES = ("float16", "bfloat16", "float32", "int8", "int32", "int64")
SIDES = ("valid", "invalid")
ENTRIES = ("v1", "v2")
STAGES = ("both", "first")


def as_matrix(rows: Any) -> tuple[tuple[int, ...], ...]:
    """A drawn routing matrix (an array or nested lists) as a case stores it: tuples of ints."""
    return tuple(map(tuple, np.asarray(rows, np.int64).tolist()))


class MoeCase(JsonCase):
    """The behaviour both MoE operators' cases share; fields come from the dataclass below it."""

    MATRIX: ClassVar[str]  # the routing matrix's field: matrix[s][r*e + j]
    V1_OMITS: ClassVar[Mapping[str, object]] = {}  # fields a V1 case leaves out at these values
    ep: int
    e: int

    @cached_property
    def columns(self) -> tuple[tuple[int, ...], ...]:
        """Every rank r's column block of the matrix, [s*e + j] = matrix[s][r*e + j], read once
        (a world of ep 64 asks often)."""
        m, e, ep = getattr(self, self.MATRIX), self.e, self.ep
        if len(m) == ep and all(len(row) == ep * e for row in m):
            if e == 1:  # the matrix's columns
                return tuple(zip(*m, strict=True))
            try:
                blocks = np.asarray(m, np.int64).reshape(ep, ep, e).transpose(1, 0, 2)
            except OverflowError:  # a count past int64 (an invalid case's): read it as it is
                pass
            else:
                return tuple(map(tuple, blocks.reshape(ep, ep * e).tolist()))
        return tuple(tuple(m[s][r * e + j] for s in range(ep) for j in range(e))
                     for r in range(ep))

    def __hash__(self) -> int:
        """The dataclass's hash (of its fields), computed once: a case of ep 128 holds 32 Ki
        counts, and caches ask for it per case and, in a mutation replay (spec.memo), per rank
        and input. Each operator's Case names this as its own `__hash__`, which its dataclass
        then keeps."""
        known = self.__dict__.get("_hash")
        if known is None:
            known = self.__dict__["_hash"] = hash(tuple(getattr(self, f.name)
                                                       for f in fields(self)))  # type: ignore[arg-type]
        return known

    def __getstate__(self) -> dict[str, Any]:
        """A pickled case without what it worked out and kept (`_hash`: strings hash otherwise
        in another process; its calls)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def gmm_weight_desc(self) -> TensorDesc:
        """gmmWeight, the same on every rank: described once, so every rank's call holds the
        same description (and the expectation's shared view takes it without comparing)."""
        known = self.__dict__.get("_gmm_weight")
        if known is None:
            c: Any = self
            shape = (c.e, c.n1, c.h1) if c.trans_gmm_weight else (c.e, c.h1, c.n1)
            known = self.__dict__["_gmm_weight"] = TensorDesc(shape, c.dtype)
        return known

    def shared_tensors(self, rank: int) -> dict[str, TensorDesc]:
        """The shared expert's mmX, mmWeight and mmY of `rank` (none without one), described
        once per BS (the ranks mostly share one); the caller copies them into its own dict."""
        c: Any = self
        if c.shared is None:
            return {}
        bs = c.shared.bs[rank]
        kept = self.__dict__.setdefault("_shared_tensors", {})
        if bs not in kept:
            d, h2, n2 = c.dtype, c.shared.h2, c.shared.n2
            kept[bs] = {"mmX": TensorDesc((bs, h2), d),
                        "mmWeight": TensorDesc((n2, h2) if c.trans_mm_weight else (h2, n2), d),
                        "mmY": TensorDesc((bs, n2), d)}
        return kept[bs]

    def _calls(self) -> tuple[Any, ...]:
        """Every rank's call with the default group, made once: the strategies' check, the
        expectation and each rank's run read the same calls, as does an equal case (a cell's
        probe and hypothesis's first draw are mostly the same case) or a copy on another stage,
        which enters no call (a world too large to compute runs its first stage only). Kept
        without a lock (Python 3.11's cached_property holds one lock for every instance, which
        a world's rank threads would take in turn); two threads at once make equal calls."""
        calls = self.__dict__.get("_natural_calls")
        if calls is None:
            calls = _natural_calls(self if self.stage == "both" else replace(self, stage="both"))
            self.__dict__["_natural_calls"] = calls
        return calls

    def calls(self, group: str = DEFAULT_GROUP) -> list[Any]:
        return [self.rank_call(r, group) for r in range(self.ep)]

    def rank_call(self, rank: int, group: str = DEFAULT_GROUP) -> Any:
        """`call(rank, group)`, from the calls made once unless a fault sets the group."""
        if group == DEFAULT_GROUP:
            return self._calls()[rank]
        if any(f.param == "group" for f in self.faults):  # type: ignore[attr-defined]
            return self.call(rank, group)  # type: ignore[attr-defined]
        return self._calls_in(group)[rank]

    def _calls_in(self, group: str) -> tuple[Any, ...]:
        """The calls made once, in a world's own group: every rank of each run asks (kept like
        `_calls`, for the last group asked)."""
        kept = self.__dict__.get("_group_calls")
        if kept is None or kept[0] != group:
            kept = (group, tuple(evolve(c, group=group) for c in self._calls()))
            self.__dict__["_group_calls"] = kept
        return kept[1]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": self.SCHEMA}  # type: ignore[attr-defined]
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name in self.V1_OMITS and v == self.V1_OMITS[f.name] and self.entry == "v1":  # type: ignore[attr-defined]
                continue
            if f.name == self.MATRIX:
                v = [list(row) for row in v]
            elif f.name == "shared":
                v = shared_dict(v)
            elif f.name == "faults":
                v = faults_list(v)
            d[f.name] = v
        return d

    def label(self) -> str:
        c: Any = self
        bits = [f"{c.product} ep={c.ep} e={c.e} {c.dtype} H1={c.h1} N1={c.n1}", *self.lead_bits()]
        if c.shared:
            bits.append(f"shared H2={c.shared.h2} N2={c.shared.n2}")
        if c.trans_gmm_weight:
            bits.append("transGmmWeight")
        if c.trans_mm_weight:
            bits.append("transMmWeight")
        bits += self.flag_bits()
        if c.entry == "v2":
            bits.append(f"V2 commMode={c.comm_mode!r}")
        bits += [f"{f.op}({f.param}{'' if f.arg is None else ', ' + repr(f.arg)})"
                 for f in c.faults]
        return ", ".join(bits)

    def lead_bits(self) -> list[str]:
        """The operator's own words right after the sizes in the label."""
        return []

    def flag_bits(self) -> list[str]:
        """The operator's own words after the transpose flags in the label."""
        return []


@lru_cache(maxsize=8)  # a cell's probe, its draws and their copies on another stage
def _natural_calls(case: MoeCase) -> tuple[Any, ...]:
    return tuple(case.call(r) for r in range(case.ep))  # type: ignore[attr-defined]


def natural_present(call: Any, fault: Fault, dtype: str) -> dict[str, TensorDesc]:
    """The shapes a `present` fault gives the optional tensors both operators have: a count
    tensor holds the call's counts, mmY takes the fault's shape."""
    return {
        "sendCountsTensor": TensorDesc((len(call.send_counts or ()),), "int64"),
        "recvCountsTensor": TensorDesc((len(call.recv_counts or ()),), "int64"),
        "mmY": TensorDesc(tuple(fault.arg or (1, 1)), dtype),
    }


def parse_world(data: Any, case_type: Any, flags: Sequence[str]
                ) -> tuple[int, int, tuple[tuple[int, ...], ...], str]:
    """The checks of a case's JSON up to its boolean `flags`, in the order both operators make
    them: (ep, e, the routing matrix, dtype), or CaseFormatError naming the first bad field."""
    schema = case_type.SCHEMA
    need(isinstance(data, dict), "(top level)", "a JSON object", type(data).__name__)
    if data.get("schema") != schema:
        raise CaseFormatError(f"case field 'schema': expected {schema!r}, got {data.get('schema')!r}")
    known = {f.name for f in fields(case_type)} | {"schema"}
    extra = sorted(set(data) - known)
    if extra:
        raise CaseFormatError(f"case field '{extra[0]}' is unknown; accepted: {sorted(known)}")
    for name in ("product", "ep", "e", "h1", "n1", case_type.MATRIX):
        need(name in data, name, "a value (the field is required)", None)
    need(data["product"] in PRODUCTS, "product", f"one of {PRODUCTS}", data["product"])
    for name in ("ep", "e", "h1", "n1", "seed"):
        if name in data:
            need(is_int(data[name]) and data[name] >= 0, name, "a non-negative integer", data[name])
    ep, e = data["ep"], data["e"]
    need(ep >= 1, "ep", "a world size of at least 1", ep)
    matrix = parse_matrix(data, case_type.MATRIX, ep, e)
    dtype = data.get("dtype", "float16")
    need(dtype in DTYPES, "dtype", f"one of {DTYPES}", dtype)
    for name in flags:
        if name in data:
            need(isinstance(data[name], bool), name, "true or false", data[name])
    return ep, e, matrix, dtype


def parse_run(data: dict) -> tuple[str, str, str, str | None]:
    """How the case is run: (side, stage, entry, commMode), the clause checked to be a string."""
    side, stage = data.get("side", "valid"), data.get("stage", "both")
    need(side in SIDES, "side", f"one of {SIDES}", side)
    need(stage in STAGES, "stage", f"one of {STAGES}", stage)
    need(isinstance(data.get("clause", ""), str), "clause", "a clause id string", data.get("clause"))
    entry, comm_mode = data.get("entry", "v1"), data.get("comm_mode")
    need(entry in ENTRIES, "entry", f"one of {ENTRIES}", entry)
    need(comm_mode is None or (entry == "v2" and isinstance(comm_mode, str)), "comm_mode",
         "null, or a string for an entry v2 case", comm_mode)
    return side, stage, entry, comm_mode


def applicable(case: MoeCase) -> MoeCase:
    """`case` when its faults apply to every rank's call; else CaseFormatError."""
    try:
        case.calls()
    except (CaseFormatError, KeyError, IndexError, TypeError, ValueError, StopIteration) as err:
        raise CaseFormatError(f"case field 'faults': cannot be applied: {err}") from err
    return case
