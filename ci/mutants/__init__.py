"""The catalog of implementations that measures the suite's power over aclnnAlltoAllvGroupedMatMul
(`OPERATOR`): every entry is built on that operator's simulator and meets that operator's tier.

Mutants (`routing`, `arithmetic`, `tiles`, `outputs`, `validation`, `nondeterminism`) are faulty
variants of the reference simulator, one fault each: the PR tier must fail every one. Variants
(`variants`) are correct implementations that differ from the sim where the contract leaves
room: the PR tier must pass every one. `python -m ci.mutation` runs them all.

Each entry loads as a backend: `--backend ci.mutants.<module>:<name>` (for example
`--backend ci.mutants.routing:source_major_permute`), or by catalog name through
`--backend ci.mutants:factory --backend-option entry=routing.source_major_permute`.
Every factory takes the sim's `behavior=doc|cann-2025.12` (default "doc"). A few faults are
faults of the published text only (the shipped code does just that, e.g. no 100 MB ceiling):
their entries name the profiles they apply to, and ci.mutation leaves them out under others.
"""

from __future__ import annotations

from ci.mutants import arithmetic, nondeterminism, outputs, routing, tiles, validation, variants
from ci.mutants._base import KINDS, REGISTRY, Entry
from ops.alltoallv_gmm.sim import SimBackend

OPERATOR = "alltoallv_gmm"  # the operator (ops/) whose simulator the entries derive from

FAMILIES = tuple(m.__name__.rpartition(".")[2] for m in (
    routing, arithmetic, tiles, outputs, validation, nondeterminism, variants))
CATALOG: dict[str, Entry] = dict(REGISTRY)


class UnknownEntry(KeyError):
    """A name that is not in the catalog; the message lists what is."""

    def __str__(self) -> str:
        return str(self.args[0])


def get(name: str) -> Entry:
    if name not in CATALOG:
        raise UnknownEntry(f"unknown catalog entry {name!r}; entries are <module>.<name>, e.g. "
                           f"{next(iter(CATALOG))} (python -m ci.mutation --list shows all)")
    return CATALOG[name]


def entries(kind: str | None = None) -> list[Entry]:
    """The catalog in a stable order (family, then name), optionally of one kind."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind {kind!r}; accepted: {', '.join(KINDS)}")
    order = {f: i for i, f in enumerate(FAMILIES)}
    chosen = [e for e in CATALOG.values() if kind is None or e.kind == kind]
    return sorted(chosen, key=lambda e: (order[e.family], e.name))


def factory(entry: str = "", **options) -> SimBackend:
    """A catalog entry by name: `--backend ci.mutants:factory --backend-option entry=NAME`."""
    if not entry:
        raise ValueError("ci.mutants:factory needs --backend-option entry=<module>.<name>")
    try:
        return get(entry).make(**options)
    except UnknownEntry as err:
        raise ValueError(str(err)) from None


__all__ = ["CATALOG", "FAMILIES", "Entry", "UnknownEntry", "entries", "factory", "get"]
