"""The turn-taking world (fixtures/world.py TurnWorld): ranks as greenlets of one thread that
switch only inside the communicator's collectives, with the verdicts of the threaded world."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fixtures.backends import BackendError, BackendSpec
from fixtures.harness import RankPlan
from fixtures.protocol import CommAborted
from fixtures.runner import Worlds, plan_case
from fixtures.world import LoneComm, ThreadWorld, TurnExchange, TurnWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.sim import SimBackend
from strategies import clause_cases, probe

PROFILE = load("doc")


def _valid_case(ep: int = 4) -> Case:
    case, why = probe("CALC.gmm", "valid", "910_95", ep, PROFILE, "float16")
    assert case is not None, why
    return case


def _first_stage_case(ep: int = 4) -> Case:
    case, why = probe("RANGE.H1", "invalid", "910_95", ep, PROFILE, "float16")
    assert case is not None, why
    return case


def _plan(case: Case, repeat: bool = True) -> RankPlan:
    _, plan, why = plan_case(case, PROFILE, SimBackend.capabilities, "mixed", repeat)
    assert plan is not None, why
    return plan


def test_the_sim_takes_turns_and_gives_the_threaded_worlds_verdicts() -> None:
    assert BackendSpec("sim").world_kind() == "turns"
    case = _valid_case()
    plan = _plan(case)
    turns, threads = TurnWorld(4, lambda: SimBackend("doc")), ThreadWorld(4, lambda: SimBackend("doc"))
    try:
        a, b = turns.run(plan), threads.run(plan)
    finally:
        turns.close()
        threads.close()
    assert [(r.status1, r.status2, r.findings) for r in a] == [
        (r.status1, r.status2, r.findings) for r in b]
    assert all(r.status2 == 0 and not r.findings for r in a)
    assert {v["clause"] for r in a for v in r.verdicts} >= {"CALC.gmm"}


def test_every_rank_of_a_case_runs_in_one_thread() -> None:
    seen: set[int] = set()

    class Recording(SimBackend):
        def execute(self, ctx, *args):
            seen.add(threading.get_ident())
            return super().execute(ctx, *args)

    world = TurnWorld(8, lambda: Recording("doc"))
    try:
        reports = world.run(_plan(_valid_case(8)))
    finally:
        world.close()
    assert all(r.status2 == 0 for r in reports)
    assert len(seen) == 1 and threading.get_ident() not in seen


class _LeavesEarly(SimBackend):
    """Rank 1 returns from the second stage without taking part in its AlltoAllv; with no
    repeat to vote on, it then ends."""

    def execute(self, ctx, *args):
        if ctx.rank == 1:
            return 0
        return super().execute(ctx, *args)


def test_a_rank_that_leaves_a_collective_is_named_at_once_not_after_a_timeout() -> None:
    world = TurnWorld(4, lambda: _LeavesEarly("doc"), timeout=60)
    start = time.perf_counter()
    try:
        reports = world.run(_plan(_valid_case(), repeat=False))
    finally:
        world.close()
    assert time.perf_counter() - start < 10
    waiting = [f for r in reports if r.rank != 1 for f in r.findings]
    assert waiting and all(f.kind == "crash" for f in waiting)
    assert "ended while" in waiting[0].message and "[1]" in waiting[0].message


class _Stuck(SimBackend):
    def execute(self, ctx, *args):
        if ctx.rank == 2:
            time.sleep(12)
        return super().execute(ctx, *args)


def test_a_stuck_rank_is_a_timeout_naming_it_and_the_next_case_runs() -> None:
    # The timeout leaves the other ranks' turns ample time on a loaded machine.
    world = TurnWorld(4, lambda: _Stuck("doc"), timeout=3)
    try:
        reports = world.run(_plan(_valid_case()))
        kinds = {r.rank: [f.kind for f in r.findings] for r in reports}
        assert kinds[2] == ["timeout"] and "rank 2 did not finish" in reports[2].findings[0].message
        assert "waiting for rank 2" in reports[3].findings[0].message
        world.backends = [SimBackend("doc") for _ in range(4)]
        again = world.run(_plan(_valid_case()))
    finally:
        world.close()
    assert all(r.status2 == 0 and not r.findings for r in again)


class _Mismatched(SimBackend):
    """Rank 0 calls a barrier where its peers call the AlltoAllv."""

    def communicate(self, ctx, a):
        if ctx.rank == 0:
            ctx.comm.barrier()
        return super().communicate(ctx, a)


class _TalksInTheFirstStage(SimBackend):
    """Rank 0 calls the AlltoAllv in its first stage, while its peers are in the harness's
    vote on going on to the second."""

    def get_workspace_size(self, ctx, **kwargs):
        if ctx.rank == 0:
            ctx.comm.alltoallv([np.zeros(1, np.int8)] * ctx.world_size)
        return super().get_workspace_size(ctx, **kwargs)


@pytest.mark.parametrize(("backend", "rank0", "rank1"), [
    (_Mismatched, "barrier", "alltoallv"),
    (_TalksInTheFirstStage, "alltoallv", "the harness's vote"),
])
def test_ranks_in_different_collectives_are_aborted_with_what_each_called(backend, rank0, rank1
                                                                          ) -> None:
    world = TurnWorld(4, lambda: backend("doc"), timeout=60)
    try:
        reports = world.run(_plan(_valid_case()))
    finally:
        world.close()
    messages = [f.message for r in reports for f in r.findings]
    assert any(f"rank 0 {rank0}" in m and f"rank 1 {rank1}" in m for m in messages)


def test_the_harness_vote_is_one_flag_a_rank() -> None:
    exchange = TurnExchange(3, None)
    exchange.arrived = {0: True, 1: False, 2: True}
    exchange.complete()
    assert exchange.received == {0: False, 1: False, 2: False}


def test_a_rank_alone_votes_its_own_flag_and_any_collective_is_misuse() -> None:
    """A first-stage-only plan runs each rank alone: the harness's vote is the rank's own flag
    (one flag, not one a peer), and an operator collective there marks the run for a world."""
    comm = LoneComm()
    assert comm.vote(True) is True and comm.vote(False) is False and not comm.misused
    with pytest.raises(CommAborted):
        comm.alltoallv([np.zeros(4, np.float16)] * 128)
    assert comm.misused
    plan = _plan(_first_stage_case())
    assert not plan.run_stage2
    world = ThreadWorld(4, lambda: _TalksInTheFirstStage("doc"))
    try:
        assert world.first_stage_alone(plan) is None  # a world runs it instead
    finally:
        world.close()
    quiet = ThreadWorld(4, lambda: SimBackend("doc"))
    try:
        reports = quiet.first_stage_alone(plan)
    finally:
        quiet.close()
    assert reports is not None and [r.rank for r in reports] == [0, 1, 2, 3]


def test_each_rank_is_timed_by_its_own_cpu_not_its_peers_turns() -> None:
    class Busy(SimBackend):
        def execute(self, ctx, *args):
            if ctx.rank == 3:  # burn CPU while ranks 0-2 wait in the collective
                end = time.thread_time() + 0.3
                while time.thread_time() < end:
                    pass
            return super().execute(ctx, *args)

    world = TurnWorld(4, lambda: Busy("doc"))
    try:
        reports = world.run(_plan(_valid_case()))
    finally:
        world.close()
    backend = {r.rank: r.timings["backend"] for r in reports}
    assert backend[3] >= 0.3
    assert all(backend[r] < 0.15 for r in (0, 1, 2)), backend


def test_a_backend_without_a_declared_world_gets_threads_and_a_bad_one_is_one_line(
        tmp_path, monkeypatch) -> None:
    (tmp_path / "plain_backend.py").write_text(
        "from ops.alltoallv_gmm.sim import SimBackend\n"
        "class Plain(SimBackend):\n    world = 'threads'\n"
        "def factory(**o):\n    return Plain(**o)\n"
        "class Odd(SimBackend):\n    world = 'fibres'\n"
        "def odd(**o):\n    return Odd(**o)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert BackendSpec("plain_backend:factory").world_kind() == "threads"
    with pytest.raises(BackendError, match="'fibres'; accepted: threads, turns, processes"):
        BackendSpec("plain_backend:odd").world_kind()
    worlds = Worlds(BackendSpec("sim"))
    try:
        assert isinstance(worlds.world(4), TurnWorld)
    finally:
        worlds.close()


def test_cases_drawn_for_a_cell_run_alike_in_both_worlds() -> None:
    """Over a few drawn cases of cells with collectives and faults, the two worlds agree."""
    from hypothesis import given, settings

    seen = []
    turns, threads = TurnWorld(4, lambda: SimBackend("doc")), ThreadWorld(4, lambda: SimBackend("doc"))

    @settings(max_examples=4, derandomize=True, deadline=None, database=None)
    @given(case=clause_cases("STAGE2.workspace_small", "invalid", "910_95", 4, PROFILE, "float16"))
    def both(case: Case) -> None:
        _, plan, _ = plan_case(case, PROFILE, SimBackend.capabilities, "mixed", True)
        if plan is None:
            return
        a, b = turns.run(plan), threads.run(plan)
        assert [(r.status1, r.status2, [f.kind for f in r.findings]) for r in a] == [
            (r.status1, r.status2, [f.kind for f in r.findings]) for r in b]
        seen.append(a[0].status2)

    try:
        both()
    finally:
        turns.close()
        threads.close()
    assert seen and all(s not in (None, 0) for s in seen)
