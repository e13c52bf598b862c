"""The round trip of one MoE layer (issue 16): the dispatch operator aclnnAlltoAllvGroupedMatMul
then the combine aclnnGroupedMatMulAlltoAllv on the same world, with the two count lists swapped
and the weight transposed for the backward, as MindSpeed's fused MoE layer pairs them
(contracts/gmm_alltoallv.md section 7). A composite operator (`halves`): its calls are made of
the two operators' calls, its backends compose theirs by name (`pair.py`), its worlds are valid
for both (`builders.py`), and its clauses are the pair's properties (`clauses.py`):
ROUNDTRIP.identity, ROUNDTRIP.composite and ROUNDTRIP.backward, tested by
suites/test_round_trip.py.
"""

from __future__ import annotations

from pathlib import Path

from fixtures.backends import BUILTINS
from ops import register
from ops.moe_layer.case import Case
from ops.moe_layer.clauses import CLAUSES, ENTRIES, HALVES, PARAMS, both
from spec.operator import Operator

HERE = Path(__file__).parent

OPERATOR = register(Operator(
    name="moe_layer",
    title="MoE layer round trip (aclnnAlltoAllvGroupedMatMul, aclnnGroupedMatMulAlltoAllv)",
    home=__name__,
    params=PARAMS,
    clauses=CLAUSES,
    # what both operators have: the pair's products, entry points and dtypes
    **{attr: both(attr) for attr in ("products", "entries", "dtypes")},
    # each entry point's call is both operators' calls of that entry point, one after the other
    symbols={e: "+".join(half.symbols[e] for half in HALVES) for e in ENTRIES},
    profile_dir=HERE / "profiles",
    case_type=Case,
    parts={
        "strategies": "ops.moe_layer.builders",
        "oracle": "ops.moe_layer.oracle",
        "data": "ops.moe_layer.data",
    },
    backends={name: f"ops.moe_layer.pair:{name}" for name in BUILTINS},
    absent_profiles={
        "cann-2025.12": "aclnnGroupedMatMulAlltoAllv has no profile of the December 2025 code, "
                        "so the pair has none",
    },
    halves=tuple(half.name for half in HALVES),
    composer="ops.moe_layer.pair:factory",
))
