"""toy_alltoallv: an operator the engine has never heard of, defined here, in the suite's tests.

aclnnToyAlltoAllv(x, sendCounts, recvCounts, epWorldSize, y): rank s sends sendCounts[r] rows of
x (BS, H) to rank r; y (A, H) holds the rows rank r receives, source rank by source rank. One
entry point, the suite's two products, a handful of clauses with rules (both sides tested), one
data-movement clause and the engine's own OUT.* integrity clauses.

It exists to show that the engine knows an operator only through its record (spec.operator):
this module is the operator's home (importing it registers it, so a rank process given its name
and this module finds it) and holds every part the record names: the parameter table and
clauses, the call and case models, the data recipe (`input_for`), the strategies (`VALID`,
`INVALID`, `tolerated`, `world_bytes`), the oracle (`requested`, `judge_outputs`) and a
simulator whose ranks take turns. tests/support/toy_processes.py is the same operator from
torch ops, for the process pool; its profiles are in tests/support/toy_profiles/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import ml_dtypes
import numpy as np

from fixtures.protocol import NULL_INPUTS, OUTPUT_ARGS, STAGE_CONTROL, RankContext
from golden.judges import Verdict, exact
from ops import register
from spec.call import DTYPE_BYTES, CallBase, Stage2, TensorDesc, Undefined
from spec.case import CaseFormatError, Fault, JsonCase, is_int, need
from spec.data import block_values, key, random_values
from spec.operator import Clause, Operator, Param
from spec.profiles import Profile
from spec.rules import DtypeIn, Equal, InRange, InSet, NotNull, Rule
from strategies import tier
from strategies.choices import Choices

NAME = "toy_alltoallv"
TITLE = "aclnnToyAlltoAllv"
PRODUCTS = ("A3", "910_95")
ENTRIES = ("v1",)
FLOATS = ("float16", "bfloat16")
SOURCE = "tests/support/toy_operator.py (the toy's own contract)"

# -- the parameter table ------------------------------------------------------------------------

PARAMS: tuple[Param, ...] = (
    Param("x", "x", "x", 1, "input", True, "tensor",
          "the rows to send, ordered by destination rank; shape (BS, H)", FLOATS, 2, ("ND",),
          "(BS, H)"),
    Param("sendCounts", "sendCounts", "send_counts", 1, "attribute", True, "int_array",
          "rows sent to each rank, epWorldSize values", ("int64",)),
    Param("recvCounts", "recvCounts", "recv_counts", 1, "attribute", True, "int_array",
          "rows received from each rank, epWorldSize values", ("int64",)),
    Param("epWorldSize", "epWorldSize", "ep_world_size", 1, "attribute", True, "int",
          "the size of the communication domain", ("int64",)),
    Param("y", "y", "y", 1, "output", True, "tensor",
          "the rows received, source rank by source rank; shape (A, H)", FLOATS, 2, ("ND",),
          "(A, H)"),
)
PARAM = {p.name: p for p in PARAMS}

# -- the contract, in the order the toy's first stage checks it ---------------------------------


def _clause(id: str, area: str, text: str, rule: Rule | None = None,
            products: tuple[str, ...] = PRODUCTS, needs: tuple[str, ...] = ()) -> Clause:
    return Clause(id, area, text, rule, SOURCE, products, needs, ENTRIES)


CLAUSES: tuple[Clause, ...] = (
    _clause("NULL.x", "null", "x: a required input; a null pointer is rejected", NotNull("x"),
            needs=(NULL_INPUTS,)),
    _clause("DTYPE.x", "params", "x: FLOAT16 or BFLOAT16", DtypeIn("x", FLOATS)),
    _clause("PRODUCT.A3.epWorldSize", "products", "epWorldSize on Atlas A3: 4 or 8",
            InSet("epWorldSize", (4, 8)), products=("A3",)),
    _clause("PRODUCT.910_95.epWorldSize", "products", "epWorldSize on Ascend 910_95: 4, 8 or 16",
            InSet("epWorldSize", (4, 8, 16)), products=("910_95",)),
    _clause("COUNTS.send_len", "params", "sendCounts holds epWorldSize values",
            Equal("len.sendCounts", "epWorldSize")),
    _clause("COUNTS.recv_len", "params", "recvCounts holds epWorldSize values",
            Equal("len.recvCounts", "epWorldSize")),
    _clause("COUNTS.send_sum", "params", "BS, the rows of x, is the sum of sendCounts",
            Equal("BS", "rows.x")),
    _clause("COUNTS.recv_sum", "params", "A, the rows of y, is the sum of recvCounts",
            Equal("A", "rows.y"), needs=(OUTPUT_ARGS,)),
    _clause("RANGE.H", "boundaries", "H, the row width, in (0, 65536)", InRange("H", 0, 65536)),
    _clause("CALC.alltoallv", "numerics",
            "y = AlltoAllv(x): the rows each source sends here, source by source, bit for bit"),
    _clause("OUT.written", "integrity", "every element of y is written"),
    _clause("OUT.bounds", "integrity", "nothing outside y is written"),
    _clause("OUT.inputs", "integrity", "x is unchanged by the call"),
    _clause("OUT.deterministic", "integrity", "the same call twice writes the same bits"),
)
CLAUSE = {c.id: c for c in CLAUSES}

# -- one rank's call ----------------------------------------------------------------------------


def _dim(name: str, index: int) -> Callable[[Any], int]:
    return lambda c: c.tensor(name, 2).shape[index]


def _counts(call: Any, which: str) -> tuple[int, ...]:
    counts = getattr(call, which)
    if counts is None:
        raise Undefined(f"{which} is null")
    return counts


QUANTITIES: dict[str, Callable[[Any], object]] = {
    "H": _dim("x", 1),
    "rows.x": _dim("x", 0),
    "rows.y": _dim("y", 0),
    "BS": lambda c: sum(_counts(c, "send_counts")),
    "A": lambda c: sum(_counts(c, "recv_counts")),
    "len.sendCounts": lambda c: len(_counts(c, "send_counts")),
    "len.recvCounts": lambda c: len(_counts(c, "recv_counts")),
    "epWorldSize": lambda c: c.ep_world_size,
}


@dataclass(frozen=True)
class ToyCall(CallBase):
    """One rank's arguments; its attribute fields are named by their protocol keywords."""

    OPERATOR: ClassVar[str] = NAME
    PARAMS: ClassVar[Mapping[str, Param]] = PARAM
    QUANTITIES: ClassVar[Mapping[str, Callable[[Any], object]]] = QUANTITIES

    product: str
    world_size: int
    rank: int
    tensors: Mapping[str, TensorDesc | None]
    send_counts: tuple[int, ...] | None
    recv_counts: tuple[int, ...] | None
    ep_world_size: int
    null_pointers: frozenset[str] = frozenset()
    stage2: Stage2 = field(default_factory=Stage2)
    entry: str = "v1"


# -- a whole world as data ----------------------------------------------------------------------

SCHEMA = "toy-alltoallv-case/1"
SIDES = ("valid", "invalid")
STAGES = ("both", "first")
CASE_DTYPES = ("float16", "bfloat16", "float32", "int8", "int32")
FAULT_OPS = {
    "null": "pass a null pointer for the tensor",
    "dtype": "pass the tensor with another dtype (arg: dtype name)",
    "resize": "change one dimension of the tensor (arg: [dim, delta])",
    "counts": "append a zero to sendCounts or recvCounts (arg: append_zero)",
}


@dataclass(frozen=True)
class ToyCase(JsonCase):
    """One world: `send[s][r]` rows go from rank s to rank r (every rank's counts follow)."""

    OPERATOR: ClassVar[str] = NAME
    SCHEMA: ClassVar[str] = SCHEMA

    product: str
    ep: int
    h: int
    send: tuple[tuple[int, ...], ...]
    dtype: str = "float16"
    seed: int = 0
    clause: str = ""
    side: str = "valid"
    stage: str = "both"
    faults: tuple[Fault, ...] = ()
    entry: str = "v1"

    def send_counts(self, rank: int) -> tuple[int, ...]:
        return self.send[rank]

    def recv_counts(self, rank: int) -> tuple[int, ...]:
        return tuple(self.send[s][rank] for s in range(self.ep))

    def bs(self, rank: int) -> int:
        return sum(self.send[rank])

    def a(self, rank: int) -> int:
        return sum(self.recv_counts(rank))

    def natural_tensors(self, rank: int) -> dict[str, TensorDesc | None]:
        return {"x": TensorDesc((self.bs(rank), self.h), self.dtype),
                "y": TensorDesc((self.a(rank), self.h), self.dtype)}

    def call(self, rank: int, group: str = "") -> ToyCall:
        """Rank `rank`'s call, faults applied (the toy takes no communicator name: `group` is
        what the engine offers every operator, unused here)."""
        call = ToyCall(self.product, self.ep, rank, self.natural_tensors(rank),
                       self.send_counts(rank), self.recv_counts(rank), self.ep, entry=self.entry)
        for fault in self.faults:
            call = _apply(call, fault)
        return call

    def calls(self, group: str = "") -> list[ToyCall]:
        return [self.call(r, group) for r in range(self.ep)]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "send":
                v = [list(row) for row in v]
            elif f.name == "faults":
                v = [{"op": x.op, "param": x.param, "arg": x.arg} for x in v]
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, data: Any) -> ToyCase:
        return _parse(data)

    def label(self) -> str:
        bits = [f"{self.product} ep={self.ep} H={self.h} {self.dtype} "
                f"rows={sum(map(sum, self.send))}"]
        bits += [f"{f.op}({f.param}{'' if f.arg is None else ', ' + repr(f.arg)})"
                 for f in self.faults]
        return ", ".join(bits)


def _apply(call: ToyCall, fault: Fault) -> ToyCall:
    op, p, arg = fault.op, fault.param, fault.arg
    tensors = dict(call.tensors)
    if op == "null" and p in tensors:
        tensors[p] = None
        return replace(call, tensors=tensors)
    if op == "dtype" and tensors.get(p) is not None:
        tensors[p] = replace(tensors[p], dtype=arg)
        return replace(call, tensors=tensors)
    if op == "resize" and tensors.get(p) is not None:
        dim, delta = arg
        shape = list(tensors[p].shape)
        shape[dim] += delta
        tensors[p] = replace(tensors[p], shape=tuple(shape))
        return replace(call, tensors=tensors)
    if op == "counts" and arg == "append_zero" and p in ("sendCounts", "recvCounts"):
        keyword = PARAM[p].py_name
        return replace(call, **{keyword: (*getattr(call, keyword), 0)})
    raise CaseFormatError(f"faults: cannot apply {op}({p}, {arg!r}); operations: {sorted(FAULT_OPS)}")


def _parse(data: Any) -> ToyCase:
    need(isinstance(data, dict), "(top level)", "a JSON object", type(data).__name__)
    if data.get("schema") != SCHEMA:
        raise CaseFormatError(f"case field 'schema': expected {SCHEMA!r}, got {data.get('schema')!r}")
    known = {f.name for f in fields(ToyCase)} | {"schema"}
    extra = sorted(set(data) - known)
    if extra:
        raise CaseFormatError(f"case field '{extra[0]}' is unknown; accepted: {sorted(known)}")
    for name in ("product", "ep", "h", "send"):
        need(name in data, name, "a value (the field is required)", None)
    need(data["product"] in PRODUCTS, "product", f"one of {PRODUCTS}", data["product"])
    for name in ("ep", "h", "seed"):
        if name in data:
            need(is_int(data[name]) and data[name] >= 0, name, "a non-negative integer", data[name])
    ep, send = data["ep"], data["send"]
    need(ep >= 1, "ep", "a world size of at least 1", ep)
    need(isinstance(send, list) and len(send) == ep, "send", f"a list of ep={ep} rows", send)
    for s, row in enumerate(send):
        need(isinstance(row, list) and len(row) == ep and all(is_int(v) and v >= 0 for v in row),
             f"send[{s}]", f"ep={ep} non-negative integers", row)
    need(data.get("dtype", "float16") in CASE_DTYPES, "dtype", f"one of {CASE_DTYPES}",
         data.get("dtype"))
    need(data.get("side", "valid") in SIDES, "side", f"one of {SIDES}", data.get("side"))
    need(data.get("stage", "both") in STAGES, "stage", f"one of {STAGES}", data.get("stage"))
    need(data.get("entry", "v1") in ENTRIES, "entry", f"one of {ENTRIES}", data.get("entry"))
    need(isinstance(data.get("clause", ""), str), "clause", "a clause id string", data.get("clause"))
    faults = data.get("faults", [])
    need(isinstance(faults, list), "faults", "a list", faults)
    parsed = []
    for i, f in enumerate(faults):
        need(isinstance(f, dict) and {"op", "param"} <= set(f) <= {"op", "param", "arg"},
             f"faults[{i}]", "an object with op, param and optional arg", f)
        need(f["op"] in FAULT_OPS, f"faults[{i}].op", f"one of {sorted(FAULT_OPS)}", f["op"])
        parsed.append(Fault(f["op"], f["param"], f.get("arg")))
    case = ToyCase(data["product"], ep, data["h"], tuple(tuple(row) for row in send),
                   data.get("dtype", "float16"), data.get("seed", 0), data.get("clause", ""),
                   data.get("side", "valid"), data.get("stage", "both"), tuple(parsed),
                   data.get("entry", "v1"))
    try:
        case.calls()
    except (TypeError, ValueError, IndexError) as err:
        raise CaseFormatError(f"case field 'faults': cannot be applied: {err}") from err
    return case


# -- the data recipe (the "data" part) ----------------------------------------------------------


def rows_from(case: ToyCase, pairs: list[tuple[int, int]]) -> np.ndarray:
    """The rows of blocks (source, destination), in the order given: each block's values are a
    function of its address alone, so the receiver regenerates what it should have got."""
    keys = [key(case.seed, "x", s, r) for s, r in pairs]
    counts = [case.send[s][r] for s, r in pairs]
    return block_values(keys, [n * case.h for n in counts], case.dtype).reshape(sum(counts), case.h)


def input_for(case: ToyCase, rank: int, call: ToyCall, name: str, desc: TensorDesc) -> np.ndarray:
    """x of `rank` ordered by destination; a tensor a fault reshaped gets values of its own."""
    if name == "x" and desc == case.natural_tensors(rank)["x"]:
        return rows_from(case, [(rank, r) for r in range(case.ep)])
    return random_values(case.seed, f"fault:{name}", (rank,), desc.shape, desc.dtype)


# -- the oracle (the "oracle" part) -------------------------------------------------------------


def expected_y(case: ToyCase, rank: int) -> np.ndarray:
    return rows_from(case, [(s, rank) for s in range(case.ep)])


def requested(call: ToyCall) -> dict[str, bool]:
    """y is the toy's one output, always asked for."""
    return {"y": True}


def judge_outputs(case: ToyCase, rank: int, outputs: dict[str, np.ndarray],
                  asked: dict[str, bool], standard: str
                  ) -> tuple[list[tuple[str, str, Verdict]], list[str]]:
    """Data movement rounds nothing: y must match bit for bit whatever the standard."""
    return [("CALC.alltoallv", "movement", exact("y", outputs["y"], expected_y(case, rank)))], []


# -- the strategies (the "strategies" part) -----------------------------------------------------

BAD_DTYPES = ("float32", "int8", "int32")
WIDTHS = (1, 8, 64, 130)
Builder = Callable[[Choices, str, int, Profile], ToyCase]


def build_world(ch: Choices, product: str, ep: int, clause: str, side: str = "valid",
                h: int | None = None, min_count: int = 0) -> ToyCase:
    """A consistent world of `ep` ranks; the cell's dtype pins the choice labelled "dtype"."""
    dtype = ch.choice(FLOATS, "dtype")
    top = max(min_count, tier.current().max_count)
    send = tuple(tuple(ch.int(min_count, top, f"rows {s} to {r}") for r in range(ep))
                 for s in range(ep))
    width = ch.choice(WIDTHS, "H") if h is None else h
    return ToyCase(product, ep, width, send, dtype, ch.int(0, 1 << 16, "seed"), clause, side)


def _edges(profile: Profile, side: str) -> tuple[int, ...]:
    rule = profile.rule("RANGE.H")
    if side == "valid":
        return (rule.min_valid, rule.max_valid)
    return (rule.lo - 1 if rule.lo_closed else rule.lo, rule.hi + 1 if rule.hi_closed else rule.hi)


def _range(side: str) -> Builder:
    """H on the edge of the profile's range (the rule is read from it, never restated)."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> ToyCase:
        width = ch.choice(_edges(profile, side), f"H ({side} edge)")
        return build_world(ch, product, ep, "RANGE.H", side, width)

    return build


def _faulty(clause: str, fault: Callable[[Choices, ToyCase], Fault]) -> Builder:
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> ToyCase:
        case = build_world(ch, product, ep, clause, "invalid")
        return case.with_(faults=(fault(ch, case),))

    return build


def _resize(param: str, rows: Callable[[ToyCase, int], int]) -> Callable[[Choices, ToyCase], Fault]:
    def fault(ch: Choices, case: ToyCase) -> Fault:
        fewest = min(rows(case, r) for r in range(case.ep))
        return Fault("resize", param, (0, ch.choice((1, 7, -1) if fewest else (1, 7), "row change")))

    return fault


def _plain(clause: str, side: str, min_count: int = 0) -> Builder:
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> ToyCase:
        return build_world(ch, product, ep, clause, side, min_count=min_count)

    return build


INVALID: dict[str, Builder] = {
    "NULL.x": _faulty("NULL.x", lambda ch, case: Fault("null", "x")),
    "DTYPE.x": _faulty("DTYPE.x", lambda ch, case: Fault("dtype", "x",
                                                         ch.choice(BAD_DTYPES, "bad dtype"))),
    "COUNTS.send_len": _faulty("COUNTS.send_len",
                               lambda ch, case: Fault("counts", "sendCounts", "append_zero")),
    "COUNTS.recv_len": _faulty("COUNTS.recv_len",
                               lambda ch, case: Fault("counts", "recvCounts", "append_zero")),
    "COUNTS.send_sum": _faulty("COUNTS.send_sum", _resize("x", ToyCase.bs)),
    "COUNTS.recv_sum": _faulty("COUNTS.recv_sum", _resize("y", ToyCase.a)),
    "RANGE.H": _range("invalid"),
    # The world size itself is the value: a cell's ep is in or out of the product's set.
    "PRODUCT.A3.epWorldSize": _plain("PRODUCT.A3.epWorldSize", "invalid"),
    "PRODUCT.910_95.epWorldSize": _plain("PRODUCT.910_95.epWorldSize", "invalid"),
}
VALID: dict[str, Builder] = {c.id: _plain(c.id, "valid") for c in CLAUSES}
VALID["RANGE.H"] = _range("valid")
VALID["CALC.alltoallv"] = _plain("CALC.alltoallv", "valid", min_count=1)  # every pair moves rows


def tolerated(case: ToyCase, profile: Profile, extra: set[str]) -> set[str]:
    """The toy's violations all come alone: any other clause broken is a second violation."""
    return extra


def world_bytes(case: ToyCase) -> int:
    """Host bytes of every rank's x and y, with the oracle's copy of y."""
    rows = sum(case.bs(r) + 2 * case.a(r) for r in range(case.ep))
    return rows * case.h * DTYPE_BYTES.get(case.dtype, 8)


# -- the simulator (built-in backend "sim") -----------------------------------------------------

SUCCESS, NULLPTR, INVALID_PARAM, TILING = 0, 161001, 161002, 561002
_FLOAT_NP = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


@dataclass(frozen=True)
class Behavior:
    """One contract version as the sim reads it."""

    ep_sizes: dict[str, tuple[int, ...]]
    h_limit: int  # H must be below it
    h_status: int  # what an H out of range returns


BEHAVIORS: dict[str, Behavior] = {
    "doc": Behavior({"A3": (4, 8), "910_95": (4, 8, 16)}, 65536, INVALID_PARAM),
    "shipped": Behavior({"A3": (4, 8), "910_95": (4, 8, 16)}, 32768, TILING),
}


@dataclass
class ToyExecutor:
    x: np.ndarray
    send_counts: list[int]
    recv_counts: list[int]
    y: np.ndarray


class ToySim:
    """The toy's checks written out by hand, and AlltoAllv through the world's communicator."""

    two_stage = True
    capabilities = frozenset({NULL_INPUTS, OUTPUT_ARGS, STAGE_CONTROL})
    world = "turns"  # its ranks only compute and talk through the communicator

    def __init__(self, behavior: str = "doc") -> None:
        if behavior not in BEHAVIORS:
            raise ValueError(f"toy sim: unknown behavior {behavior!r}; accepted: "
                             f"{', '.join(BEHAVIORS)}")
        self.table = BEHAVIORS[behavior]

    def get_workspace_size(self, ctx: RankContext, *, x: np.ndarray | None,
                           send_counts: list[int] | None, recv_counts: list[int] | None,
                           ep_world_size: int, y: np.ndarray | None) -> tuple[int, int, object]:
        status = self.check(ctx.product, x, send_counts, recv_counts, ep_world_size, y)
        if status != SUCCESS:
            return status, 0, None
        return SUCCESS, 0, ToyExecutor(x, list(send_counts), list(recv_counts), y)

    def check(self, product: str, x: np.ndarray | None, send_counts: list[int] | None,
              recv_counts: list[int] | None, ep: int, y: np.ndarray | None) -> int:
        if x is None or y is None or send_counts is None or recv_counts is None:
            return NULLPTR
        if x.dtype not in _FLOAT_NP or x.ndim != 2 or y.ndim != 2:
            return INVALID_PARAM
        if ep not in self.table.ep_sizes[product]:
            return INVALID_PARAM
        if len(send_counts) != ep or len(recv_counts) != ep:
            return INVALID_PARAM
        if sum(send_counts) != x.shape[0] or sum(recv_counts) != y.shape[0]:
            return INVALID_PARAM
        if not 0 < x.shape[1] < self.table.h_limit:
            return self.table.h_status
        return SUCCESS

    def execute(self, ctx: RankContext, workspace: np.ndarray | None, workspace_size: int,
                executor: ToyExecutor | None, stream: object) -> int:
        if executor is None:
            return NULLPTR
        self.exchange(ctx, executor)
        return SUCCESS

    def exchange(self, ctx: RankContext, ex: ToyExecutor) -> None:
        bounds = np.cumsum([0, *ex.send_counts])
        received = ctx.comm.alltoallv([ex.x[bounds[r]:bounds[r + 1]]
                                       for r in range(ctx.world_size)])
        self.arrange(received, ex.y)

    def arrange(self, received: list[np.ndarray], y: np.ndarray) -> None:
        offset = 0
        for rows in received:
            y[offset:offset + len(rows)] = rows
            offset += len(rows)


class MisroutingSim(ToySim):
    """A planted fault: the first and last rows a rank receives trade places."""

    def arrange(self, received: list[np.ndarray], y: np.ndarray) -> None:
        super().arrange(received, y)
        if len(y) >= 2:
            y[[0, -1]] = y[[-1, 0]]


def sim(**options: Any) -> ToySim:
    return ToySim(**options)


def misrouting(**options: Any) -> MisroutingSim:
    return MisroutingSim(**options)


# -- the record ---------------------------------------------------------------------------------

OPERATOR = register(Operator(
    name=NAME,
    title=TITLE,
    home=__name__,
    params=PARAMS,
    clauses=CLAUSES,
    products=PRODUCTS,
    entries=ENTRIES,
    symbols={"v1": TITLE},
    dtypes=FLOATS,
    profile_dir=Path(__file__).with_name("toy_profiles"),
    case_type=ToyCase,
    parts={"strategies": __name__, "oracle": __name__, "data": __name__},
    backends={"sim": f"{__name__}:sim", "torch": "tests.support.toy_processes:factory"},
))
