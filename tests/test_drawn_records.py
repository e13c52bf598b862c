"""A passing case's record keeps the choices that drew it, not its world: the choices build the
same case again (the same id) for every clause side of both operators, a tampered record says
so instead of replaying another case, and `ci.replay` replays such a record. Beside them, the
faster forms of the harness's hot paths give exactly what the plain forms give."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
from fixtures.protocol import ALL_CAPABILITIES
from fixtures.runner import plan_case, summarise
from fixtures.world import ThreadWorld
from ops.alltoallv_gmm.sim import SimBackend
from reports.results import ResultsError, record_case
from spec.call import Undefined, evolve
from spec.data import key, keys
from spec.outcome import Cell
from spec.rules import CountsConsistent
from strategies import ReplayError, _pinned, drawn_form, intended, rebuild
from strategies import _builder as builder_of
from strategies.choices import Recording, Replaying, Seeded, Unreachable
from suites._conformance import case_record

ROOT = Path(__file__).resolve().parents[1]
OPERATORS = ("alltoallv_gmm", "gmm_alltoallv")


def _drawn(op_name: str, clause: str, side: str, ep: int, seed: int, dtype: str | None = None):
    """A case of the cell built from seeded choices under a Recording (its dtype pinned, as a
    test cell pins it), or None."""
    op = ops.get(op_name)
    profile = op.profile("cann-2026.07")
    recording = Recording(Seeded(seed))
    try:
        case = builder_of(profile, clause, side)(_pinned(recording, dtype), "910_95", ep, profile)
    except Unreachable:
        return None, profile
    if intended(case, profile) is not None:
        return None, profile
    return case.drawn_from(recording.values), profile


@pytest.mark.parametrize("op_name", OPERATORS)
def test_recorded_choices_rebuild_every_clause_side(op_name: str) -> None:
    op = ops.get(op_name)
    part, rebuilt = op.part("strategies"), 0
    for side, table in (("valid", part.VALID), ("invalid", part.INVALID)):
        for clause in table:
            for seed in range(3):
                case, profile = _drawn(op_name, clause, side, 8, seed)
                if case is None:
                    continue
                form = drawn_form(case, case, profile, "v1", None)
                cell = {"clause": clause, "side": side, "product": "910_95", "ep": 8,
                        "dtype": None}
                again = rebuild(op, cell, json.loads(json.dumps(form)))
                assert again == case and again.id == case.id, (clause, side, seed)
                rebuilt += 1
    assert rebuilt > len(part.VALID) + len(part.INVALID)


def test_a_capped_case_rebuilds_capped_and_another_case_has_no_drawn_form() -> None:
    case, profile = _drawn("alltoallv_gmm", "CALC.gmm", "valid", 64, 1)
    capped = case.with_(stage="first" if case.stage == "both" else "both")
    form = drawn_form(case, capped, profile, "v1", None)
    cell = {"clause": "CALC.gmm", "side": "valid", "product": "910_95", "ep": 64, "dtype": None}
    assert rebuild(ops.get("alltoallv_gmm"), cell, form).id == capped.id
    other = case.with_(seed=case.seed + 1)
    assert drawn_form(case, other, profile, "v1", None) is None
    assert drawn_form(other, other, profile, "v1", None) is None  # a copy forgets its choices


def test_replaying_too_few_or_impossible_choices_is_an_error_not_another_case() -> None:
    with pytest.raises(ReplayError, match="ran out at 'e'"):
        Replaying([]).int(1, 4, "e")
    with pytest.raises(ReplayError, match="option 5 of 'dtype'"):
        Replaying([5]).choice(("float16", "bfloat16"), "dtype")


def test_a_passing_record_keeps_its_choices_and_replays(tmp_path: Path) -> None:
    case, profile = _drawn("alltoallv_gmm", "CALC.gmm", "valid", 64, 2, "bfloat16")
    _, plan, why = plan_case(case.with_(stage="first"), profile, ALL_CAPABILITIES, "mixed", True)
    assert plan is not None, why
    world = ThreadWorld(64, lambda: SimBackend("cann-2026.07"))
    try:
        result = summarise(plan.case, plan.expectation, world.run(plan), plan, 0.1)
    finally:
        world.close()
    cell = Cell("alltoallv_gmm", "CALC.gmm", "valid", "910_95", 64, "bfloat16")
    record = case_record(cell, result, 0.1, drawn_form(case, result.case, profile, "v1", None))
    assert result.outcome == "passed" and "case_z" not in record and "case" not in record
    assert len(json.dumps(record["drawn"])) < 400  # the world's matrix alone is 64 x 64e counts
    assert record_case(record) == json.loads(result.case.to_json(None))
    tampered = {**record, "drawn": {**record["drawn"], "choices": record["drawn"]["choices"][:-3]}}
    with pytest.raises(ResultsError, match="suite changed since the run"):
        record_case(tampered)
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(record) + "\n")
    proc = subprocess.run([sys.executable, "-m", "ci.replay", str(path), "--case-id",
                           record["case_id"], "--spec-profile", "cann-2026.07"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "verdict: PASSED" in proc.stdout, proc.stdout + proc.stderr


def test_block_keys_computed_together_are_the_keys_one_at_a_time() -> None:
    rnd = random.Random(7)
    for width in (1, 3, 5):
        addresses = [tuple(rnd.randrange(1 << rnd.choice((4, 20, 40, 62))) for _ in range(width))
                     for _ in range(300)]
        seed = rnd.randrange(1 << 31)
        assert keys(seed, "gmmX", addresses) == [key(seed, "gmmX", *a) for a in addresses]
    assert keys(3, "gmmX", []) == []


def test_the_counts_rule_finds_one_count_out_of_place_in_a_large_world() -> None:
    case, _ = _drawn("alltoallv_gmm", "CALC.gmm", "valid", 32, 0)
    calls = case.calls()
    rule = CountsConsistent()
    assert rule.holds_world(calls)
    bad = list(calls[5].recv_counts)
    bad[-1] += 1
    calls[5] = evolve(calls[5], recv_counts=tuple(bad))
    assert not rule.holds_world(calls)


def test_the_column_blocks_of_a_matrix_are_read_the_same_either_way() -> None:
    case, _ = _drawn("gmm_alltoallv", "CALC.gmm", "valid", 16, 4)
    m, e, ep = case.dispatch, case.e, case.ep
    plain = tuple(tuple(m[s][r * e + j] for s in range(ep) for j in range(e)) for r in range(ep))
    assert case.columns == plain
    assert np.asarray(case.columns).shape == (ep, ep * e)


class _Counts:
    """What CountsConsistent reads of a call."""

    def __init__(self, send, recv, ep_world_size) -> None:
        self.send_counts, self.recv_counts, self.ep_world_size = send, recv, ep_world_size


def _verdict(rule: CountsConsistent, calls) -> bool | str:
    """The rule's verdict on a world, or the reason it has none (Undefined)."""
    try:
        return rule.holds_world(calls)
    except Undefined as err:
        return str(err)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_the_counts_rule_reads_a_square_world_as_it_reads_rank_by_rank(data) -> None:
    """Taken as one n x n x e block or rank by rank, the counts rule gives the same verdict (or
    the same reason it has none) on consistent worlds, worlds with one count changed, negative
    counts, a wrong epWorldSize and arrays of the wrong length."""
    n, e = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    send = [[data.draw(st.integers(0, 3)) for _ in range(n * e)] for _ in range(n)]
    recv = [[send[s][r * e + j] for s in range(n) for j in range(e)] for r in range(n)]
    flaw = data.draw(st.sampled_from(["none", "count", "negative", "ep", "length"]))
    r, i = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n * e - 1))
    eps = [n] * n
    if flaw == "count":
        recv[r][i] += data.draw(st.sampled_from([-1, 1]))
    elif flaw == "negative":
        send[r][i] = -1
    elif flaw == "ep":
        eps[r] = n + 1
    elif flaw == "length":
        recv[r] = recv[r][:-1]
    calls = [_Counts(tuple(send[k]), tuple(recv[k]), eps[k]) for k in range(n)]
    for rule in (CountsConsistent(), CountsConsistent("send_counts", "recv_counts")):
        at_once = _verdict(rule, calls)
        with mock.patch.object(CountsConsistent, "_square", return_value=None):
            assert at_once == _verdict(rule, calls)
