"""ci.mutation: bad input in one line, seeded PR runs, the kill matrix and its verdict, and the
quick subset of the catalog run for real (every mutant killed, every variant passed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest
from _pytest.reports import TestReport

import ops
from ci import _cli
from ci.mutation import modes, plan, report, tier
from ci.mutation.__main__ import parser
from ci.mutation.modes import shards
from ci.mutation.plugin import area_of, first_finding
from fixtures.harness import Finding
from spec import memo
from spec.outcome import FAILURE
from suites._conformance import cell_seed
from tests.support.runs import read_cases

ROOT = Path(__file__).resolve().parents[1]
OP = ops.get("alltoallv_gmm")
M = OP.part("mutants")


def run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["routing.nosuch"], "unknown catalog entry or family 'routing.nosuch'"),
    (["--seeds", "one"], "--seeds 'one': expected comma-separated integers"),
    (["--seeds", "1,1"], "--seeds '1,1': expected distinct non-negative integers"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--product", "A4"], "--product 'A4': unknown product A4"),
    (["--spec-profile", "cann-1999"], "unknown spec profile 'cann-1999'"),
    (["--quick", "routing"], "--quick runs its own subset"),
    (["--operator", "nosuch"], "--operator 'nosuch': unknown operator nosuch"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = run(["-m", "ci.mutation", *args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ci.mutation: ") and message in lines[0], lines


def test_the_catalog_is_found_through_its_operator():
    assert plan.operators(None) == (OP, ops.get("gmm_alltoallv"))
    assert plan.operators("alltoallv_gmm") == (OP,)
    assert M.__name__ == "ops.alltoallv_gmm.mutants"
    assert M.get("routing.source_major_permute").target == (
        "ops.alltoallv_gmm.mutants.routing:source_major_permute")


def test_an_operator_without_a_catalog_is_one_clear_error(monkeypatch):
    bare = replace(OP, name="bare", parts={k: v for k, v in OP.parts.items() if k != "mutants"})
    monkeypatch.setattr(ops, "select", lambda raw: (bare,))
    with pytest.raises(_cli.UsageFailure, match="--operator bare: it has no mutant catalog"):
        plan.operators("bare")
    with pytest.raises(_cli.UsageFailure, match="no operator has a mutant catalog"):
        plan.operators(None)


def test_families_and_names_select_in_catalog_order():
    chosen = plan.select(OP, ["variants", "routing.peers_reversed"])
    assert [e.name for e in chosen] == ["routing.peers_reversed"] + [
        e.name for e in M.entries("variant")]
    assert plan.select(OP, []) == M.entries()


def test_each_cell_of_a_seeded_run_has_its_own_seed():
    seeds = {cell_seed("1", f"CALC.gmm-valid-A3-ep8-{d}") for d in ("float16", "bfloat16")}
    seeds.add(cell_seed("2", "CALC.gmm-valid-A3-ep8-float16"))
    assert len(seeds) == 3 and cell_seed("1", "x") == cell_seed("1", "x")


def _case_ids(tmp: Path, *seed: str) -> list[str]:
    proc = run(["-m", "pytest", "suites/test_numerics.py", "-q", "-p", "no:cacheprovider",
                "--product", "910_95", "--world-sizes", "4", "-k", "CALC.gmm and float16",
                "--output-dir", str(tmp), *seed], timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    return [r["case_id"] for r in read_cases(tmp)]


def test_hypothesis_seed_reseeds_the_pr_profile(tmp_path):
    """Under `pr` (derandomised) each seed draws other cases, and the same seed the same ones."""
    plain = _case_ids(tmp_path / "plain")
    one = _case_ids(tmp_path / "one", "--hypothesis-seed", "1")
    again = _case_ids(tmp_path / "again", "--hypothesis-seed", "1")
    two = _case_ids(tmp_path / "two", "--hypothesis-seed", "2")
    assert one == again
    assert len({tuple(plain), tuple(one), tuple(two)}) == 3


def test_the_plugin_reads_areas_and_findings():
    assert area_of("suites/test_numerics.py::test_numerics[CALC.gmm-valid-A3-ep8-float16]") == "numerics"
    assert area_of("suites/test_regressions.py::test_regression[x]") == "regressions"
    verdict = Finding("RANGE.H1", "status", "first stage returned 0\nmore", 3)
    failing = TestReport("x", ("x", 1, "x"), {}, "failed", None, "call",
                         user_properties=[(FAILURE, {"finding": verdict.brief()})])
    assert first_finding(failing) == "[RANGE.H1] status on rank 3: first stage returned 0"
    # The text of a failure that is not a verdict is never read for one.
    other = TestReport("x", ("x", 1, "x"), {}, "failed",
                       "E   ConformanceFailure: [RANGE.H1] status on rank 3: looks like one", "call")
    assert first_finding(other) is None


def _run(name: str, seed: int, ran: dict[str, int], failures: list[tuple[str, str]]
         ) -> report.Run:
    return report.Run(M.get(name), seed, ran=ran, failures=[
        {"area": area, "where": f"case of {area}", "finding": finding} for area, finding in failures])


def test_a_survivor_and_a_false_alarm_fail_the_verdict():
    killed = _run("routing.source_major_permute", 1, {"numerics": 3, "null": 5},
                  [("numerics", "[CALC.permute] movement on rank 0: x")])
    survivor = _run("validation.h1_accepts_65536", 1, {"boundaries": 9}, [])
    alarm = _run("variants.chunked_pipeline", 1, {"numerics": 4},
                 [("numerics", "[CALC.gmm] numeric on rank 1: y")])
    clean = _run("variants.float64_accumulation", 1, {"numerics": 4}, [])
    entries = [killed.entry, survivor.entry, alarm.entry, clean.entry]
    out = report.Outcome(OP, entries, [1], [killed, survivor, alarm, clean], {1: 12.0})
    assert out.status() == _cli.FAILED
    assert out.survivors() == [(survivor.entry, 1)] and out.false_alarms() == [alarm]
    args = Namespace(product="A3", spec_profile="doc", hypothesis_profile="pr", world_sizes=None,
                     jobs=2, mode="replay", left_out=[])
    text = "\n".join(report.summary_lines(out, args))
    assert "aclnnAlltoAllvGroupedMatMul: 2 mutants, 2 correct variants" in text
    assert "kill rate: 1/2 mutants killed in every seed (50.0 %)" in text
    assert "SURVIVED: validation.h1_accepts_65536 (seed 1)" in text
    assert "FALSE ALARM variants.chunked_pipeline seed 1: case of numerics: [CALC.gmm]" in text
    assert "RESULT: FAILED (exit 1)" in text
    row = next(line for line in text.splitlines() if line.startswith("routing.source_major_permute"))
    assert row.split()[1:5] == [".", "-", "-", "1"] and row.endswith("1/1 killed")
    data = report.to_json(out, args)
    assert data["operator"] == "alltoallv_gmm"
    assert data["kill_rate"] == {"killed": 1, "mutants": 2}
    assert data["false_alarms"][0]["entry"] == "variants.chunked_pipeline"


def test_a_broken_run_is_neither_a_kill_nor_a_pass():
    broken = report.Run(M.get("routing.peers_reversed"), 1, broken="pytest exit status 3: x")
    out = report.Outcome(OP, [broken.entry], [1], [broken], {1: 1.0})
    assert out.status() == _cli.BROKEN and not out.survivors()


def test_a_failing_reference_names_the_test_and_its_finding(monkeypatch, tmp_path):
    """A reference sim that fails its own tier stops the run with the finding, not just a node
    id, so a timeout under load reads differently from a wrong verdict."""
    def fake_pytest(cmd, timeout):
        record = Path(cmd[cmd.index("--mutation-record") + 1])
        record.write_text(json.dumps({"nodeid": "suites/t.py::t[X]", "area": "boundaries",
                                      "outcome": "failed", "finding": "timeout on rank 2"}) + "\n")
        return 1, None

    monkeypatch.setattr(tier, "run_pytest", fake_pytest)
    args = parser().parse_args(["--seeds", "5"])
    with pytest.raises(RuntimeError, match=r"seed 5: suites/t.py::t\[X\] \(timeout on rank 2\)"):
        modes.reference_cases(OP, 5, args, [], tmp_path)


def _quick(tmp: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp / "mutation.json"
    proc = run(["-m", "ci.mutation", "--operator", OP.name, "--quick", "--seeds", "1", "--json",
                str(out), *extra],
               timeout=900)
    return proc, (json.loads(out.read_text()) if out.exists() else {})


@pytest.mark.slow
def test_the_quick_subset_kills_every_mutant_passes_every_variant_in_both_modes(tmp_path):
    """The quick subset for real, replayed (the default) and as one pytest run per entry: every
    mutant killed, every variant passed, and the two modes agree on which areas kill what (the
    replay mode's claim: an entry meets the very cases the tier would give it)."""
    found = {}
    for mode in ("replay", "pytest"):
        proc, data = _quick(tmp_path / mode, "--mode", mode)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "false alarms: none" in proc.stdout and "RESULT: PASSED (exit 0)" in proc.stdout
        mutants = [e for e in data["entries"] if e["kind"] == "mutant"]
        assert {e["name"].split(".")[0] for e in mutants} == {
            "routing", "arithmetic", "outputs", "validation", "nondeterminism", "tiles"}
        assert data["kill_rate"] == {"killed": len(mutants), "mutants": len(mutants)}
        variants = [e for e in data["entries"] if e["kind"] == "variant"]
        assert len(variants) == 3
        for e in variants:  # judged in every area the selection reaches, and never failed
            assert not e["runs"][0]["failures"] and len(e["runs"][0]["ran"]) >= 5
        found[mode] = {e["name"]: sorted(e["runs"][0]["killed"]) for e in data["entries"]}
    assert found["replay"] == found["pytest"]


def test_shares_are_balanced_by_world_size_then_cheapest_first():
    """Each share holds one world size after another and, within a size, its cheapest cases
    first (a mutant killed by a cheap case of an area never meets the costly ones)."""
    cases = [{"case": {"ep": ep}, "seconds": s}
             for ep, s in [(8, 5.0), (4, 0.1), (8, 0.2), (64, 1.0), (4, 3.0), (8, 0.5), (64, 0.1)]]
    shares = shards(cases, 2)
    assert sorted(c["seconds"] for share in shares for c in share) == sorted(
        c["seconds"] for c in cases)
    for share in shares:
        keys = [(c["case"]["ep"], c["seconds"]) for c in share]
        assert keys == sorted(keys)
    loads = [sum(c["seconds"] for c in share) for share in shares]
    assert max(loads) - min(loads) <= 5.0


def test_a_remembered_value_is_computed_once_inside_remembering_and_always_outside():
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert memo.remembered(("k",), compute) == 1 and memo.remembered(("k",), compute) == 2
    with memo.remembering():
        assert memo.remembered(("k",), compute) == 3
        assert memo.remembered(("k",), compute) == 3
        assert memo.remembered(("other",), compute) == 4
    assert memo.remembered(("k",), compute) == 5


def _run_in_turns(make, case, profile):
    """The case's verdict on a TurnWorld of `make`'s backends, as the replay worker judges it."""
    from fixtures.runner import plan_case, summarise
    from fixtures.world import TurnWorld

    world = TurnWorld(case.ep, make)
    try:
        exp, plan, _ = plan_case(case, profile, world.backends[0].capabilities, "mixed", True)
        return summarise(case, exp, world.run(plan), plan, 0.0)
    finally:
        world.close()


def test_a_replay_inside_remembering_passes_the_reference_and_catches_clobbered_inputs():
    """Inside `remembering()`, as the replay runs a case on each entry in turn: the reference
    passes, and an entry that writes into its input gmmX still fails on intact inputs (the
    digest taken before the call is remembered; the one after is the entry's own)."""
    from ci.mutation import catalog
    from ops.alltoallv_gmm.sim import SimBackend
    from strategies import probe

    op = ops.get("alltoallv_gmm")
    profile = op.profile("doc")
    case, why = probe("CALC.gmm", "valid", "910_95", 4, profile, "float16")
    assert case is not None, why
    verdicts = {}
    with memo.remembering():
        for name in ("reference", "outputs.gmm_x_clobbered"):
            make = (lambda: SimBackend("doc")) if name == "reference" \
                else (lambda n=name: catalog(op).get(n).make(behavior="doc"))
            result = _run_in_turns(make, case, profile)
            verdicts[name] = (result.outcome, result.failing_clauses())
    assert verdicts == {"reference": ("passed", []),
                        "outputs.gmm_x_clobbered": ("failed", ["OUT.inputs"])}


@pytest.mark.parametrize("operator", ["alltoallv_gmm", "gmm_alltoallv"])
def test_a_replay_judges_each_set_of_output_bits_once(operator: str, monkeypatch):
    """Inside `remembering()`: an entry that writes the reference's bits is not judged again (its
    verdict is the reference's), one whose bits differ is judged on every rank and fails."""
    from ci.mutation import catalog
    from fixtures.backends import BackendSpec
    from strategies import probe

    op = ops.get(operator)
    oracle = op.part("oracle")
    judged = []
    judge_outputs = oracle.judge_outputs

    def counting(case, rank, *args):
        judged.append(rank)
        return judge_outputs(case, rank, *args)

    monkeypatch.setattr(oracle, "judge_outputs", counting)
    profile = op.profile("doc")
    reference = BackendSpec.for_profile("sim", {}, profile).make
    entries = {"reference": reference, "the reference again": reference,
               "low precision": lambda: catalog(op).get(
                   "arithmetic.low_precision_accumulation").make(behavior="doc")}
    case, why = probe("CALC.gmm", "valid", "910_95", 4, profile, "float16")
    assert case is not None, why
    seen = {}
    with memo.remembering():
        for name, make in entries.items():
            del judged[:]
            result = _run_in_turns(make, case, profile)
            seen[name] = (result.outcome, sorted(judged))
    assert seen == {"reference": ("passed", [0, 1, 2, 3]),
                    "the reference again": ("passed", []),
                    "low precision": ("failed", [0, 1, 2, 3])}
