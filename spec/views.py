"""A world's calls read at once: what every rank shares is read once.

The ranks of a world pass mostly the same arguments (the attributes, the weights, the dtypes);
what differs is what the routing gives each (its counts, its row dimensions, its rank). A rule
is a deterministic function of what it reads, so a rule that never reads a differing part has
one verdict for every rank. `shared_views` builds, for the ranks of one shape (the same fields
and tensors null), one view whose differing parts are `Varying` stand-ins: any use of one but
identity raises `Varies`, so a rule that completes on the view read none of them and its verdict
holds for each of those ranks; a rule that raises `Varies` is read rank by rank.

`Varies` is a BaseException, so no reader's `except Exception` can swallow it and go on with a
made-up value; ranks whose fields differ in being null (an `is None` test would tell the
stand-in from None) get views of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import is_dataclass
from typing import Any

from spec.call import TensorDesc, evolve, field_names


class Varies(BaseException):
    """A rule read a part of the call that differs between the ranks of its view."""


def _varies(*_args: object, **_kwargs: object) -> Any:
    raise Varies


_OPERATIONS = (
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
    "__iter__", "__reversed__", "__getitem__", "__contains__", "__int__", "__index__",
    "__float__", "__complex__", "__round__", "__trunc__", "__floor__", "__ceil__",
    "__neg__", "__pos__", "__abs__", "__invert__", "__str__", "__repr__", "__format__",
    "__array__", "__getattr__",
    *(f"__{r}{op}__" for op in ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod",
                                "divmod", "pow", "lshift", "rshift", "and", "xor", "or")
      for r in ("", "r")),
)


class Varying:
    """A value that differs between the ranks of a view: every operation on it raises Varies,
    `isinstance` too (through `__class__`); a sequence of one length keeps its `len`."""

    __slots__ = ("length",)

    def __init__(self, length: int | None = None) -> None:
        object.__setattr__(self, "length", length)

    def __len__(self) -> int:
        if self.length is None:
            raise Varies
        return self.length

    def __bool__(self) -> bool:
        return len(self) > 0

    @property
    def __class__(self):  # isinstance() reads it: it must not tell the type
        raise Varies


for _name in _OPERATIONS:
    setattr(Varying, _name, _varies)


SHAPE_LENGTH = 8  # tuples up to this long are merged item by item (tensor shapes); longer ones
# (the counts, ep x e of them) whole


def _merge(values: Sequence[Any]) -> Any:
    """One value for all `values`: the value itself where they agree, else a stand-in that
    keeps what they agree on (a tuple's length and its agreeing items, a tensor's agreeing
    fields) and hides the rest. None never differs here (views are per null pattern)."""
    first = values[0]
    if all(v is first or v == first for v in values):
        return first
    if isinstance(first, TensorDesc) and all(len(v.shape) == len(first.shape) for v in values):
        return TensorDesc(_merge([v.shape for v in values]), _merge([v.dtype for v in values]),
                          _merge([v.format for v in values]))
    if type(first) is tuple and all(type(v) is tuple and len(v) == len(first) for v in values):
        if len(first) <= SHAPE_LENGTH:  # a shape: its agreeing dimensions stay readable
            return tuple(_merge(column) for column in zip(*values, strict=True))
        return Varying(len(first))  # counts: every rank reads its own
    if type(first) is dict and all(type(v) is dict and v.keys() == first.keys() for v in values):
        return {k: _merge([v[k] for v in values]) for k in first}
    return Varying()


def _null_pattern(call: Any, names: Sequence[str]) -> tuple:
    """Which of a call's fields (`names`) and tensors are null, and which tensors it names."""
    d = call.__dict__
    tensors = d.get("tensors")
    inner = tuple((k, v is None) for k, v in tensors.items()) if type(tensors) is dict else ()
    return tuple(d[n] is None for n in names), inner


def shared_views(calls: Sequence[Any]) -> list[tuple[Any, list[int]]]:
    """(view, the ranks it stands for) for the calls of one world, every rank in one view;
    a call type that is not a plain dataclass gets one view per rank (its own call)."""
    if not calls or not all(is_dataclass(c) and hasattr(c, "__dict__") for c in calls):
        return [(c, [r]) for r, c in enumerate(calls)]
    groups: dict[tuple, list[int]] = {}
    for r, c in enumerate(calls):
        groups.setdefault((type(c), _null_pattern(c, field_names(type(c)))), []).append(r)
    out = []
    for (kind, _), ranks in groups.items():
        members = [calls[r] for r in ranks]
        if len(members) == 1:
            out.append((members[0], ranks))
            continue
        # its fields only (evolve copies nothing a call has worked out and kept), each merged
        view = evolve(members[0], **{n: _merge([c.__dict__[n] for c in members])
                                     for n in field_names(kind)})
        out.append((view, ranks))
    return out
