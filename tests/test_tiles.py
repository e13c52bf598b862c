"""The tile boundaries as data, and the PR tier's computed worlds on them.

The PR tier's draws are derandomised per cell, so drawing its tile cells here, as the suite
does, counts what a PR-tier run computes without running it.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, seed, settings

import ops
from ops.alltoallv_gmm import OPERATOR as OP
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.tile_worlds import categories
from ops.alltoallv_gmm.tiles import KERNEL_2026, Axis, tiling
from spec.expect import expect_case
from spec.outcome import Cell
from strategies import clause_cases, world_bytes
from strategies import tier as tiers
from suites._conformance import DERANDOMIZED, cell_seed

TILE_CLAUSES = ("CALC.gmm", "CALC.mm", "CALC.permute", "CALC.transGmmWeight",
                "CALC.transMmWeight")
NEEDED = {"group_rows>M_tile": 50, "N_tail": 50, "H1_K_tail": 50, "e>=5": 50,
          "rows>index_width": 1}


def test_axis_values_sit_on_both_sides_of_every_tile() -> None:
    values = Axis(tiles=(16, 256), extra=(1000,)).values()
    assert values == (15, 16, 17, 255, 256, 257, 1000)
    assert Axis(tiles=(256,), extra=(513, 512)).past(256) == (257, 513)


def test_the_2026_kernel_table() -> None:
    t = tiling()
    assert t is KERNEL_2026
    assert {4, 5, 16, 17} <= set(t.chunk_edges())
    assert [t.experts_in_chunk(e) for e in (4, 5, 16, 17)] == [1, 4, 4, 8]
    assert {4097, 7168, 12289} <= set(t.k.past(t.k_block))
    assert {255, 257, 513, 1000, 4097} <= set(t.n.values())
    with pytest.raises(KeyError, match="accepted: alltoallv-gmm-2026"):
        tiling("nope")


def _pr_cases(cell: Cell, profile) -> list[Case]:
    """The cases the PR tier draws for `cell`: three examples from the cell's own seed."""
    got: list[Case] = []

    @seed(cell_seed(DERANDOMIZED, cell.id))
    @settings(max_examples=3, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=clause_cases(cell.clause, cell.side, cell.product, cell.ep, profile, cell.dtype))
    def draw(case: Case) -> None:
        got.append(case)

    draw()
    return got


def _short_of_needed(operator: str, clauses: tuple[str, ...], view=lambda case: case) -> dict:
    """The boundaries on which the PR tier computes fewer worlds than NEEDED, over the valid
    cells of `clauses` on 910_95 (`view`: the case as `categories` reads a dispatch world)."""
    op = ops.get(operator)
    profile, tier = op.profile("doc"), tiers.use("pr")
    counts: Counter[str] = Counter()
    for clause in clauses:
        for ep in (4, 8, 16, 32, 64):
            for dtype in ("float16", "bfloat16"):
                for case in _pr_cases(Cell(op.name, clause, "valid", "910_95", ep, dtype),
                                      profile):
                    assert expect_case(case, profile).outcome == "success", case.label()
                    if tier.computable(world_bytes(case, profile), case.ep) is None:
                        counts.update(categories(view(case)))
    return {k: (counts[k], n) for k, n in NEEDED.items() if counts[k] < n}


def test_pr_tier_computes_enough_worlds_on_every_boundary() -> None:
    short = _short_of_needed(OP.name, TILE_CLAUSES)
    assert not short, f"computed worlds per boundary (have, need): {short}"


COMBINE_TILE_CLAUSES = ("CALC.gmm", "CALC.mm", "CALC.transGmmWeight", "CALC.transMmWeight")


def test_the_combines_pr_tier_computes_worlds_on_every_boundary_of_its_grouped_matmul() -> None:
    """The combine runs the same grouped matmul on the rows each expert received: its tile
    worlds are the dispatch's, sent back, with as many computed worlds on every boundary."""
    short = _short_of_needed("gmm_alltoallv", COMBINE_TILE_CLAUSES, lambda case: SimpleNamespace(
        send=case.dispatch, e=case.e, ep=case.ep, h1=case.h1, n1=case.n1, shared=case.shared,
        a=case.a))
    assert not short, f"computed worlds per boundary (have, need): {short}"


def test_categories_name_what_a_world_crosses() -> None:
    e, ep = 5, 4
    send = [[0] * (ep * e) for _ in range(ep)]
    send[0][0] = 70000  # rank 0's expert 0 gets 70,000 rows from rank 0
    for s in range(1, ep):
        send[s][e] = 1
    case = Case(product="910_95", ep=ep, e=e, h1=4097, n1=300, send=tuple(map(tuple, send)))
    assert categories(case) == {"group_rows>M_tile", "N_tail", "H1_K_tail", "e>=5",
                                "rows>index_width"}
    small = case.with_(e=1, h1=4096, n1=512, send=((1, 1, 1, 1),) * 4)
    assert categories(small) == set()
