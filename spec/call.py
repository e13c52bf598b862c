"""One rank's arguments to both stages, described without data: what the contract's rules read.

An operator's `Call` (ops/<name>/call.py) is a frozen dataclass derived from its case and
materialised into arrays by `fixtures.harness`, so the rules and the backend always see the same
arguments. Its fields that are attributes of the C API carry the backend protocol's keywords as
names (the operator's parameter table says which), so the engine reads and passes them by that
table; `CallBase` gives every operator's Call the reading the rules need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NoReturn, TypeVar

import numpy as np

from spec.operator import Param

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "int8": 1, "int32": 4, "int64": 8}
MIB = 1 << 20


class Undefined(Exception):
    """A quantity cannot be read off this call (a tensor is null or of the wrong rank)."""


@dataclass(frozen=True)
class TensorDesc:
    shape: tuple[int, ...]
    dtype: str
    format: str = "ND"

    @property
    def nbytes(self) -> int:
        n = DTYPE_BYTES[self.dtype]
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Stage2:
    """How the second stage is called: honestly, or with one of the documented misuses."""

    executor_null: bool = False
    workspace_null: bool = False
    workspace_short: int = 0  # bytes fewer than the first stage asked for


class CallBase:
    """What every operator's Call has: `product`, `world_size`, `rank`, `tensors` (name: desc
    or None), `null_pointers` (first-stage out pointers passed as null), `stage2`, `entry`, one
    field per attribute named by its keyword, and its operator's `PARAMS` and `QUANTITIES`."""

    OPERATOR: ClassVar[str]  # the registry name of its operator (ops/)
    PARAMS: ClassVar[Mapping[str, Param]]
    QUANTITIES: ClassVar[Mapping[str, Callable[[Any], object]]]
    tensors: Mapping[str, TensorDesc | None]
    null_pointers: frozenset[str]
    entry: str

    def counts(self, which: str) -> tuple[int, ...]:
        """sendCounts (`which` "send") or recvCounts ("recv"); Undefined when null or empty."""
        c = self.send_counts if which == "send" else self.recv_counts
        if not c:
            raise Undefined(f"{which}Counts is null or empty")
        return c

    def count_sum(self, which: str) -> int:
        """`sum(counts(which))`, added up once per call: several rules of a rank read it (A,
        BSK, K, the card's bytes) and a world of ep 128 has 128 ranks to read."""
        key = f"_sum_{which}"
        known = self.__dict__.get(key)
        if known is None:
            known = self.__dict__[key] = sum(self.counts(which))
        return known

    def tensor(self, name: str, rank: int | None = None) -> TensorDesc:
        t = self.tensors.get(name)
        if t is None:
            raise Undefined(f"{name} is null")
        if rank is not None and len(t.shape) != rank:
            raise Undefined(f"{name} is not {rank}-D")
        return t

    def has(self, name: str) -> bool:
        return self.tensors.get(name) is not None

    def quantity(self, name: str) -> object:
        return self.QUANTITIES[name](self)

    def present(self, param: str) -> bool:
        """Whether `param` is passed (not a null pointer); Undefined for an argument the call's
        entry point does not have."""
        if param in self.tensors:
            return self.tensors[param] is not None
        p = self.PARAMS[param]
        if p.entries and self.entry not in p.entries:
            raise Undefined(f"{self.entry.upper()} has no {param} argument")
        if p.kind == "pointer":
            return param not in self.null_pointers
        return getattr(self, p.py_name) is not None

    def arguments(self) -> dict[str, object]:
        """The attributes every entry point takes, by the backend protocol's keywords."""
        return {p.py_name: getattr(self, p.py_name) for p in self.PARAMS.values()
                if p.stage == 1 and p.role == "attribute" and not p.entries}


C = TypeVar("C", bound=CallBase)
_FIELDS: dict[type, tuple[str, ...]] = {}


def field_names(kind: type) -> tuple[str, ...]:
    """The field names of a call type, read once: a call's `__dict__` also holds what it
    worked out and kept (`count_sum`), which a copy or a view must leave out."""
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind))
    return names


def evolve(call: C, **changes: object) -> C:
    """`dataclasses.replace` for a call, at a fraction of its cost: its fields copied with
    `changes` over them, without the generated `__init__` (a frozen dataclass's sets every
    field through object.__setattr__; a Call has no __post_init__). A case's fault changes
    every rank's call. Nothing a call worked out and kept is copied."""
    kind = type(call)
    names = field_names(kind)
    if not changes.keys() <= set(names):
        raise TypeError(f"{kind.__name__} has no field {sorted(changes.keys() - set(names))[0]!r}")
    new = object.__new__(kind)
    held = call.__dict__
    new.__dict__.update({n: held[n] for n in names})
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class MoeCall(CallBase):
    """The fields every MoE operator's Call begins with (the attributes the MoE quantities below
    read, `MOE_ATTRIBUTE_QUANTITIES`); each operator's own follow."""

    product: str
    world_size: int
    rank: int
    tensors: Mapping[str, TensorDesc | None]
    group: str | None
    ep_world_size: int
    send_counts: tuple[int, ...] | None
    recv_counts: tuple[int, ...] | None
    trans_gmm_weight: bool


# -- readers a Call's QUANTITIES are built from -------------------------------------------------

Reader = Callable[[Any], object]


def undefined(why: str) -> NoReturn:
    raise Undefined(why)


def dim(name: str, rank: int, index: int) -> Reader:
    """Dimension `index` of tensor `name`, which must be `rank`-D."""
    return lambda c: c.tensor(name, rank).shape[index]


def read_dim(name: str, index: int) -> Reader:
    """Dimension `index` as a shape reader that never checks the rank sees it: a dimension the
    tensor lacks reads as -1, which equals no real size."""
    def read(c: Any) -> int:
        shape = c.tensor(name).shape
        return shape[index] if len(shape) > index else -1

    return read


def weight_dim(name: str, rank: int, plain: int, transposed: int, flag: str) -> Reader:
    """Dimension `plain` of a weight, or `transposed` when the call's `flag` says it is stored
    transposed."""
    def read(c: Any) -> int:
        return c.tensor(name, rank).shape[transposed if getattr(c, flag) else plain]

    return read


def _comm_mode(c: Any) -> str:
    if c.entry != "v2":
        raise Undefined("V1 has no commMode argument")
    if c.comm_mode is None:
        raise Undefined("commMode is null")
    return c.comm_mode


def _nonneg(which: str) -> Reader:
    return lambda c: min(c.counts(which)) >= 0


# What the rules of both MoE operators read off the attributes they share (group, the two counts
# arrays, epWorldSize, V2's commMode) and off the second stage.
MOE_ATTRIBUTE_QUANTITIES: dict[str, Reader] = {
    "commMode": _comm_mode,
    "commMode.nonempty": lambda c: _comm_mode(c) != "",
    "len.sendCounts": lambda c: len(c.counts("send")),
    "len.recvCounts": lambda c: len(c.counts("recv")),
    "len.group": lambda c: len(c.group) if c.group is not None else undefined("group is null"),
    "nonempty.sendCounts": lambda c: c.send_counts is None or len(c.send_counts) > 0,
    "nonempty.recvCounts": lambda c: c.recv_counts is None or len(c.recv_counts) > 0,
    "nonneg.sendCounts": _nonneg("send"),
    "nonneg.recvCounts": _nonneg("recv"),
    "group.nonempty": lambda c: c.group is None or len(c.group) > 0,
    "epWorldSize": lambda c: c.ep_world_size,
    "world_size": lambda c: c.world_size,
    "stage2.executor": lambda c: not c.stage2.executor_null,
    "stage2.workspace": lambda c: not c.stage2.workspace_null,
    "stage2.workspace_enough": lambda c: c.stage2.workspace_short <= 0,
}


def experts(c: Any) -> int:
    """e: the local experts, gmmWeight's first dimension."""
    return c.tensor("gmmWeight", 3).shape[0]


def peer_blocks(c: Any, which: str) -> Sequence[int]:
    """Rows exchanged with each peer: the sums of `which` counts over each peer's experts."""
    counts = c.counts(which)
    e = experts(c)
    if len(counts) != e * c.ep_world_size:
        raise Undefined("counts length differs from e * epWorldSize")
    return counts if e == 1 else list(map(sum, zip(*[iter(counts)] * e, strict=True)))


def count_blocks(counts: Sequence[int], ranks: int, e: int) -> np.ndarray:
    """Counts as a (ranks, e) array, row s the counts of peer s's experts: the first ranks * e
    of them, any missing ones 0 (what slicing the sequence block by block reads)."""
    out = np.zeros(ranks * e, np.int64)
    n = min(len(counts), ranks * e)
    out[:n] = counts[:n]
    return out.reshape(ranks, e)


def card_bytes(c: Any, row_bytes: int) -> list[int]:
    """Bytes this card sends and receives, rows of `row_bytes` each."""
    return [c.count_sum("send") * row_bytes, c.count_sum("recv") * row_bytes]


def peer_bytes_min(c: Any, row_bytes: int) -> int:
    """The smallest block this card exchanges with one peer, either way, in bytes."""
    return min(min(peer_blocks(c, "send")), min(peer_blocks(c, "recv"))) * row_bytes


# What the rules of both MoE operators read off the tensors they share (gmmX, gmmWeight and the
# shared expert's mmX, mmWeight, mmY); each operator's own outputs and counts come on top.
MOE_TENSOR_QUANTITIES: dict[str, Reader] = {
    "rows.gmmX": dim("gmmX", 2, 0),
    "rows.mmY": dim("mmY", 2, 0),
    "H1": dim("gmmX", 2, 1),
    "H1.gmmWeight": weight_dim("gmmWeight", 3, 1, 2, "trans_gmm_weight"),
    "N1": weight_dim("gmmWeight", 3, 2, 1, "trans_gmm_weight"),
    "e": experts,
    "e*ep": lambda c: experts(c) * c.ep_world_size,
    "BS": dim("mmX", 2, 0),
    "H2": dim("mmX", 2, 1),
    "H2.mmWeight": weight_dim("mmWeight", 2, 0, 1, "trans_mm_weight"),
    "N2": weight_dim("mmWeight", 2, 1, 0, "trans_mm_weight"),
    "N2.mmY": dim("mmY", 2, 1),
    "has.mmX": lambda c: c.has("mmX"),
    "has.mmWeight": lambda c: c.has("mmWeight"),
    "has.mm": lambda c: c.has("mmX") and c.has("mmWeight"),
    "has.mm_any": lambda c: c.has("mmX") or c.has("mmWeight"),
    "has.mmY": lambda c: c.has("mmY"),
    "flag.transMm": lambda c: c.trans_mm_weight,
}
