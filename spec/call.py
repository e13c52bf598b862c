"""One rank's arguments to both stages, described without data: what the contract's rules read.

An operator's `Call` (ops/<name>/call.py) is a frozen dataclass derived from its case and
materialised into arrays by `fixtures.harness`, so the rules and the backend always see the same
arguments. Its fields that are attributes of the C API carry the backend protocol's keywords as
names (the operator's parameter table says which), so the engine reads and passes them by that
table; `CallBase` gives every operator's Call the reading the rules need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

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
