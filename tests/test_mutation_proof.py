"""ci/mutation/proof.py: a case is proved for a catalog entry only where the entry passes it, and
proofs reach what they claim (a validation mutant most cases, the ones its change cannot decide;
a correct variant every case that stops after the first stage and no computed case).

The cases are one probe per clause side of each operator on 910_95 at four ranks, run once on
the recording reference, as the replay worker runs them."""

from __future__ import annotations

import functools

import pytest

import ops
from ci.mutation import catalog, proof
from ci.mutation.replay_worker import judge_case
from fixtures.backends import BackendSpec
from fixtures.protocol import ALL_CAPABILITIES as CAPABILITIES
from fixtures.runner import plan_case
from fixtures.world import TurnWorld
from spec import memo
from strategies import _strategies, probe

EP = 4


@functools.cache
def recorded(operator: str) -> tuple[object, list[tuple[object, proof.Reads]]]:
    """(a plain reference backend, [(a case's plan, what the reference's run of it read)])."""
    op = ops.get(operator)
    profile = op.profile("doc")
    part = _strategies(profile)
    reference = BackendSpec.for_profile("sim", {}, profile)
    recorder = proof.Recorder()
    world = TurnWorld(EP, proof.make_recording(reference.make, recorder))
    runs = []
    try:
        for clause in op.clauses_for("910_95"):
            for side, table in (("valid", part.VALID), ("invalid", part.INVALID)):
                if clause.id not in table:
                    continue
                case, _ = probe(clause.id, side, "910_95", EP, profile)
                plan = case and plan_case(case, profile, CAPABILITIES, "mixed", True)[1]
                if plan is None:
                    continue  # no case, or none to run (a caller precondition)
                reads = recorder.start()
                with memo.remembering():
                    assert judge_case(world, case, profile, "mixed") is None, case.id
                runs.append((plan, reads))
    finally:
        world.close()
    return reference.make(), runs


def _entries(operator: str):
    return catalog(ops.get(operator)).entries()


def _difference(entry) -> proof.Difference | None:
    plain, _ = recorded(entry.cls.operator)
    return proof.Difference.of([entry.make(behavior="doc") for _ in range(EP)], plain)


OPERATORS = ("alltoallv_gmm", "gmm_alltoallv")


@pytest.mark.parametrize("operator", OPERATORS)
def test_a_run_of_the_table_is_re_decided_as_the_entry_decides_it(operator):
    """Wherever the proof says an entry's row decides a run of the table as the reference's did,
    the entry's own first_broken gives that status; and some runs it does re-decide."""
    _, runs = recorded(operator)
    re_decided = 0
    for entry in _entries(operator):
        difference = _difference(entry)
        if difference is None or "first_broken" in difference.names:
            continue
        backend = entry.make(behavior="doc")
        for _, reads in runs:
            for run in reads.table_runs:
                if difference._same_status(run):
                    assert backend.first_broken(run.checks, run.call) == run.status, (
                        entry.name, run.decided)
                else:
                    re_decided += 1
    assert re_decided > 0


@pytest.mark.slow
@pytest.mark.parametrize("operator", OPERATORS)
def test_a_proved_case_is_one_the_entry_passes(operator):
    """Every entry, run for real on the proved cases its change came closest to (those the quick
    test of the proof could not settle), passes them."""
    profile = ops.get(operator).profile("doc")
    _, runs = recorded(operator)
    for entry in _entries(operator):
        difference = _difference(entry)
        if difference is None:
            continue
        near = [plan.case for plan, reads in runs if difference.proves(reads)
                and not difference.asked.isdisjoint(reads.reached[0])]
        far = [plan.case for plan, reads in runs if difference.proves(reads)]
        world = TurnWorld(EP, lambda e=entry: e.make(behavior="doc"))
        try:
            for case in near[:3] or far[:1]:
                with memo.remembering():
                    assert judge_case(world, case, profile, "mixed") is None, (entry.name, case.id)
        finally:
            world.close()


# A fault that rejects a value most small worlds have (e = 1) changes the status of most probes:
# there is little to prove, and the bound below is for the other validation faults.
COMMON_REJECTED = frozenset({"validation.e_rejects_1"})


@pytest.mark.parametrize("operator", OPERATORS)
def test_proofs_reach_what_they_claim(operator):
    _, runs = recorded(operator)
    first_stage_only = [reads for plan, reads in runs if not plan.run_stage2]
    computed = [reads for plan, reads in runs if plan.data_mode]
    assert first_stage_only and computed
    for entry in _entries(operator):
        difference = _difference(entry)
        proved = {id(reads) for _, reads in runs if difference and difference.proves(reads)}
        if entry.family == "variants" and difference is not None:
            assert {id(r) for r in first_stage_only} <= proved, entry.name
        if entry.family == "variants":  # a correct variant computes: no computed case is proved
            assert not proved & {id(r) for r in computed}, entry.name
        if entry.family == "validation" and difference is not None and not difference.names & {
                "check", "execute", "get_workspace_size"} and entry.name not in COMMON_REJECTED:
            assert len(proved) >= len(runs) // 2, (entry.name, len(proved), len(runs))


def test_what_the_recording_cannot_follow_proves_nothing():
    """A read of the row the record cannot say (a method of it rather than a field) leaves the
    case unproved for every entry, even one identical to the reference."""
    plain, runs = recorded("gmm_alltoallv")
    same = proof.Difference.of([type(plain)("doc") for _ in range(EP)], plain)
    assert same is not None and not same.names - {"__class__", "__dict__"} and not same.keys
    reads = runs[0][1]
    assert same.proves(reads)
    recorder = proof.Recorder()
    recorder.reads = reads
    row = proof._RecordedRow(plain.table, "table", recorder)
    row.changed({}, {}, ())  # not a field: the recording cannot say what it answered
    assert reads.unfollowed and not same.proves(reads)
    reads.unfollowed = False
