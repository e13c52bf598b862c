"""The expectation reads a rule once for the ranks that share what it reads (spec.views): a
stand-in for a differing value gives itself away on any use, views keep exactly what the ranks
agree on, and the verdicts equal the rank-by-rank reading for every clause side drawn."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import ops
from spec.call import TensorDesc
from spec.expect import broken, broken_each
from spec.views import Varies, Varying, _merge, shared_views
from strategies import _builder as builder_of
from strategies import _pinned
from strategies.choices import Recording, Seeded, Unreachable

USES = {
    "==": lambda v: v == 1, "in": lambda v: v in (1, "a"), "<": lambda v: v < 1,
    "sum": lambda v: sum([1, v]), "min": lambda v: min([1, v]), "*": lambda v: 3 * v,
    "prod": lambda v: math.prod((2, v)), "int": int, "bool": bool, "hash": hash,
    "index": lambda v: (1, 2, 3)[v], "iter": list, "f-string": lambda v: f"{v}",
    "attribute": lambda v: v.shape, "isinstance": lambda v: isinstance(v, int),
    "numpy": lambda v: np.asarray([1, v]) + 1, "numpy scalar": lambda v: np.int64(3) == v,
    "dict key": lambda v: {v: 1},
}


@pytest.mark.parametrize("use", sorted(USES))
def test_any_use_of_a_varying_value_raises(use):
    with pytest.raises(Varies):
        USES[use](Varying())


def test_a_varying_sequence_keeps_its_length_and_nothing_else():
    v = Varying(4)
    assert len(v) == 4 and bool(v)
    with pytest.raises(Varies):
        sum(v)
    assert not issubclass(Varies, Exception)  # no reader's `except Exception` swallows it


def _calls(op_name: str, clause: str, side: str, ep: int, seed: int, profile):
    try:
        case = builder_of(profile, clause, side)(_pinned(Recording(Seeded(seed)), None),
                                                 "910_95", ep, profile)
    except Unreachable:
        return None
    return case.calls()


def test_a_view_keeps_what_the_ranks_agree_on_and_hides_the_rest():
    op = ops.get("alltoallv_gmm")
    calls = _calls("alltoallv_gmm", "CALC.gmm", "valid", 8, 1, op.profile("doc"))
    [(view, ranks)] = shared_views(calls)
    assert ranks == list(range(8))
    assert view.ep_world_size == 8 and view.group == calls[0].group
    assert view.tensors["gmmWeight"] == calls[0].tensors["gmmWeight"]
    rows, h1 = view.tensors["gmmX"].shape
    assert h1 == calls[0].tensors["gmmX"].shape[1]
    assert len({c.tensors["gmmX"].shape[0] for c in calls}) > 1 and type(rows) is Varying
    assert type(view.rank) is Varying and len(view.send_counts) == len(calls[0].send_counts)


def test_a_rank_with_a_null_field_gets_a_view_of_its_own():
    op = ops.get("alltoallv_gmm")
    calls = _calls("alltoallv_gmm", "CALC.gmm", "valid", 8, 1, op.profile("doc"))
    tensors = {**calls[3].tensors, "gmmY": None}
    calls[3] = dataclasses.replace(calls[3], tensors=tensors)
    views = shared_views(calls)
    assert sorted(ranks for _, ranks in views) == [[0, 1, 2, 4, 5, 6, 7], [3]]
    profile = op.profile("doc")
    each = broken_each(calls, profile)[1]
    assert each == [broken(c, profile) for c in calls]
    assert each[3] and not any(each[r] for r in range(8) if r != 3)


def test_differing_tensors_of_other_ranks_are_read_rank_by_rank():
    op = ops.get("alltoallv_gmm")
    profile = op.profile("doc")
    calls = _calls("alltoallv_gmm", "CALC.gmm", "valid", 8, 1, profile)
    odd = dataclasses.replace(calls[5].tensors["gmmWeight"], dtype="float32")
    calls[5] = dataclasses.replace(calls[5], tensors={**calls[5].tensors, "gmmWeight": odd})
    each = broken_each(calls, profile)[1]
    assert each == [broken(c, profile) for c in calls]
    assert each[5] and not any(each[r] for r in range(8) if r != 5)


@pytest.mark.parametrize("op_name", ("alltoallv_gmm", "gmm_alltoallv"))
def test_shared_reading_equals_the_rank_by_rank_reading_for_every_clause_side(op_name):
    op = ops.get(op_name)
    part, compared = op.part("strategies"), 0
    for profile in (op.profile("doc"), op.profile("cann-2026.07")):
        for side, table in (("valid", part.VALID), ("invalid", part.INVALID)):
            for clause in table:
                calls = _calls(op_name, clause, side, 8, 0, profile)
                if calls is None:
                    continue
                assert broken_each(calls, profile, (1, 2)) == {
                    s: [broken(c, profile, s) for c in calls] for s in (1, 2)}, (clause, side)
                compared += 1
    assert compared > len(part.VALID) + len(part.INVALID)


def test_a_tensor_desc_of_one_rank_count_stays_a_tensor():
    a, b = TensorDesc((4, 16), "float16"), TensorDesc((5, 16), "float16")
    merged = _merge([a, b])
    assert type(merged) is TensorDesc and merged.shape[1] == 16 and merged.dtype == "float16"
    assert type(merged.shape[0]) is Varying
    assert type(_merge([a, TensorDesc((4, 16, 1), "float16")])) is Varying


def test_a_rule_that_fails_on_a_stand_in_is_read_rank_by_rank(monkeypatch):
    """A rule that reads what differs (the rank) is read per rank; so is one that raises some
    other error on the view, which the rank-by-rank reading then meets for real or not at all."""
    import spec.expect as expect

    def odd_rank(c):
        return c.rank % 2 == 0

    def picky(c):
        if type(c.rank) is Varying:
            raise TypeError("a stand-in")
        return True

    op = ops.get("alltoallv_gmm")
    profile = op.profile("doc")
    calls = _calls("alltoallv_gmm", "CALC.gmm", "valid", 8, 1, profile)
    checks = (("A.odd", odd_rank), ("B.picky", picky), ("C.never", lambda c: c.ep_world_size < 0))
    monkeypatch.setattr(expect, "_per_call_checks", lambda *args: checks)
    each = broken_each(calls, profile)[1]
    assert each == [["C.never"] if r % 2 == 0 else ["A.odd", "C.never"] for r in range(8)]


def test_a_view_carries_no_sum_a_rank_kept():
    """A call keeps its counts' sums (several rules read them); a view of ranks whose counts
    differ is made of the fields alone, so its counts' sum is read rank by rank, never taken
    from the rank the view was copied from."""
    op = ops.get("gmm_alltoallv")
    profile = op.profile("doc")
    calls = _calls("gmm_alltoallv", "CALC.gmm", "valid", 8, 1, profile)
    sums = [c.count_sum("send") for c in calls]
    assert sums == [sum(c.send_counts) for c in calls] and len(set(sums)) > 1
    assert calls[0].count_sum("send") == sums[0]  # kept, and still right
    [(view, _)] = shared_views(calls)
    with pytest.raises(Varies):
        view.count_sum("send")
    assert broken_each(calls, profile)[1] == [broken(c, profile) for c in calls]
