"""The operators under test, one package each, and the registry the engine finds them in.

`ops/<name>/__init__.py` builds its `spec.operator.Operator` and registers it; the engine asks
`get(name)` and never imports an operator's module by name. The built-in operators are listed
here by package, imported on first use; an operator defined elsewhere (one a test defines, a
user's own) registers itself, and a rank process finds it again through its `home` module.
"""

from __future__ import annotations

import importlib

from spec.operator import Operator

BUILT_IN = ("ops.alltoallv_gmm", "ops.gmm_alltoallv", "ops.moe_layer")

_REGISTRY: dict[str, Operator] = {}


def register(op: Operator) -> Operator:
    """Make `op` known by its name (again, for the same record, is a no-op)."""
    known = _REGISTRY.get(op.name)
    if known is not None and known is not op and known.home != op.home:
        raise ValueError(f"operator {op.name!r} is registered already, by {known.home}")
    _REGISTRY[op.name] = op
    return op


_loaded = False


def _load_built_in() -> None:
    """Import the built-in operators once (every rank of every case asks for its operator)."""
    global _loaded
    if not _loaded:
        for package in BUILT_IN:
            importlib.import_module(package)
        _loaded = True


def names() -> tuple[str, ...]:
    """Every registered operator, the built-in ones first."""
    _load_built_in()
    return tuple(_REGISTRY)


def get(name: str, home: str | None = None) -> Operator:
    """The operator called `name`; `home` (its defining module) is imported when the name is not
    registered yet (a rank process meeting a test's operator). KeyError names what is known."""
    _load_built_in()
    if name not in _REGISTRY and home:
        importlib.import_module(home)
    if name not in _REGISTRY:
        raise KeyError(f"unknown operator {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def case_from_dict(data: object) -> object:
    """A case of whichever registered operator its JSON's `schema` names (CaseFormatError when
    none does)."""
    from spec.case import CaseFormatError

    schema = data.get("schema") if isinstance(data, dict) else None
    for name in names():
        op = _REGISTRY[name]
        if getattr(op.case_type, "SCHEMA", None) == schema:
            return op.case_from_dict(data)
    known = ", ".join(repr(_REGISTRY[n].case_type.SCHEMA) for n in names())
    raise CaseFormatError(f"case field 'schema': expected one of {known}, got {schema!r}")


def of(case: object) -> Operator:
    """The operator a case belongs to (its class names it: `OPERATOR`)."""
    return get(type(case).OPERATOR)


def select(raw: str | None) -> tuple[Operator, ...]:
    """`--operator NAME[,NAME]` (None or empty: every registered operator); ValueError names
    what is accepted."""
    known = names()
    chosen = known if not raw or not raw.strip() else tuple(
        n.strip() for n in raw.split(",") if n.strip())
    bad = [n for n in chosen if n not in known]
    if not chosen or bad:
        raise ValueError(f"--operator {raw!r}: unknown operator {bad[0] if bad else '(none)'}; "
                         f"accepted: {', '.join(known)} (comma-separated)")
    return tuple(_REGISTRY[n] for n in chosen)
