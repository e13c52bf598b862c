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

from fixtures.catalog import Catalog, Entry, UnknownEntry
from ops.alltoallv_gmm.mutants import (
    arithmetic,
    nondeterminism,
    outputs,
    routing,
    tiles,
    validation,
    variants,
)

_CATALOG = Catalog(__name__, (routing, arithmetic, tiles, outputs, validation, nondeterminism,
                              variants))
FAMILIES = _CATALOG.families
CATALOG: dict[str, Entry] = _CATALOG.by_name
get = _CATALOG.get  # the entry of a name: UnknownEntry lists what the names look like
entries = _CATALOG.entries  # the catalog in a stable order (family, then name), of one kind
factory = _CATALOG.factory  # `--backend ops.alltoallv_gmm.mutants:factory --backend-option entry=NAME`

# The subset the suite's own tests run (`python -m ci.mutation --quick`): one mutant per family,
# each caught at ep = 4 on 910_95, and every variant, on a selection that stays small.
QUICK_ENTRIES = ("routing.source_major_permute", "arithmetic.wrong_expert_weight",
                 "outputs.write_past_gmm_y", "validation.h1_accepts_65536",
                 "tiles.m_tail_from_previous_tile",
                 "nondeterminism.racy_split_k", "variants.float64_accumulation",
                 "variants.reversed_block_order", "variants.chunked_pipeline")
QUICK_OPTIONS = {"product": "910_95", "world_sizes": "4"}
QUICK_KEYWORD = "(float16 and (CALC or OUT or RANGE.H1)) or regression"


__all__ = ["CATALOG", "FAMILIES", "QUICK_ENTRIES", "QUICK_KEYWORD", "QUICK_OPTIONS", "Entry",
           "UnknownEntry", "entries", "factory", "get"]
