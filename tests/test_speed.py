"""The harness's own cost: a first-stage-only case runs its ranks one after the other in one
thread (same verdicts as a world of threads), a backend that communicates there still gets a
real world, a stuck first stage is a timeout naming its rank, and `ci.bench_cases` measures."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ci import bench_cases
from fixtures.harness import RankPlan
from fixtures.protocol import ALL_CAPABILITIES
from fixtures.runner import plan_case, summarise
from fixtures.world import ThreadWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Case, CaseFormatError
from ops.alltoallv_gmm.sim import SimBackend
from reports.results import cases_path, read_cases, record_case, write_cases
from spec.outcome import Cell, ConformanceFailure
from strategies import probe
from strategies import tier as tiers
from suites import _conformance
from suites._conformance import AfterFailure, case_record

ROOT = Path(__file__).resolve().parents[1]

PROFILE = load("doc")
BROKEN = "ops.alltoallv_gmm.mutants.routing:source_major_permute"  # permutes source-rank-major


def _plan(clause: str, side: str, ep: int = 4, stage: str | None = None) -> RankPlan:
    case, why = probe(clause, side, "910_95", ep, PROFILE, "float16")
    assert case is not None, why
    if stage:
        case = case.with_(stage=stage)
    _, plan, why = plan_case(case, PROFILE, ALL_CAPABILITIES, "mixed", True)
    assert plan is not None, why
    return plan


class Recording(SimBackend):
    """The sim, noting which thread ran each first stage."""

    def __init__(self, threads: list[int]) -> None:
        super().__init__("doc")
        self.threads = threads

    def get_workspace_size(self, ctx, **a):
        self.threads.append(threading.get_ident())
        return super().get_workspace_size(ctx, **a)


class Chatty(SimBackend):
    """A sim that meets its peers in the first stage (allowed by the protocol)."""

    def get_workspace_size(self, ctx, **a):
        ctx.comm.barrier()
        return super().get_workspace_size(ctx, **a)


class Stuck(SimBackend):
    def get_workspace_size(self, ctx, **a):
        if ctx.rank == 2:
            time.sleep(30)
        return super().get_workspace_size(ctx, **a)


def _statuses(reports) -> list[tuple]:
    return [(r.rank, r.status1, r.status2, [f.clause for f in r.findings]) for r in reports]


@pytest.mark.parametrize("clause,side,stage", [("RANGE.H1", "invalid", None),
                                               ("CALC.gmm", "valid", "first")])
def test_a_first_stage_plan_runs_every_rank_in_one_thread_with_the_same_verdict(
        clause: str, side: str, stage: str | None) -> None:
    plan = _plan(clause, side, stage=stage)
    assert not plan.run_stage2
    threads: list[int] = []
    world = ThreadWorld(4, lambda: Recording(threads))
    try:
        alone = world.run(plan)
        assert len(threads) == 4 and len(set(threads)) == 1
        assert threads[0] != threading.get_ident()  # in a pool thread: a timeout still holds
        world._run_alone = lambda plan: None  # the same case through the threaded path
        threaded = world.run(plan)
    finally:
        world.close()
    assert len(set(threads[4:])) == 4
    assert [s[:2] for s in _statuses(alone)] == [s[:2] for s in _statuses(threaded)]
    assert not any(r.findings for r in alone)
    want = plan.expectation.status1
    assert [r.status1 for r in alone] == list(want)


def test_a_backend_that_communicates_in_its_first_stage_gets_a_real_world() -> None:
    plan = _plan("RANGE.H1", "invalid")
    world = ThreadWorld(4, lambda: Chatty("doc"))
    try:
        reports = world.run(plan)
    finally:
        world.close()
    assert not any(r.findings for r in reports), [f.message for r in reports for f in r.findings]
    assert [r.status1 for r in reports] == list(plan.expectation.status1)


def test_a_stuck_first_stage_is_a_timeout_naming_its_rank() -> None:
    plan = _plan("RANGE.H1", "invalid")
    world = ThreadWorld(4, lambda: Stuck("doc"), timeout=0.5)
    try:
        start = time.perf_counter()
        reports = world.run(plan)
        assert time.perf_counter() - start < 15
        after = world.run(_plan("RANGE.H1", "invalid"))  # a fresh pool takes the next case
    finally:
        world.close()
    stuck = [f for r in reports for f in r.findings]
    assert [(f.rank, f.kind) for f in stuck] == [(2, "timeout")]
    assert "rank 2" in stuck[0].message
    assert [r.status1 for r in reports[:2]] == list(plan.expectation.status1[:2])
    assert len(after) == 4


def test_rank_reports_carry_their_phase_times() -> None:
    world = ThreadWorld(4, lambda: SimBackend("doc"))
    try:
        computed = world.run(_plan("CALC.gmm", "valid"))
        first = world.run(_plan("RANGE.H1", "invalid"))
    finally:
        world.close()
    assert all({"inputs", "backend", "judge"} <= set(r.timings) for r in computed)
    assert all(r.timings["backend"] > 0 for r in computed)
    assert all("judge" not in r.timings for r in first)  # nothing is judged: nothing computed


def test_bench_cases_prints_one_line_per_kind_and_world_size(capsys) -> None:
    assert bench_cases.main(["--ep", "4", "--cases", "3", "--computed-cases", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    line = re.compile(r"^(first stage|computed), ep 4: ([\d.]+) ms per case \(backend ([\d.]+) "
                      r"ms, harness ([\d.]+) ms\) over (\d+) cases; [\d.]+ ms of CPU$")
    heads = [m for m in map(line.match, out) if m]
    assert [m[1] for m in heads] == ["first stage", "computed"]
    for m in heads:
        total, backend, harness = float(m[2]), float(m[3]), float(m[4])
        assert abs(total - backend - harness) < 0.11 and total > 0
    assert float(heads[1][3]) > 0  # a computed case spends measurable time in the backend
    splits = [o for o in out if o.startswith("  draw ")]
    assert len(splits) == 2 and all("backend" in s and "world" in s for s in splits)


def test_bench_cases_fails_over_its_limit_and_rejects_bad_input(capsys) -> None:
    assert bench_cases.main(["--ep", "8", "--cases", "2", "--computed-cases", "0",
                             "--max-first-stage-ms", "0.0001"]) == 1
    assert "over --max-first-stage-ms" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        bench_cases.main(["--ep", "5"])
    assert exit_.value.code == 2
    assert "not a world size of 910_95; accepted: 4, 8, 16, 32, 64" in capsys.readouterr().err


def test_a_cell_stops_looking_at_a_failure_after_its_budget() -> None:
    budget = AfterFailure(replace(tiers.TIERS["nightly"], after_failure_runs=3,
                                  after_failure_seconds=60.0))
    budget.failed("abc", None)
    assert [budget.allows() for _ in range(5)] == [True, True, True, False, False]
    assert budget.failures == {"abc": None}
    timed = AfterFailure(replace(tiers.TIERS["nightly"], after_failure_seconds=0.0))
    timed.failed("abc", None)
    time.sleep(0.01)
    assert not timed.allows()
    pr = AfterFailure(tiers.TIERS["pr"])
    pr.failed("abc", None)
    assert not pr.allows()


def test_the_pr_tier_reports_a_failing_cell_at_its_first_failing_case(tmp_path: Path) -> None:
    """A failing cell costs no shrinking: one failing record, a saved case, a replay command
    that reproduces the verdict (shrinking made it a hundred world runs before)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_numerics.py", "-p", "no:cacheprovider",
         "-q", "-p", "no:xdist", "--product", "910_95", "--world-sizes", "4", "-k",
         "CALC.permute and valid and not bfloat16", "--backend", BROKEN,
         "--output-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = list(read_cases(cases_path(tmp_path)))
    permute = [r for r in records if r["cell"]["clause"] == "CALC.permute"]
    assert [r["outcome"] for r in permute][-1] == "failed"
    # hypothesis asks for the failing case once more to report it: answered from memory, and
    # recorded once
    assert len(permute) <= 3 and len([r for r in permute if r["outcome"] == "failed"]) == 1
    # the verdict is shown under the test's own line, not under the frames it was raised through
    failure = proc.stdout[proc.stdout.index("= FAILURES ="):]
    assert "conformance.check(cell, request.node)\nE   " in failure, failure[:2000]
    assert " in conformance_case" not in failure and " in check" not in failure
    # hypothesis prints the failing case as its id and label, not one send count a line
    shown = re.search(r"Failing test case: conformance_case\(\n\S*\s+case=Case\(id ([0-9a-f]{12}): "
                      r"valid side of CALC\.permute, stage both; 910_95 ep=4 [^\n]*\n\S*\s+\)",
                      proc.stdout)
    assert shown is not None, proc.stdout[-3000:]
    assert shown[1] == next(r["case_id"] for r in permute if r["outcome"] == "failed")
    replay = re.search(r"replay: (python -m ci\.replay .*)$", proc.stdout, re.M)
    assert replay is not None, proc.stdout[-2000:]
    again = subprocess.run([sys.executable, *shlex.split(replay[1])[1:]], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "CALC.permute" in again.stdout, again.stdout + again.stderr


def test_only_a_verdict_hides_the_suites_own_frames() -> None:
    """A verdict is shown under the test's line; an error of the suite itself keeps the frames
    of suites/_conformance.py, where it is to be found."""
    hide = _conformance.__tracebackhide__
    with pytest.raises(ConformanceFailure) as verdict:
        raise ConformanceFailure("[RANGE.H1] status on rank 0: x", None)
    with pytest.raises(KeyError) as bug:
        raise KeyError("gmmX")
    assert hide(verdict) is True and hide(bug) is False and hide(None) is False


@pytest.mark.parametrize("clause,side,ep", [("CALC.gmm", "valid", 64),
                                            ("COUNTS.send_nonneg", "invalid", 8),
                                            ("COUNTS.send_len", "invalid", 4)])
def test_a_compact_case_reads_back_as_the_same_case(clause: str, side: str, ep: int) -> None:
    case, why = probe(clause, side, "910_95", ep, PROFILE, "bfloat16")
    assert case is not None, why
    text = case.to_compact()
    assert len(text) < len(case.to_json(None)) / (4 if ep == 64 else 1)
    back = Case.from_dict(Case.dict_from_compact(text))
    assert back == case and back.id == case.id
    with pytest.raises(CaseFormatError):
        Case.dict_from_compact(text[:-8] + "AAAAAAAA")


def test_a_passing_record_is_small_and_replays_from_cases_jsonl(tmp_path: Path) -> None:
    world = ThreadWorld(64, lambda: SimBackend("doc"))
    try:
        plan = _plan("CALC.gmm", "valid", ep=64, stage="first")
        result = summarise(plan.case, plan.expectation, world.run(plan), plan, 0.1)
    finally:
        world.close()
    record = case_record(Cell("alltoallv_gmm", "CALC.gmm", "valid", "910_95", 64, "float16"), result,
                         0.1)
    assert result.outcome == "passed" and "case" not in record and "verdicts" not in record
    assert {"cell", "case_id", "outcome", "stage", "told", "timings", "case_z"} <= set(record)
    assert len(json.dumps(record)) < 6000  # the whole case was 33 KB of JSON
    assert record_case(record) == json.loads(plan.case.to_json(None))
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps({"case_id": "0" * 12, "x": 1}) + "\n" + json.dumps(record) + "\n")
    proc = subprocess.run([sys.executable, "-m", "ci.replay", str(path), "--case-id",
                           record["case_id"]], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "verdict: PASSED" in proc.stdout, proc.stdout + proc.stderr
    assert f"id {plan.case.id}" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "ci.replay", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "name one with --case-id" in bad.stderr
    packed = write_cases(tmp_path / "cases.jsonl.gz", [record])  # as a run writes it now
    proc = subprocess.run([sys.executable, "-m", "ci.replay", str(packed), "--case-id",
                           record["case_id"]], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "verdict: PASSED" in proc.stdout, proc.stdout + proc.stderr
    packed.write_bytes(packed.read_bytes()[:40])
    cut = subprocess.run([sys.executable, "-m", "ci.replay", str(packed), "--case-id",
                          record["case_id"]], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert cut.returncode == 2 and len(cut.stderr.strip().splitlines()) == 1, cut.stderr
    assert "not a readable cases file" in cut.stderr
