"""The mutant catalog of aclnnAlltoAllvGroupedMatMul: implementations built on its simulator that
measure the suite's power over it (the operator's `mutants` part; `python -m ci.mutation` runs
it).

Mutants (`routing`, `arithmetic`, `tiles`, `outputs`, `validation`, `nondeterminism`) are faulty
variants of the reference simulator, one fault each: the PR tier must fail every one. Variants
(`variants`) are correct implementations that differ from the sim where the contract leaves
room: the PR tier must pass every one.

Each entry loads as a backend: `--backend ops.alltoallv_gmm.mutants.<module>:<name>` (for
example `--backend ops.alltoallv_gmm.mutants.routing:source_major_permute`), or by catalog name
through `--backend ops.alltoallv_gmm.mutants:factory --backend-option
entry=routing.source_major_permute`. Every factory takes the sim's `behavior=` (a contract
version, default "doc"). A few faults are faults of the published text only (the shipped code
does just that, e.g. no 100 MB ceiling): their entries name the profiles they apply to, and
ci.mutation leaves them out under others.
"""

from __future__ import annotations

from ops.alltoallv_gmm.mutants import (
    arithmetic,
    nondeterminism,
    outputs,
    routing,
    tiles,
    validation,
    variants,
)
from ops.alltoallv_gmm.mutants._base import KINDS, REGISTRY, Entry
from ops.alltoallv_gmm.sim import SimBackend

FAMILIES = tuple(m.__name__.rpartition(".")[2] for m in (
    routing, arithmetic, tiles, outputs, validation, nondeterminism, variants))
CATALOG: dict[str, Entry] = dict(REGISTRY)

# The subset the suite's own tests run (`python -m ci.mutation --quick`): one mutant per family,
# each caught at ep = 4 on 910_95, and every variant, on a selection that stays small.
QUICK_ENTRIES = ("routing.source_major_permute", "arithmetic.wrong_expert_weight",
                 "outputs.write_past_gmm_y", "validation.h1_accepts_65536",
                 "tiles.m_tail_from_previous_tile",
                 "nondeterminism.racy_split_k", "variants.float64_accumulation",
                 "variants.reversed_block_order", "variants.chunked_pipeline")
QUICK_OPTIONS = {"product": "910_95", "world_sizes": "4"}
QUICK_KEYWORD = "(float16 and (CALC or OUT or RANGE.H1)) or regression"


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
    """A catalog entry by name: `--backend ops.alltoallv_gmm.mutants:factory --backend-option
    entry=NAME`."""
    if not entry:
        raise ValueError(f"{__name__}:factory needs --backend-option entry=<module>.<name>")
    try:
        return get(entry).make(**options)
    except UnknownEntry as err:
        raise ValueError(str(err)) from None


__all__ = ["CATALOG", "FAMILIES", "QUICK_ENTRIES", "QUICK_KEYWORD", "QUICK_OPTIONS", "Entry",
           "UnknownEntry", "entries", "factory", "get"]
