"""The case model: JSON in and out unchanged, one clear error per malformed field, counts derived
from the world's send matrix, and content-addressed data that needs no other rank's data."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.alltoallv_gmm import data, load
from ops.alltoallv_gmm.case import Case, CaseFormatError, Fault, Shared
from ops.alltoallv_gmm.clauses import CLAUSE
from strategies import clause_cases
from tests.support.worlds import valid_worlds

DOC = load("doc")
CELLS = [("RANGE.H1", "invalid", "910_95", 4), ("NULL.gmmY", "invalid", "A3", 8),
         ("STAGE2.workspace_small", "invalid", "910_95", 8), ("COUNTS.recv_nonneg", "invalid",
         "A3", 16), ("OPTPAIR.mmY_unexpected", "invalid", "910_95", 4),
         ("RANGE.group_len", "valid", "A3", 8), ("RANGE.K", "valid", "910_95", 16)]


def any_case():
    worlds = st.sampled_from([("910_95", 4), ("910_95", 8), ("A3", 8)]).flatmap(
        lambda pe: valid_worlds(pe[0], pe[1], DOC))
    cells = st.sampled_from(CELLS).flatmap(lambda c: clause_cases(*c, DOC))
    return st.one_of(worlds, cells)


@settings(max_examples=40, deadline=None)
@given(any_case())
def test_json_round_trip_changes_nothing(case):
    text = case.to_json()
    back = Case.from_json(text)
    assert back == case
    assert back.to_json() == text
    assert back.id == case.id and back.calls() == case.calls()


def _valid_dict() -> dict:
    case = Case("910_95", 4, 1, 8, 2, ((1, 0, 2, 1),) * 4, shared=Shared((2, 2, 2, 2), 4, 3),
                faults=(Fault("dtype", "gmmX", "float32"),))
    return json.loads(case.to_json())


@pytest.mark.parametrize("field, value, fragment", [
    ("product", "A4", "case field 'product': expected one of ('A3', '910_95'), got 'A4'"),
    ("ep", -1, "case field 'ep': expected a non-negative integer"),
    ("send", [[1, 0, 2, 1]], "case field 'send': expected a list of ep=4 rows"),
    ("send", [[1, 0, 2]] * 4, "case field 'send[0]': expected ep*e=4 non-negative integers"),
    ("dtype", "float8", "case field 'dtype': expected one of"),
    ("permute_out_flag", "yes", "case field 'permute_out_flag': expected true or false"),
    ("stage", "second", "case field 'stage': expected one of ('both', 'first')"),
    ("shared", {"bs": [1], "h2": 1, "n2": 1}, "case field 'shared.bs': expected ep=4"),
    ("faults", [{"op": "melt", "param": "gmmX"}], "case field 'faults[0].op'"),
    ("faults", [{"op": "null", "param": "nothing"}], "case field 'faults': cannot be applied"),
    ("schema", "v0", "case field 'schema': expected 'alltoallv-gmm-case/1'"),
    ("colour", "red", "case field 'colour' is unknown"),
])
def test_a_malformed_case_names_the_field(field, value, fragment):
    d = _valid_dict()
    d[field] = value
    with pytest.raises(CaseFormatError) as err:
        Case.from_dict(d)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_field_and_broken_json_are_named():
    d = _valid_dict()
    del d["h1"]
    with pytest.raises(CaseFormatError, match="case field 'h1'"):
        Case.from_dict(d)
    with pytest.raises(CaseFormatError, match="not JSON"):
        Case.from_json("{")


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([("910_95", 4), ("910_95", 8), ("A3", 8)]).flatmap(
    lambda pe: valid_worlds(pe[0], pe[1], DOC)))
def test_counts_derive_from_the_send_matrix(case):
    e = case.e
    for r in range(case.ep):
        recv = case.recv_counts(r)
        for s in range(case.ep):
            for j in range(e):
                assert recv[s * e + j] == case.send_counts(s)[r * e + j]
    assert sum(case.a(r) for r in range(case.ep)) == sum(case.bsk(r) for r in range(case.ep))
    assert CLAUSE["CONSIST.counts"].rule.holds_world(case.calls())


def test_data_is_content_addressed_per_block():
    case = Case("910_95", 4, 2, 16, 3, ((1, 0, 2, 1, 0, 3, 1, 1),) * 4, dtype="bfloat16", seed=9)
    x1 = data.gmm_x(case, 1)
    assert x1.dtype == np.dtype(ml_dtypes.bfloat16) and x1.shape == (case.bsk(1), 16)
    assert np.all(x1.astype(np.float32) != 0)
    # Rank 1's rows are the concatenation of its blocks, each regenerated on its own.
    blocks = [data.gmm_x_block(case, 1, r, j) for r in range(4) for j in range(2)]
    assert np.array_equal(np.concatenate(blocks).view(np.uint16), x1.view(np.uint16))
    # Another rank's counts do not touch rank 1's data; another seed does.
    other = case.with_(send=(case.send[0], case.send[1], (5,) * 8, case.send[3]))
    assert np.array_equal(data.gmm_x(other, 1).view(np.uint16), x1.view(np.uint16))
    assert not np.array_equal(data.gmm_x(case.with_(seed=10), 1).view(np.uint16),
                              x1.view(np.uint16))
    # Distinct blocks hold distinct rows: a misrouted row shows.
    assert not np.array_equal(data.gmm_x_block(case, 1, 0, 0), data.gmm_x_block(case, 1, 2, 0)[:1])


def test_transposed_weights_hold_the_same_logical_values():
    case = Case("910_95", 4, 2, 5, 3, ((1,) * 8,) * 4)
    w = data.gmm_weight(case, 2)
    wt = data.gmm_weight(case.with_(trans_gmm_weight=True), 2)
    assert wt.shape == (2, 3, 5) and wt.flags.c_contiguous
    assert np.array_equal(wt.transpose(0, 2, 1), w)


@settings(max_examples=20, deadline=None)
@given(case=st.sampled_from(["DTYPE.gmmX", "RANGE.e", "CONSIST.counts", "STAGE2.workspace_small",
                             "CALC.gmm"]).flatmap(
    lambda clause: clause_cases(clause, "invalid" if clause != "CALC.gmm" else "valid", "910_95",
                                8, load("doc"))))
def test_a_copy_on_another_stage_shares_the_calls_and_has_its_own_id(case):
    """Calls made once serve a copy that changes only the stage (the stage enters no call),
    and they are the calls that copy would make; its id is its own."""
    calls = case.calls()
    for stage in ("first", "both"):
        copy = case.with_(stage=stage)
        assert copy.calls() == calls == [copy.call(r) for r in range(copy.ep)]
        assert all(a is b for a, b in zip(copy.calls(), calls, strict=True))
        assert (copy.id == case.id) == (stage == case.stage)
    other = case.with_(seed=case.seed + 1)
    assert other.calls() == [other.call(r) for r in range(other.ep)]


@pytest.mark.parametrize("e", [1, 2, 3])
def test_a_ranks_column_block_is_what_it_reads_off_the_matrix(e):
    """Rank r's column block, [s*e + j] = send[s][r*e + j], for one and for several experts,
    and for a matrix with a count past int64 (an invalid case's)."""
    rng = np.random.default_rng(e)
    ep = 5
    send = tuple(tuple(int(v) for v in row) for row in rng.integers(0, 9, (ep, ep * e)))
    huge = (tuple((2**70, *send[0][1:])), *send[1:])
    for matrix in (send, huge):
        case = Case(product="910_95", ep=ep, e=e, h1=16, n1=8, send=matrix)
        assert case.columns == tuple(tuple(matrix[s][r * e + j] for s in range(ep)
                                           for j in range(e)) for r in range(ep))


def test_a_case_hashes_as_its_fields_once_and_pickles_without_it():
    import dataclasses
    import pickle

    send = ((1, 2, 0), (3, 0, 4), (2, 2, 2))
    case = Case(product="910_95", ep=3, e=1, h1=16, n1=8, send=send, clause="CALC.gmm")
    fields_hash = hash(tuple(getattr(case, f.name) for f in dataclasses.fields(case)))
    assert hash(case) == fields_hash == hash(Case(product="910_95", ep=3, e=1, h1=16, n1=8,
                                                  send=send, clause="CALC.gmm"))
    assert case.__dict__["_hash"] == fields_hash  # kept
    assert hash(case.with_(seed=1)) != fields_hash  # a changed copy hashes afresh
    copy = pickle.loads(pickle.dumps(case))
    assert "_hash" not in copy.__dict__ and copy == case and hash(copy) == fields_hash
