"""The simulator: correct outputs on valid worlds of every flavour, both contract readings of the
status codes, and a 64-rank world end to end."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

import pytest

from fixtures.backends import BackendError, BackendSpec
from fixtures.runner import Worlds
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Case, Fault, Shared
from ops.alltoallv_gmm.sim import BEHAVIORS, CHECKS, SimBackend
from ops.alltoallv_gmm.worlds import Pins, build_world
from strategies import intended
from strategies.choices import Minimal, Seeded

DOC, CANN = load("doc"), load("cann-2025.12")


@pytest.fixture(scope="module")
def worlds():
    w = {b: Worlds(BackendSpec("sim", {"behavior": b})) for b in ("doc", "cann-2025.12")}
    yield w
    for each in w.values():
        each.close()


FLAVOURS = [  # dtype x transGmmWeight x shared expert (none, plain, transposed) x permuteOutFlag
    (d, tg, shared, flag) for d, tg, shared, flag in itertools.product(
        ("float16", "bfloat16"), (False, True), ("none", "plain", "transposed"), (False, True))
]


@pytest.mark.parametrize("dtype, trans_gmm, shared, flag", FLAVOURS)
def test_sim_outputs_pass_the_mixed_judge(worlds, dtype, trans_gmm, shared, flag):
    """24 flavours x 2 drawn worlds on 910_95 (ep 4 and 8), and on A3 (ep 8, whose volume rules
    make worlds large) one flavour in three: 56 valid cases."""
    pins = Pins(dtype=dtype, trans_gmm=trans_gmm, shared=shared != "none",
                trans_mm=shared == "transposed", flag=flag)
    worlds_to_run = [("910_95", 4), ("910_95", 8)]
    if FLAVOURS.index((dtype, trans_gmm, shared, flag)) % 3 == 0:
        worlds_to_run.append(("A3", 8))
    for product, ep in worlds_to_run:
        case = build_world(Seeded(ep + len(product)), product, ep, DOC, pins, "CALC.gmm")
        assert intended(case, DOC) is None
        result = worlds["doc"].run(case, DOC, "mixed")
        assert result.passed, [f.message for f in result.findings]
        assert result.plan.data_mode, "the outputs must have been computed and judged"
        judged = {v["clause"] for r in result.reports for v in r.verdicts}
        assert ("CALC.transGmmWeight" if trans_gmm else "CALC.gmm") in judged
        assert ("CALC.permute" in judged) == flag
        if shared != "none":
            assert ("CALC.transMmWeight" if shared == "transposed" else "CALC.mm") in judged


def _case(**kw) -> Case:
    base = dict(product="910_95", ep=4, e=1, h1=16, n1=4, send=((1, 1, 1, 1),) * 4,
                shared=Shared((2, 2, 2, 2), 8, 4))
    return Case(**{**base, **kw}, side="invalid", stage="first")


@pytest.mark.parametrize("behavior, h1_status, pair_status", [
    ("cann-2025.12", 561002, 161001),
    ("doc", 161002, 161001),
])
def test_status_codes_follow_the_chosen_reading(worlds, behavior, h1_status, pair_status):
    h1 = worlds[behavior].run(_case(h1=65536, clause="RANGE.H1"), DOC)
    assert {r.status1 for r in h1.reports} == {h1_status}
    pair = worlds[behavior].run(_case(faults=(Fault("null", "mmWeight"),), clause="OPTPAIR.mm"),
                                DOC)
    assert {r.status1 for r in pair.reports} == {pair_status}


def test_every_version_is_a_row_with_a_code_for_every_check():
    for name, row in BEHAVIORS.items():
        assert set(row.codes) == set(CHECKS), name
        assert row.absent <= set(CHECKS), name
        assert set(row.ep_sizes) == {"A3", "910_95"}, name


def test_a_new_version_is_a_new_row(monkeypatch):
    """A version that differs in a limit and a code needs no code of the sim's: a row."""
    doc = BEHAVIORS["doc"]
    monkeypatch.setitem(BEHAVIORS, "doc-narrow", replace(
        doc, limits={**doc.limits, "H1": (1, 4095)}, codes={**doc.codes, "range.H1": 561002}))
    narrow = Worlds(BackendSpec("sim", {"behavior": "doc-narrow"}))
    try:
        result = narrow.run(_case(h1=4096, clause="RANGE.H1"), DOC)
        assert {r.status1 for r in result.reports} == {561002}
    finally:
        narrow.close()


def test_a_64_rank_world_runs_both_stages(worlds):
    case = build_world(Minimal(), "910_95", 64, DOC, Pins(e=4, shared=True), "CALC.gmm")
    assert case.ep == 64 and case.e == 4 and case.stage == "both"
    result = worlds["doc"].run(case, DOC, "mixed")
    assert result.passed and result.plan.data_mode
    assert len(result.reports) == 64 and all(r.status2 == 0 for r in result.reports)
    assert all(v["passed"] for r in result.reports for v in r.verdicts)


def test_the_sim_moves_data_through_the_communicator():
    """A communicator that reverses what it delivers makes the sim's permuteOut wrong: the data
    really travels through ctx.comm.alltoallv."""
    from fixtures.world import TurnComm

    case = build_world(Minimal(), "910_95", 4, DOC, Pins(flag=True, e=2), "CALC.permute")
    original = TurnComm.alltoallv
    TurnComm.alltoallv = lambda self, chunks: [c[::-1] for c in original(self, chunks)]
    try:
        result = Worlds(BackendSpec("sim", {"behavior": "doc"})).run(case, DOC)
    finally:
        TurnComm.alltoallv = original
    assert "CALC.permute" in result.failing_clauses()


def test_unknown_behavior_and_bad_backends_get_one_clear_line():
    with pytest.raises(ValueError, match=re.escape("accepted: doc, cann-2025.12")):
        SimBackend("cann-2030")
    with pytest.raises(BackendError, match="built-in backends: sim, torch, torch_npu, aclnn"):
        BackendSpec("no_such_module:factory").make()
    with pytest.raises(BackendError, match="has no callable 'nope'"):
        BackendSpec("ops.alltoallv_gmm.sim:nope").make()
    with pytest.raises(BackendError, match="lacks get_workspace_size, execute"):
        BackendSpec("builtins:object").make()
    with pytest.raises(BackendError, match="rejected its options"):
        BackendSpec("sim", {"speed": 3}).make()
