"""What the engine knows of an operator under test: one declarative record (OpInfo's idea, nccl-tests'
`struct testColl`), read by strategies, expectation, harness, runner, reports and CI.

An operator package (`ops/<name>/`) builds one `Operator` from its parameter table, its clauses
(in the order the shipped code checks them), its profiles, its case model and the modules that
hold its strategies, oracle, data recipe, simulator and backends; `ops.register` makes it known.
The engine never imports an operator's module by name: it asks the record.

The parameter table is the one table of names: C names, the backend protocol's keywords, roles
and kinds; everything the engine needs by name (the first stage's keywords, the outputs, the
inputs it materialises) derives from it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fixtures.protocol import (
    FORMATS as FORMAT_ARGS,
)
from fixtures.protocol import (
    NULL_ATTRIBUTES,
    NULL_INPUTS,
    NULL_OUT_POINTERS,
    OUTPUT_ARGS,
    STAGE_CONTROL,
)

if TYPE_CHECKING:
    from spec.profiles import Profile
    from spec.rules import Rule

__all__ = [
    "AREAS",
    "FORMAT_ARGS",
    "NULL_ATTRIBUTES",
    "NULL_INPUTS",
    "NULL_OUT_POINTERS",
    "OUTPUT_ARGS",
    "STAGE_CONTROL",
    "Area",
    "Clause",
    "Operator",
    "Param",
]


@dataclass(frozen=True)
class Area:
    """An area of a contract: one module of suites/ (test_<module>.py) tests its clauses."""

    title: str
    short: str  # a column heading of five letters or fewer (the mutation kill matrix)
    module: str


AREAS: dict[str, Area] = {
    "null": Area("Null pointers", "null", "null_pointers"),
    "params": Area("Invalid parameters", "param", "invalid_params"),
    "boundaries": Area("Boundaries", "bound", "boundaries"),
    "numerics": Area("Numerics", "numer", "numerics"),
    "optional": Area("Optional outputs and transposes", "optio", "optional_outputs"),
    "products": Area("Products", "produ", "products"),
    "stages": Area("Two-stage protocol", "stage", "two_stage"),
    "integrity": Area("Output integrity", "integ", "output_integrity"),
    # An operator composed of others (`Operator.halves`): the composite's own properties.
    "roundtrip": Area("MoE layer round trip", "round", "round_trip"),
}


@dataclass(frozen=True)
class Param:
    """One parameter of the two-stage C API, as its published table states it."""

    name: str  # the id the suite uses (the C name without the `Optional` suffix)
    c_name: str
    py_name: str  # the keyword of the backend protocol ("" for a first-stage out pointer)
    stage: int
    role: str  # "input", "output" or "attribute"
    required: bool
    kind: str  # "tensor", "int_array", "string", "int", "bool", "pointer"
    text: str
    dtypes: tuple[str, ...] = ()
    rank: int | None = None
    formats: tuple[str, ...] = ()
    shape: str = ""
    entries: tuple[str, ...] = ()  # the entry points that take it (empty: every one)

    @property
    def is_tensor(self) -> bool:
        return self.kind == "tensor"


@dataclass(frozen=True)
class Clause:
    """One rule of a contract with a stable id; its status per version is a profile's."""

    id: str
    area: str
    text: str
    rule: Rule | None = None
    source: str = ""
    products: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # backend capabilities its invalid side needs (fixtures.protocol)
    entries: tuple[str, ...] = ()  # the entry points whose calls the clause speaks of

    @property
    def has_invalid_side(self) -> bool:
        return self.rule is not None

    @property
    def stage(self) -> int:
        return self.rule.stage if self.rule is not None else 2

    @property
    def world_rule(self) -> bool:
        return bool(getattr(self.rule, "world", False))


@dataclass(frozen=True, eq=False)
class Operator:
    """An operator under test. The modules named are imported when first asked for (`part`), so
    reading the record costs nothing and a rank process loads only what it runs."""

    name: str  # the registry key and `--operator` value
    title: str  # the C API's name, e.g. aclnnAlltoAllvGroupedMatMul
    home: str  # the module defining the record: importing it registers the operator
    params: tuple[Param, ...]
    clauses: tuple[Clause, ...]  # in the order the shipped first stage checks them
    products: tuple[str, ...]
    entries: tuple[str, ...]  # entry points: "v1", and "v2" where the API has a V2
    symbols: Mapping[str, str]  # entry: the C function (its first stage adds GetWorkspaceSize)
    dtypes: tuple[str, ...]  # the dtypes a cell is drawn in
    profile_dir: Path
    case_type: type  # the case model (from_dict, from_json, dict_from_compact, calls)
    parts: Mapping[str, str]  # role: module (strategies, oracle, data, production, mutants, ...)
    backends: Mapping[str, str] = field(default_factory=dict)  # built-in name: module:factory
    regressions: Path | None = None  # saved cases replayed as explicit examples
    # A contract version another operator has a profile of, which this one lacks: why (what its
    # sources do not record), so a run asking for it says what is missing.
    absent_profiles: Mapping[str, str] = field(default_factory=dict)
    # A composite operator (one MoE layer's round trip) is made of calls of these registered
    # operators: its world sizes are those every one supports, and a backend named for it
    # stands for the backend of each (`composer`, module:factory, is given it as `backend=`).
    halves: tuple[str, ...] = ()
    composer: str = ""

    def __repr__(self) -> str:
        return f"Operator({self.name})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis prints it (its pretty-printer walks a dataclass's fields otherwise)."""
        printer.text(repr(self))

    # -- clauses ---------------------------------------------------------------------------
    @cached_property
    def clause(self) -> dict[str, Clause]:
        return {c.id: c for c in self.clauses}

    @cached_property
    def order(self) -> dict[str, int]:
        return {c.id: i for i, c in enumerate(self.clauses)}

    def clauses_for(self, product: str, area: str | None = None, entry: str | None = "v1"
                    ) -> tuple[Clause, ...]:
        """The clauses of a product (and area) that speak of calls of `entry` (None: any)."""
        return tuple(c for c in self.clauses if product in c.products
                     and (area is None or c.area == area)
                     and (entry is None or entry in c.entries))

    def world_sizes(self, product: str) -> tuple[int, ...]:
        """The epWorldSize values the published contract supports on `product`."""
        if product not in self.products:
            raise ValueError(f"unknown product {product!r}; accepted: {', '.join(self.products)}")
        if self.halves:  # a composite runs where every operator it is made of runs
            import ops

            sizes = [ops.get(h).world_sizes(product) for h in self.halves]
            return tuple(s for s in sizes[0] if all(s in other for other in sizes[1:]))
        return self.clause[f"PRODUCT.{product}.epWorldSize"].rule.values

    # -- the parameter table ---------------------------------------------------------------
    @cached_property
    def param(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    @cached_property
    def first_stage_args(self) -> tuple[str, ...]:
        """The first stage's keywords of the backend protocol every entry point takes, in C
        order (a later entry point's own arguments, V2's commMode, are passed by name)."""
        return tuple(p.py_name for p in self.params
                     if p.stage == 1 and p.py_name and not p.entries)

    @cached_property
    def py_name(self) -> dict[str, str]:
        """Tensor parameter: its keyword."""
        return {p.name: p.py_name for p in self.params if p.stage == 1 and p.is_tensor}

    @cached_property
    def outputs(self) -> tuple[str, ...]:
        """The output tensors, in C order."""
        return tuple(p.name for p in self.params if p.is_tensor and p.role == "output")

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """The input tensors, in C order."""
        return tuple(p.name for p in self.params if p.is_tensor and p.role == "input")

    @cached_property
    def required_inputs(self) -> tuple[str, ...]:
        return tuple(n for n in self.inputs if self.param[n].required)

    @cached_property
    def attributes(self) -> tuple[str, ...]:
        """First-stage attributes that can be null pointers (strings and arrays)."""
        return tuple(p.name for p in self.params if p.stage == 1 and p.role == "attribute"
                     and p.kind in ("string", "int_array"))

    @cached_property
    def out_pointers(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.stage == 1 and p.kind == "pointer")

    # -- versions --------------------------------------------------------------------------
    def profile(self, name: str) -> Profile:
        from spec.profiles import load

        return load(self, name)

    def profiles(self) -> tuple[str, ...]:
        from spec.profiles import available

        return available(self)

    # -- the modules behind the record -----------------------------------------------------
    def part(self, role: str) -> ModuleType:
        if role not in self.parts:
            raise KeyError(f"operator {self.name} has no {role!r} part; it has "
                           f"{', '.join(sorted(self.parts))}")
        return importlib.import_module(self.parts[role])

    def case_from_dict(self, data: Any) -> Any:
        return self.case_type.from_dict(data)
