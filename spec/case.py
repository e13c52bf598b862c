"""What every operator's case model shares: its errors, its faults, its compact form.

A case is one whole EP world as plain data (ops/<name>/case.py): it serialises to JSON and back,
and a JSON file replays it anywhere. An invalid case is a consistent world plus `faults`, each a
small named deviation applied to every rank's arguments, so the JSON says exactly what was passed.
What a fault does to a call is read off the operator's parameter table (`apply_common`), so two
operators with the same kinds of parameter share one meaning of every fault but `present` (which
tensor an optional parameter would naturally be is the operator's own).
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import chain
from typing import Any, ClassVar

from spec.call import CallBase, TensorDesc, evolve

_PACKED = (("b", 7), ("h", 15), ("i", 31), ("q", 63))  # array typecodes by signed bits


class JsonCase:
    """What every operator's case does with its JSON, given its own `to_dict` and `from_dict`:
    text and back, the compact form of a passing case's record (its routing matrix, the field
    `COMPACT_MATRIX`, packed), its id (a digest of its JSON) and a copy with changes."""

    COMPACT_MATRIX: ClassVar[str] = "send"
    drawn_with: tuple[int, ...] | None = None  # the choices its builder drew, if drawn

    def drawn_from(self, choices: Sequence[int]) -> Any:
        """This case, remembering the choices its builder drew (strategies.rebuild builds it
        again from them); a copy made by `with_` forgets them."""
        object.__setattr__(self, "drawn_with", tuple(choices))
        return self

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Any:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise CaseFormatError(f"not JSON: {err}") from err
        return cls.from_dict(data)

    def to_compact(self) -> str:
        """The case for a passing case's record in cases.jsonl (`pack_compact`: an ep 64
        case's 33 KB of JSON in about 3 KB)."""
        return pack_compact(self.to_dict(), self.COMPACT_MATRIX)

    @classmethod
    def dict_from_compact(cls, text: str) -> dict[str, Any]:
        """The JSON dict (`to_dict`) of a case written by `to_compact`."""
        return unpack_compact(text, cls.COMPACT_MATRIX)

    @cached_property
    def id(self) -> str:
        """A digest of the case's JSON, computed once (records, replays and reports all ask)."""
        return hashlib.sha256(self.to_json(None).encode()).hexdigest()[:12]

    def with_(self, **changes: Any) -> Any:
        return replace(self, **changes)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis prints a failing case: its id, clause and label. Its printer writes a
        dataclass field by field, an ep 64 send matrix one count a line: thousands of lines a
        failure, most of a failing cell's time. The saved case JSON has every field."""
        printer.text(f"{type(self).__name__}(id {self.id}: {self.side} side of "
                     f"{self.clause or '-'}, stage {self.stage}; {self.label()})")


class CaseFormatError(ValueError):
    """A case file that cannot be read; the message names the field."""


@dataclass(frozen=True)
class Fault:
    op: str
    param: str
    arg: Any = None

    def __post_init__(self) -> None:  # JSON lists come back as tuples: keep one form
        if isinstance(self.arg, list):
            object.__setattr__(self, "arg", tuple(self.arg))


@dataclass(frozen=True)
class Shared:
    """A shared expert beside the routed ones (mmX, mmWeight, mmY): every rank's BS, H2, N2."""

    bs: tuple[int, ...]  # BS of every rank
    h2: int
    n2: int


def pack_compact(d: dict[str, Any], matrix: str = "send") -> str:
    """A case's JSON dict for a passing case's record: the dict without its routing matrix (the
    field `matrix`), then the matrix as packed little-endian integers of the narrowest type,
    deflated, in base64."""
    d = dict(d)
    flat = list(chain.from_iterable(d[matrix]))
    lo, hi = (min(flat), max(flat)) if flat else (0, 0)
    code = next(c for c, bits in _PACKED if -(1 << bits) <= lo and hi < (1 << bits))
    packed = array.array(code, flat)
    if sys.byteorder == "big":
        packed.byteswap()
    d[matrix] = {"lengths": [len(row) for row in d[matrix]], "type": code}
    raw = json.dumps(d, separators=(",", ":")).encode() + b"\n" + packed.tobytes()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack_compact(text: str, matrix: str = "send") -> dict[str, Any]:
    """The JSON dict of a case written by `pack_compact` (with the same `matrix`)."""
    try:
        head, _, body = zlib.decompress(base64.b64decode(text, validate=True)).partition(b"\n")
        d = json.loads(head)
        packed = array.array(d[matrix]["type"])
        packed.frombytes(body)
    except (ValueError, KeyError, TypeError, zlib.error) as err:
        raise CaseFormatError(f"not a compact case: {err}") from err
    if sys.byteorder == "big":
        packed.byteswap()
    flat, rows, at = packed.tolist(), [], 0
    for n in d[matrix]["lengths"]:
        rows.append(flat[at:at + n])
        at += n
    d[matrix] = rows
    return d


def need(cond: bool, name: str, what: str, got: Any) -> None:
    if not cond:
        raise CaseFormatError(f"case field '{name}': expected {what}, got {got!r}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# -- parsing the fields MoE case models share, one clear error per malformed field -------------


def parse_matrix(data: dict, name: str, ep: int, e: int) -> tuple[tuple[int, ...], ...]:
    """A routing matrix field: ep rows of ep * e non-negative counts."""
    rows = data[name]
    need(isinstance(rows, list) and len(rows) == ep, name, f"a list of ep={ep} rows", rows)
    for s, row in enumerate(rows):
        need(isinstance(row, list) and len(row) == ep * e and all(is_int(v) and v >= 0 for v in row),
             f"{name}[{s}]", f"ep*e={ep * e} non-negative integers", row)
    return tuple(tuple(row) for row in rows)


def parse_shared(data: dict, ep: int) -> Shared | None:
    shared = data.get("shared")
    if shared is None:
        return None
    need(isinstance(shared, dict) and set(shared) == {"bs", "h2", "n2"}, "shared",
         "null or an object with bs, h2, n2", shared)
    need(isinstance(shared["bs"], list) and len(shared["bs"]) == ep
         and all(is_int(v) and v >= 0 for v in shared["bs"]), "shared.bs",
         f"ep={ep} non-negative integers", shared["bs"])
    for k in ("h2", "n2"):
        need(is_int(shared[k]) and shared[k] >= 0, f"shared.{k}", "a non-negative integer",
             shared[k])
    return Shared(tuple(shared["bs"]), shared["h2"], shared["n2"])


def parse_faults(data: dict) -> tuple[Fault, ...]:
    faults = data.get("faults", [])
    need(isinstance(faults, list), "faults", "a list", faults)
    parsed = []
    for i, f in enumerate(faults):
        need(isinstance(f, dict) and {"op", "param"} <= set(f) <= {"op", "param", "arg"},
             f"faults[{i}]", "an object with op, param and optional arg", f)
        need(f["op"] in FAULT_OPS, f"faults[{i}].op", f"one of {sorted(FAULT_OPS)}", f["op"])
        parsed.append(Fault(f["op"], f["param"], f.get("arg")))
    return tuple(parsed)


def shared_dict(shared: Shared | None) -> dict | None:
    return None if shared is None else {"bs": list(shared.bs), "h2": shared.h2, "n2": shared.n2}


def faults_list(faults: tuple[Fault, ...]) -> list[dict]:
    return [{"op": x.op, "param": x.param, "arg": x.arg} for x in faults]




# -- faults, read off the parameter table ------------------------------------------------------

FAULT_OPS: dict[str, str] = {
    "null": "pass a null pointer for the parameter",
    "present": "pass a tensor for an optional parameter that the call leaves null",
    "dtype": "pass the tensor with another dtype (arg: dtype name)",
    "format": "pass the tensor with another storage format (arg: format name)",
    "rank": "add a trailing dimension of 1 (arg 1) or merge the last two (arg -1)",
    "resize": "change one dimension of the tensor (arg: [dim, delta])",
    "value": "pass another value for a scalar or string attribute (arg: the value)",
    "counts": "edit a counts array (arg: drop_last, append_zero, empty, negative or shift)",
    "stage2": "misuse the second stage (param: workspace_short, arg: bytes)",
}
COUNT_EDITS = ("drop_last", "append_zero", "empty", "negative", "shift")
NULLABLE_KINDS = ("string", "int_array")  # attributes passed by pointer


def edit_counts(counts: tuple[int, ...], edit: str, e: int) -> tuple[int, ...]:
    """One of COUNT_EDITS applied to a counts array of e experts per peer."""
    c = list(counts)
    if edit == "drop_last":
        return tuple(c[:-1])
    if edit == "append_zero":
        return (*c, 0)
    if edit == "empty":
        return ()
    if edit == "negative":  # the last count becomes -1; its neighbour keeps the sum
        c[-2] += c[-1] + 1
        c[-1] = -1
        return tuple(c)
    if edit == "shift":  # a row moved to the next expert of the same peer: every local sum
        # and every peer's share stay as they were, but the peers sent it elsewhere
        movable = [i for i, v in enumerate(c) if v > 0 and (e == 1 or i % e < e - 1)]
        if movable:  # (a rank that receives nothing has nothing to move)
            c[movable[0]] -= 1
            c[(movable[0] + 1) % len(c)] += 1
        return tuple(c)
    raise CaseFormatError(f"faults: counts edit {edit!r} unknown; accepted: {COUNT_EDITS}")


def reshape(desc: TensorDesc, op: str, arg: Any) -> TensorDesc:
    """A `rank` or `resize` fault applied to a tensor's description."""
    shape = list(desc.shape)
    if op == "rank":
        shape = [*shape, 1] if arg == 1 else [*shape[:-2], shape[-2] * shape[-1]]
    else:
        dim, delta = arg
        shape[dim] += delta
    return replace(desc, shape=tuple(shape))


def apply_common(call: CallBase, fault: Fault, e: int) -> CallBase:
    """`fault` applied to `call` as its operator's parameter table defines it (every op but
    `present`, which the operator's case model applies). A changed epWorldSize pads every
    counts array with zeros for the ranks it adds, so the counts' lengths stay e * epWorldSize."""
    op, p, arg = fault.op, fault.param, fault.arg
    param = call.PARAMS.get(p)
    tensors = dict(call.tensors)
    if op == "null":
        if p in tensors:
            tensors[p] = None
            return evolve(call, tensors=tensors)
        if p.startswith("stage2.") and param is not None and param.kind == "pointer":
            return evolve(call, stage2=replace(call.stage2, **{f"{p[7:]}_null": True}))
        if param is not None and param.stage == 1 and param.kind == "pointer":
            return evolve(call, null_pointers=call.null_pointers | {p})
        if param is not None and param.role == "attribute" and param.kind in NULLABLE_KINDS:
            return evolve(call, **{param.py_name: None})
    elif op in ("dtype", "format", "rank", "resize") and tensors.get(p) is not None:
        desc = tensors[p]
        if op == "dtype":
            tensors[p] = replace(desc, dtype=arg)
        elif op == "format":
            tensors[p] = replace(desc, format=arg)
        else:
            tensors[p] = reshape(desc, op, arg)
        return evolve(call, tensors=tensors)
    elif op == "value" and p == "epWorldSize":
        pad = (0,) * (e * (arg - call.ep_world_size))
        arrays = {q.py_name: getattr(call, q.py_name) + pad for q in call.PARAMS.values()
                  if q.kind == "int_array" and getattr(call, q.py_name) is not None}
        return evolve(call, ep_world_size=arg, **arrays)
    elif op == "value" and param is not None and param.role == "attribute" and param.stage == 1:
        return evolve(call, **{param.py_name: arg})
    elif op == "counts" and param is not None and param.kind == "int_array":
        return evolve(call, **{param.py_name: edit_counts(getattr(call, param.py_name), arg, e)})
    elif op == "stage2" and p == "workspace_short":
        return evolve(call, stage2=replace(call.stage2, workspace_short=int(arg)))
    raise CaseFormatError(f"faults: cannot apply {op}({p}, {arg!r}); operations: {sorted(FAULT_OPS)}")
