"""The mutant catalog of aclnnGroupedMatMulAlltoAllv (the combine): implementations built on its
simulator that measure the suite's power over it (the operator's `mutants` part;
`python -m ci.mutation --operator gmm_alltoallv` runs it). The machinery is the dispatch
catalog's, shared through fixtures/catalog.py and fixtures/checks.py.

Mutants (`routing` of the Unpermute and the AlltoAllv, expert `weights`, `arithmetic`, `tiles` of
its grouped matmul and shared expert, `outputs`, `validation`, `nondeterminism`) are faulty
variants of the reference simulator, one fault each: the PR tier must fail every one. Variants
(`variants`) are correct implementations that differ from the sim where the contract leaves
room: the PR tier must pass every one. The combine has no optional output of its intermediates.

Each entry loads as a backend: `--backend ops.gmm_alltoallv.mutants.<module>:<name>`, or by
catalog name through `--backend ops.gmm_alltoallv.mutants:factory --backend-option entry=NAME`.
Every factory takes the sim's `behavior=` (a contract version, default "doc"). A fault of one
version only (a check the shipped code alone has, a code the text leaves open) names the profiles
it applies to, and ci.mutation leaves it out under others.
"""

from __future__ import annotations

from fixtures.catalog import Catalog, Entry, UnknownEntry
from ops.gmm_alltoallv.mutants import (
    arithmetic,
    nondeterminism,
    outputs,
    routing,
    tiles,
    validation,
    variants,
    weights,
)

_CATALOG = Catalog(__name__, (routing, weights, arithmetic, tiles, outputs, validation,
                              nondeterminism, variants))
FAMILIES = _CATALOG.families
CATALOG: dict[str, Entry] = _CATALOG.by_name
get = _CATALOG.get  # the entry of a name: UnknownEntry lists what the names look like
entries = _CATALOG.entries  # the catalog in a stable order (family, then name), of one kind
factory = _CATALOG.factory  # `--backend ops.gmm_alltoallv.mutants:factory --backend-option entry=NAME`

# The subset the suite's own tests run (`python -m ci.mutation --operator gmm_alltoallv --quick`):
# one mutant per family and every variant, on one product and world size and a small selection.
QUICK_ENTRIES = ("routing.expert_major_unpermute", "weights.wrong_expert_weight",
                 "arithmetic.shared_expert_skipped", "tiles.m_tail_from_previous_tile",
                 "outputs.write_past_y",
                 "validation.h1_accepts_65536", "nondeterminism.racy_split_k",
                 "variants.float64_accumulation", "variants.reversed_block_order",
                 "variants.unpermute_first", "variants.destination_pipeline", "variants.torch_ops")
QUICK_OPTIONS = {"product": "910_95", "world_sizes": "4"}
QUICK_KEYWORD = "(float16 and (CALC or OUT or RANGE.H1)) or regression"

__all__ = ["CATALOG", "FAMILIES", "QUICK_ENTRIES", "QUICK_KEYWORD", "QUICK_OPTIONS", "Entry",
           "UnknownEntry", "entries", "factory", "get"]
