"""PyTorch operator schema strings (`name(Type arg, *, Type? kw=None) -> (Tensor, Tensor)`):
parse them, and decide whether a recorded Python call binds to one exactly.

Used by the fake torch_npu (to accept exactly the calls the real schema accepts) and by the test
that checks the adapter's call against the schema read from the real torch_npu wheel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ARG = re.compile(r"^(?P<type>[A-Za-z_][A-Za-z0-9_]*(?:\[\d*\])?\??)\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                  r"(?:=(?P<default>.+))?$")


class SchemaError(ValueError):
    """A schema string that does not parse; the message quotes the part."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # as written, e.g. "Tensor?", "int[]"
    default: str | None
    keyword_only: bool

    @property
    def optional(self) -> bool:
        return self.type.endswith("?")

    @property
    def base(self) -> str:
        return self.type.rstrip("?")

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Schema:
    name: str
    params: tuple[Param, ...]
    returns: tuple[str, ...]

    @property
    def positional(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.keyword_only)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def parse(text: str) -> Schema:
    """`name(args) -> returns` into a Schema."""
    m = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\((.*)\)\s*->\s*(.+?)\s*", text, re.S)
    if m is None:
        raise SchemaError(f"not a schema: {text[:120]!r}")
    name, args, ret = m.groups()
    params, kw_only = [], False
    for token in _split_top(args):
        if token == "*":
            kw_only = True
            continue
        a = _ARG.match(token)
        if a is None:
            raise SchemaError(f"argument {token!r} of {name} does not parse")
        params.append(Param(a["name"], a["type"], a["default"], kw_only))
    ret = ret.strip()
    returns = tuple(_split_top(ret[1:-1])) if ret.startswith("(") else (ret,)
    return Schema(name, tuple(params), returns)


def type_tag(value: Any) -> str:
    """The schema type a Python value passes as (what a recorded call stores)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "int[]"
        return "list"
    import torch

    if isinstance(value, torch.Tensor):
        return "Tensor"
    return type(value).__name__


def fits(param: Param, tag: str) -> bool:
    """Whether a value of type `tag` binds to `param` (no implicit conversions)."""
    if tag == "None":
        return param.optional
    base = param.base
    if base.endswith("]"):
        return tag == "int[]" and base.startswith("int[")
    return tag == base or (base == "float" and tag == "int")


def binding_errors(schema: Schema, positional: list[str], keywords: dict[str, str],
                   exact: bool = True) -> list[str]:
    """Everything that keeps a call (the type tags of its positional and keyword arguments) from
    binding to `schema`; an empty list when it binds. `exact`: keywords only for keyword-only
    parameters (the adapter's contract); torch itself also lets a positional one be named."""
    errors = []
    slots = schema.positional
    if len(positional) > len(slots):
        errors.append(f"{len(positional)} positional arguments, the schema takes {len(slots)}")
    given = set()
    for i, tag in enumerate(positional[:len(slots)]):
        p = slots[i]
        given.add(p.name)
        if not fits(p, tag):
            errors.append(f"positional argument {i} ({p.name}) is {tag}, the schema says {p.type}")
    for name, tag in keywords.items():
        p = schema.param(name)
        if p is None:
            errors.append(f"keyword {name!r} is not in the schema")
            continue
        if name in given:
            errors.append(f"{name} is given both positionally and by keyword")
        if exact and not p.keyword_only:
            errors.append(f"{name} is passed by keyword but is positional in the schema")
        if not fits(p, tag):
            errors.append(f"keyword {name} is {tag}, the schema says {p.type}")
        given.add(name)
    for p in schema.params:
        if p.required and p.name not in given:
            errors.append(f"required argument {p.name} ({p.type}) is missing")
    return errors
