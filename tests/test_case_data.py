"""A case's data inside `spec.memo.case_scope()`: each block of gmmX hashed once in a world of
ranks that share the process, the same values as made afresh, and nothing shared writable."""

from __future__ import annotations

import numpy as np
import pytest

import ops
from fixtures.backends import BackendSpec
from fixtures.runner import Worlds, plan_case, summarise
from fixtures.world import TurnWorld
from spec import data as spec_data
from spec import memo
from strategies import probe


def test_a_scope_hashes_a_block_once_and_gathers_it_bit_for_bit(monkeypatch) -> None:
    blocks, rows = [(0, 1, 0), (1, 1, 0), (2, 0, 1)], [3, 0, 5]
    fresh = spec_data.stacked_blocks(7, "gmmX", blocks, rows, 16, "bfloat16")
    hashed: list[int] = []
    block_values = spec_data.block_values
    monkeypatch.setattr(spec_data, "block_values",
                        lambda keys, sizes, *a, **k: hashed.append(sum(sizes))
                        or block_values(keys, sizes, *a, **k))
    with memo.case_scope():
        made = spec_data.stacked_blocks(7, "gmmX", blocks, rows, 16, "bfloat16")
        gathered = spec_data.stacked_blocks(7, "gmmX", blocks[::-1], rows[::-1], 16, "bfloat16")
        with pytest.raises(ValueError):
            made[0, 0] = 1  # what the scope keeps is read-only
    assert hashed == [8 * 16]
    assert np.array_equal(made.view(np.uint16), fresh.view(np.uint16))
    assert np.array_equal(gathered.view(np.uint16),
                          np.concatenate([fresh[3:], fresh[:3]]).view(np.uint16))
    assert gathered.flags.writeable
    spec_data.stacked_blocks(7, "gmmX", blocks, rows, 16, "bfloat16")
    assert len(hashed) == 2  # outside a scope nothing is kept


def test_a_case_scope_inside_a_wider_one_keeps_what_the_wider_one_remembers() -> None:
    with memo.remembering():
        memo.remembered(("outer",), lambda: 1)
        with memo.case_scope():
            assert memo.remembered(("outer",), lambda: 2) == 1
        assert memo.remembered(("outer",), lambda: 3) == 1
    with memo.case_scope():
        assert memo.remembered(("k",), lambda: 4) == 4
    assert not memo.active()


@pytest.mark.parametrize("operator", ["alltoallv_gmm", "gmm_alltoallv"])
def test_a_world_hashes_each_row_of_gmmx_once_and_passes(operator: str, monkeypatch) -> None:
    """The world's ranks generate their gmmX; each rank's oracle gathers the rows it checks
    against from those blocks instead of hashing them again."""
    op = ops.get(operator)
    profile = op.profile("doc")
    case, why = probe("CALC.gmm", "valid", "910_95", 4, profile, "float16")
    assert case is not None, why
    matrix = np.asarray(getattr(case, type(case).MATRIX))
    hashed: list[int] = []
    stacked = spec_data.stacked_blocks

    def counting(seed, name, blocks, rows, width, dtype):
        kept = memo.remembered(("stacked blocks", seed, name, width, dtype), dict)
        hashed.extend(n * width for b, n in zip(blocks, rows, strict=True) if (b, n) not in kept)
        return stacked(seed, name, blocks, rows, width, dtype)

    monkeypatch.setattr(spec_data, "stacked_blocks", counting)
    monkeypatch.setattr(f"ops.{operator}.data.stacked_blocks", counting)
    worlds = Worlds(BackendSpec.for_profile("sim", {}, profile))
    try:
        world = worlds.world(4)
        assert isinstance(world, TurnWorld)
        exp, plan, _ = plan_case(case, profile, worlds.capabilities, "mixed", True,
                                 worlds.two_stage)
        result = summarise(case, exp, world.run(plan), plan, 0.0)
    finally:
        worlds.close()
    assert result.outcome == "passed", result.failing_clauses()
    assert sum(hashed) == int(matrix.sum()) * case.h1


def test_a_case_scope_keeps_no_more_than_its_room(monkeypatch) -> None:
    """Past CASE_SCOPE_BYTES a scope keeps nothing more: blocks are hashed again where needed,
    and a memoised value is handed out as made (writable, not shared)."""
    monkeypatch.setattr(memo, "CASE_SCOPE_BYTES", 10 * 16 * 2)
    made: list[int] = []

    @memo.memoised(copy=True)
    def weights(n: int) -> np.ndarray:
        made.append(n)
        return np.zeros(n, np.float16)

    with memo.case_scope():
        first = spec_data.stacked_blocks(7, "gmmX", [(0, 0, 0)], [8], 16, "float16")  # fits
        big = spec_data.stacked_blocks(7, "gmmX", [(1, 0, 0)], [8], 16, "float16")  # does not
        assert not first.flags.writeable and big.flags.writeable
        assert spec_data.stacked_blocks(7, "gmmX", [(0, 0, 0)], [8], 16, "float16").flags.writeable
        w = weights(64)
        w[0] = 1  # not kept, so its own
        assert weights(64)[0] == 0 and made == [64, 64]

    @memo.memoised(copy=True)
    def gmm_x_input() -> np.ndarray:
        return spec_data.stacked_blocks(7, "gmmX", [(0, 0, 0)], [8], 16, "float16")

    with memo.case_scope():  # room for the block it is made of, none for the input itself
        assert gmm_x_input().flags.writeable
    with memo.remembering():  # ci.mutation's scope has no such limit
        big = spec_data.stacked_blocks(7, "gmmX", [(1, 0, 0)] * 1, [80], 16, "float16")
        assert not big.flags.writeable
