"""Faults injected into rank processes: every faulty case gets a crash or timeout verdict that
names the rank (and the signal), the world restarts, the next case passes, nothing is left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fixtures import devices
from fixtures.backends import BackendSpec
from fixtures.pool import ProcessWorld
from tests.support import leaks
from tests.support.pool_cases import any_world_plan, result_of
from tests.support.runs import read_cases

ROOT = Path(__file__).resolve().parent.parent
FAULTY = BackendSpec("tests.support.pool_backends:faulty", {"behavior": "doc"})
CASE_TIMEOUT = 4.0
CULPRIT = 1


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    shm_before, children_before = leaks.shm_entries(), set(leaks.children())
    leaser = devices.Leaser(range(4), folder / "locks", timeout=5)
    w = ProcessWorld(2, FAULTY, timeout=CASE_TIMEOUT, leaser=leaser, grace=3, backoff=(0.1,),
                     env={"POOL_FAULT_FILE": str(folder / "fault.json")})
    w.fault_file = folder / "fault.json"  # type: ignore[attr-defined]
    yield w
    w.close()
    assert not any(leaks.alive(p) for p in w.all_pids)
    assert set(leaks.children()) <= children_before
    assert devices.holders(folder / "locks", range(4)) == "none held now"
    assert not leaks.orphaned_shm(shm_before)


def inject_file(path: Path, *kinds: str, rank: int = CULPRIT) -> None:
    """The next cases' faults: each kind fires once, in order, on `rank`."""
    path.write_text(json.dumps({"id": uuid.uuid4().hex, "rank": rank, "kinds": list(kinds)}))


def inject(world: ProcessWorld, *kinds: str, rank: int = CULPRIT) -> None:
    inject_file(world.fault_file, *kinds, rank=rank)  # type: ignore[attr-defined]


FAULTS = [
    # (fault, verdict kind, what the culprit's finding says)
    ("hang", "timeout", "stuck outside any collective at"),
    ("sigkill", "crash", "died by signal SIGKILL"),
    ("sigsegv", "crash", "died by signal SIGSEGV"),
    ("exit", "crash", "exited with code 3"),
    ("raise", "crash", "RuntimeError('injected fault: raise')"),
    ("raise_first", "crash", "first stage raised RuntimeError('injected fault: raise_first')"),
    ("skip", "crash", "left the operator without joining its collective"),
]


@pytest.mark.parametrize(("fault", "kind", "says"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_faulty_rank_is_named_and_the_next_case_passes(world: ProcessWorld, fault: str,
                                                         kind: str, says: str) -> None:
    warm = any_world_plan(2, 21)
    assert result_of(warm, world.run(warm)).passed
    before = list(world.pids)
    inject(world, fault)
    plan = any_world_plan(2, 22)
    result = result_of(plan, world.run(plan))
    assert result.outcome == "failed" and len(result.reports) == 2
    named = [f for f in result.findings if f.rank == CULPRIT and f.kind == kind]
    assert named, [(f.rank, f.kind, f.message) for f in result.findings]
    assert says in named[0].message, named[0].message
    assert not any(leaks.alive(p) for p in before)  # the old world is gone, and reaped
    after = any_world_plan(2, 23)
    assert result_of(after, world.run(after)).passed
    assert world.pids and not set(world.pids) & set(before)


def test_a_hung_rank_is_told_from_its_waiting_peers(tmp_path: Path) -> None:
    fault = tmp_path / "fault.json"
    with ProcessWorld(3, FAULTY, timeout=CASE_TIMEOUT, leaser=None,
                      env={"POOL_FAULT_FILE": str(fault)}) as world:
        inject_file(fault, "hang")
        plan = any_world_plan(3, 24)
        result = result_of(plan, world.run(plan))
        pids = world.all_pids
    by_rank = {f.rank: f.message for f in result.findings if f.kind == "timeout"}
    assert sorted(by_rank) == [0, 1, 2]
    assert "stuck outside any collective" in by_rank[CULPRIT] and "in inject" in by_rank[CULPRIT]
    for peer in (0, 2):
        assert "waiting in a collective" in by_rank[peer] and f"[{CULPRIT}]" in by_rank[peer]
    assert not any(leaks.alive(p) for p in pids)


def test_a_rank_that_never_joins_the_last_collective_times_out_named(world: ProcessWorld) -> None:
    inject(world, "skip")
    plan = any_world_plan(2, 25, repeat=False)  # nothing after the operator's collective
    result = result_of(plan, world.run(plan))
    named = [f for f in result.findings if f.rank == CULPRIT and f.kind == "timeout"]
    assert named and "without joining the collective" in named[0].message
    assert result_of(any_world_plan(2, 26), world.run(any_world_plan(2, 26))).passed


def test_the_suite_finishes_with_a_verdict_for_every_faulty_case(tmp_path: Path) -> None:
    fault = tmp_path / "fault.json"
    fault.write_text(json.dumps({"id": "suite", "rank": 2, "kinds": ["sigsegv", "hang"]}))
    out = tmp_path / "out"
    env = {**os.environ, "POOL_FAULT_FILE": str(fault)}
    proc = subprocess.run(
        # a failing cell stops at its failing case: CALC.mm's cells run after both faults; the
        # case timeout leaves the tile-boundary worlds of these cells room on a loaded runner
        [sys.executable, "-m", "pytest", "suites/test_numerics.py", "-k", "CALC.gmm or CALC.mm",
         "-q",
         "-p", "no:cacheprovider",
         "--backend", "tests.support.pool_backends:faulty", "--backend-option", "behavior=doc",
         "--product", "910_95", "--world-sizes", "4", "--case-timeout", "15",
         "--output-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    tail = proc.stdout[-3000:]
    assert proc.returncode == 1, tail  # failures reported, the run went on to the end
    last = tail.strip().splitlines()[-1]
    assert "failed" in last and "error" not in last, tail  # verdicts, not errors of the run
    records = read_cases(out)
    failed = [r for r in records if r["outcome"] == "failed"]
    messages = [f["message"] for r in failed for f in r["findings"] if f["rank"] == 2]
    assert any("rank 2 died by signal SIGSEGV" in m for m in messages), messages
    assert any("rank 2 did not finish within 15 s" in m for m in messages), messages
    assert sum(r["outcome"] == "passed" for r in records) >= 2  # the cases after each fault
    # Nothing of that run survives it: no process still carries its environment.
    assert not [pid for pid in leaks.pids_with(str(fault))], "rank processes outlived the run"
