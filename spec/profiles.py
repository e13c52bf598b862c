"""Spec profiles: per contract version, what each clause's violation returns.

A profile is a TOML file in its operator's `profiles/` directory (see ops/alltoallv_gmm/profiles/
doc.toml for the format); adding a contract version is adding a file. `[values]` replaces a
clause rule's parameters (for example the set of epWorldSize a version accepts).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from spec.operator import Operator
from spec.rules import Rule

KINDS = ("status", "accepted", "unchecked", "undefined", "checked", "ambiguous")
NAMED_KINDS = ("accepted", "unchecked", "undefined", "checked")  # written as a bare string
_ACCEPTED = "a status code, {status = N, stage = 1|2}, {readings = [...]}, or one of " + \
    ", ".join(NAMED_KINDS)
# What a profile records: the published text of a version, or what the shipped code does.
PROFILE_KINDS = ("published", "shipped")


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class Enforcement:
    kind: str
    status: int = 0
    stage: int = 1
    readings: tuple[Enforcement, ...] = ()  # "ambiguous": what each reading of the text gives

    def describe(self) -> str:
        if self.kind == "ambiguous":
            return "ambiguous in the text: " + " or ".join(r.describe() for r in self.readings)
        if self.kind == "status":
            return f"status {self.status} at stage {self.stage}"
        return {
            "accepted": "accepted (both stages succeed)",
            "unchecked": "not checked (first stage succeeds, what follows is undefined)",
            "undefined": "undefined (a precondition, not tested)",
            "checked": "checked on valid calls",
        }[self.kind]


@dataclass(frozen=True)
class Profile:
    operator: Operator
    name: str
    title: str
    path: Path
    enforcement: dict[str, Enforcement | dict[str, Enforcement]]  # a dict: one per product
    values: dict[str, dict]
    kind: str = "published"  # PROFILE_KINDS: a shipped profile is what the real first stage does
    entries: tuple[str, ...] = ("v1",)  # the entry points this version has (V2: July 2026)
    products: tuple[str, ...] = ()  # the products this version runs on (its operator's, unless
    # the version registered the operator for fewer)

    def __hash__(self) -> int:
        return hash((self.operator.name, self.name))

    def __repr__(self) -> str:  # a strategy's repr names it: the whole mapping is 40 kB
        return f"Profile({self.operator.name}: {self.name})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis prints it (its pretty-printer walks a dataclass's fields otherwise)."""
        printer.text(repr(self))

    def enforces(self, clause_id: str, product: str | None = None) -> Enforcement:
        """What violating the clause gives (the first reading where the text admits several);
        a clause mapped per product needs the product (unless every product gets the same)."""
        return self.readings(clause_id, product)[0]

    def readings(self, clause_id: str, product: str | None = None) -> tuple[Enforcement, ...]:
        """Every outcome the text admits for violating the clause: one, unless it is ambiguous."""
        entry = self.enforcement[clause_id]
        if isinstance(entry, dict):
            if product is not None:
                entry = entry[product]
            elif len(set(entry.values())) == 1:
                entry = next(iter(entry.values()))
            else:
                raise ValueError(f"{clause_id} is mapped per product in profile {self.name}: "
                                 "name one")
        return entry.readings if entry.kind == "ambiguous" else (entry,)

    def resolved(self, clause_id: str, reading: Enforcement) -> Profile:
        """This profile with one ambiguous clause read one way (a profile of its own name)."""
        mapping = dict(self.enforcement)
        mapping[clause_id] = reading
        return dataclasses.replace(self, name=f"{self.name}[{clause_id}: {reading.describe()}]",
                                   enforcement=mapping)

    def per_product(self, clause_id: str) -> dict[str, Enforcement]:
        entry = self.enforcement[clause_id]
        return entry if isinstance(entry, dict) else dict.fromkeys(
            self.operator.clause[clause_id].products, entry)

    def rule(self, clause_id: str) -> Rule | None:
        rule = self.operator.clause[clause_id].rule
        if rule is not None and clause_id in self.values:
            rule = dataclasses.replace(rule, **self.values[clause_id])
        return rule


def _parse_entry(where: str, value: object, op: Operator | None = None,
                 clause_id: str | None = None) -> Enforcement | dict[str, Enforcement]:
    if op is not None and clause_id and isinstance(value, dict) and set(value) & set(op.products):
        products = set(op.clause[clause_id].products)
        if set(value) != products:
            raise ProfileError(f"{where}: a per-product entry names exactly the clause's "
                               f"products ({', '.join(sorted(products))}), got {sorted(value)}")
        return {prod: _parse_entry(f"{where} ({prod})", v) for prod, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return Enforcement("status", value, 1)
    if isinstance(value, str):
        if value not in NAMED_KINDS:
            raise ProfileError(f"{where}: unknown value {value!r}; accepted: {_ACCEPTED}")
        return Enforcement(value)
    if isinstance(value, dict) and set(value) == {"readings"}:
        readings = value["readings"]
        if not isinstance(readings, list) or len(readings) < 2:
            raise ProfileError(f"{where}: readings must list at least two outcomes")
        parsed = tuple(_parse_entry(f"{where} (reading {i + 1})", r)
                       for i, r in enumerate(readings))
        if any(r.kind == "ambiguous" for r in parsed):
            raise ProfileError(f"{where}: a reading cannot itself be ambiguous")
        return Enforcement("ambiguous", readings=parsed)
    if isinstance(value, dict) and set(value) <= {"status", "stage"} and "status" in value:
        stage = value.get("stage", 1)
        if stage not in (1, 2) or not isinstance(value["status"], int):
            raise ProfileError(f"{where}: status must be an integer and stage 1 or 2")
        return Enforcement("status", value["status"], stage)
    raise ProfileError(f"{where}: cannot read {value!r}; accepted: {_ACCEPTED}")


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{path.name}: not valid TOML: {err}") from err


def available(op: Operator, directory: Path | None = None) -> tuple[str, ...]:
    """The profiles of `op` (of `directory` instead of its own, if given)."""
    directory = op.profile_dir if directory is None else directory
    return tuple(sorted(_read(p).get("name", p.stem) for p in directory.glob("*.toml")))


@cache
def load(op: Operator, name: str, directory: Path | None = None) -> Profile:
    """`op`'s profile called `name` among the TOML files of its profile directory (or of
    `directory`), `extends` resolved."""
    directory = op.profile_dir if directory is None else directory
    paths = {(_read(p).get("name", p.stem)): p for p in directory.glob("*.toml")}
    if name not in paths:
        if name in op.absent_profiles:
            raise ProfileError(f"{op.title} has no spec profile {name!r}: "
                               f"{op.absent_profiles[name]}; available: {', '.join(sorted(paths))}")
        raise ProfileError(f"unknown spec profile {name!r} of {op.title}; available: "
                           f"{', '.join(sorted(paths))}")
    path = paths[name]
    data = _read(path)
    unknown = set(data) - {"name", "title", "kind", "extends", "entries", "products", "clauses",
                           "values"}
    if unknown:
        raise ProfileError(f"{path.name}: unknown keys {sorted(unknown)}; accepted: name, title, "
                           "kind, extends, entries, products, clauses, values")
    kind = data.get("kind", "published")
    if kind not in PROFILE_KINDS:
        raise ProfileError(f"{path.name}: kind {kind!r}; accepted: {', '.join(PROFILE_KINDS)}")
    enforcement: dict[str, Enforcement] = {}
    values: dict[str, dict] = {}
    entries: tuple[str, ...] = ("v1",)
    products = tuple(op.products)
    if "extends" in data:
        base = load(op, data["extends"], directory)
        enforcement.update(base.enforcement)
        values.update(base.values)
        entries, products = base.entries, base.products
    entries = _some_of(path, data, "entries", op.entries, entries)
    products = _some_of(path, data, "products", op.products, products)
    clause = op.clause
    for cid, value in data.get("clauses", {}).items():
        if cid not in clause:
            raise ProfileError(f"{path.name}: clause {cid!r} is not a clause of {op.title}")
        enforcement[cid] = _parse_entry(f"{path.name}: {cid}", value, op, cid)
    for cid, params in data.get("values", {}).items():
        if cid not in clause or clause[cid].rule is None:
            raise ProfileError(f"{path.name}: [values] names {cid!r}, which has no rule")
        fields = {f.name for f in dataclasses.fields(clause[cid].rule)}
        if not isinstance(params, dict) or not set(params) <= fields:
            raise ProfileError(f"{path.name}: [values] {cid}: accepted keys {sorted(fields)}")
        values[cid] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    if kind == "shipped":  # code does one thing: its profile admits no second reading
        vague = sorted(cid for cid, e in enforcement.items()
                       if any(x.kind == "ambiguous" for x in (e.values() if isinstance(e, dict)
                                                              else (e,))))
        if vague:
            raise ProfileError(f"{path.name}: a shipped profile is exact; map one outcome for "
                               f"{', '.join(vague)} (ambiguous readings are for published texts)")
    return Profile(op, name, data.get("title", name), path, enforcement, values, kind, entries,
                   products)


def _some_of(path: Path, data: dict, key: str, allowed: tuple[str, ...],
             inherited: tuple[str, ...]) -> tuple[str, ...]:
    """The profile's `key` (entries, products): a non-empty list of the operator's, else the
    version before's."""
    if key not in data:
        return inherited
    chosen = tuple(data[key]) if isinstance(data[key], list) else ()
    if not chosen or not set(chosen) <= set(allowed):
        raise ProfileError(f"{path.name}: {key} {data[key]!r}; accepted: a list of "
                           f"{', '.join(allowed)}")
    return chosen


@cache
def known(op: Operator) -> tuple[Profile, ...]:
    """Every profile of `op`, read once per process (hot paths ask per case)."""
    return tuple(load(op, n) for n in available(op))


def missing_mappings(profile: Profile) -> list[str]:
    """Clause ids the profile does not map (a complete profile returns []); a clause of an entry
    point the version does not have (V2's commMode before July 2026) needs no mapping."""
    return [cid for cid, c in profile.operator.clause.items()
            if cid not in profile.enforcement and set(c.entries) & set(profile.entries)]


def inconsistent_mappings(profile: Profile) -> list[str]:
    """Mappings that cannot apply: a status for a clause without a rule, "checked" for one with."""
    bad = []
    clause = profile.operator.clause
    for cid in profile.enforcement:
        has_rule = clause[cid].rule is not None
        for enf in {r for p in clause[cid].products for r in profile.readings(cid, p)}:
            if (enf.kind == "checked") == has_rule:
                bad.append(f"{cid}: {enf.kind}")
            elif enf.kind == "status" and clause[cid].stage != enf.stage:
                bad.append(f"{cid}: stage {enf.stage}, the rule is checked at stage "
                           f"{clause[cid].stage}")
    return bad
