"""The suite as its users run it: option errors in one line, the same collection on every worker,
a broken backend caught with the clause and a replay command that reproduces the verdict,
known failures, and hypothesis profiles that a CI variable cannot switch."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runs import read_cases

ROOT = Path(__file__).resolve().parents[1]
TITLE = "aclnnAlltoAllvGroupedMatMul"  # the operator under test (ops/alltoallv_gmm)
BROKEN = "ops.alltoallv_gmm.mutants.routing:source_major_permute"  # permutes source-rank-major
SMALL = ["--operator", "alltoallv_gmm", "--product", "910_95", "--world-sizes", "4",
         "--hypothesis-profile", "debug", "-p", "no:cacheprovider", "-q"]


def run(args: list[str], env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def pytest_suites(*args: str, env: dict | None = None, output: Path | None = None
                  ) -> subprocess.CompletedProcess:
    extra = ["--output-dir", str(output)] if output else []
    return run(["-m", "pytest", "suites", *SMALL, *extra, *args], env=env)


@pytest.mark.parametrize("args, message", [
    (["--product", "A4"], "--product 'A4': unknown product A4; accepted: A3, 910_95"),
    (["--spec-profile", "cann-1999"],
     f"unknown spec profile 'cann-1999' of {TITLE}; available: cann-2025.12, cann-2026.07, doc, "
     "doc-2026.07"),
    (["--spec-profile", "auto"], "--spec-profile auto: reads the installed CANN, so it needs a "
                                 "hardware backend"),
    (["--entry", "v3"], "--entry 'v3': accepted: v1, v2"),
    (["--comm-mode", "ccu"], "--comm-mode: only V2 takes a commMode; add --entry v2"),
    (["--entry", "v2"], f"--entry v2: spec profile doc of {TITLE} predates its V2; "
                        "profiles with it: cann-2026.07, doc-2026.07"),
    (["--entry", "v2", "--spec-profile", "cann-2026.07", "--comm-mode", "hccs"],
     f"--comm-mode 'hccs': accepted: ai_cpu, ccu (profile cann-2026.07 of {TITLE})"),
    (["--judge", "cosine"], "--judge 'cosine': accepted: mixed, mere-mare, allclose"),
    (["--backend", "nosuch"], "--backend 'nosuch': expected a built-in name (sim, torch, torch_npu, "
                              "aclnn) or package.module:factory"),
    (["--backend", "tests.support.nosuch:factory"], "cannot import 'tests.support.nosuch'"),
    (["--backend", "ci.mutants.routing:source_major_permute"],
     "did you mean ops.alltoallv_gmm.mutants.routing:source_major_permute?"),
    (["--backend-option", "fast"], "--backend-option 'fast': expected key=value"),
    (["--backend-option", "behavior=fast"], "accepted: doc, cann-2025.12"),
    (["--world-sizes", "four"], "--world-sizes 'four': expected comma-separated positive integers"),
    (["--world-sizes", "256", "--product", "910_95"], "--world-sizes 256: no cell of the chosen "
     "operators and products has one of these world sizes; accepted: 2, 4, 8, 12, 16, 32, 64, 128"),
    (["--known-failures", "/nonexistent.toml"], "--known-failures /nonexistent.toml: no such file"),
    (["--expectations", "/nonexistent.toml"], "--known-failures /nonexistent.toml: no such file"),
    (["--memory-budget", "lots"], "--memory-budget 'lots': expected a number of GiB"),
    (["--backend", "torch_npu"], "--product: a hardware backend runs on one product; name it: "
                                 "--product A3 or --product 910_95"),
    (["--operator", "alltoallv_gmm", "--spec-profile", "cann-2025.12", "--product", "910_95"],
     "--product 910_95: spec profile cann-2025.12 of aclnnAlltoAllvGroupedMatMul covers A3 only; "
     "this selects nothing"),
])
def test_a_bad_option_stops_the_run_with_one_clear_line(args, message):
    proc = run(["-m", "pytest", "suites", "--collect-only", "-q", *args])
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_a_malformed_known_failures_file_names_the_entry(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text('[[expected_failure]]\nclause = "RANGE.H1"\n')
    proc = run(["-m", "pytest", "suites", "--collect-only", "-q", "--known-failures", str(path)])
    assert proc.returncode == 4
    assert "expected_failure #1: every known failure needs a reason" in proc.stderr


def test_a_simulated_backend_tests_every_product_by_default():
    ids = [line for line in run(["-m", "pytest", "suites", "--collect-only", "-q"]).stdout.splitlines()
           if "::" in line]
    assert {p for p in ("-A3-", "-910_95-") if any(p in i for i in ids)} == {"-A3-", "-910_95-"}


def test_a_version_without_the_operator_on_a_product_tests_nothing_there_and_says_so():
    """The December 2025 code registers the dispatch for Atlas A3 alone: its profile's run has no
    950 cell, and the summary names the product left out and why."""
    args = ["--operator", "alltoallv_gmm", "--spec-profile", "cann-2025.12"]
    ids = [line for line in run(["-m", "pytest", "suites", "--collect-only", "-q", *args]
                                ).stdout.splitlines() if "::" in line]
    assert ids and all("-910_95-" not in i for i in ids)
    proc = run(["-m", "pytest", "suites/test_boundaries.py", "-p", "no:xdist", "-q", *args,
                "-k", "RANGE.BS and invalid and ep8"])
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert ("products A3, 910_95 left out (spec profile cann-2025.12 of "
            "aclnnAlltoAllvGroupedMatMul covers A3 only)") in proc.stdout


def test_collection_is_the_same_on_every_worker():
    ids = [[line for line in run(["-m", "pytest", "suites", "--collect-only", "-q", "--product",
                                  "A3,910_95"], env={"PYTHONHASHSEED": seed}).stdout.splitlines()
            if "::" in line] for seed in ("1", "2")]
    assert ids[0] == ids[1] and len(ids[0]) > 2000


def test_a_broken_backend_is_caught_named_and_replayed(tmp_path):
    proc = pytest_suites("suites/test_numerics.py", "-k", "CALC.permute-valid",
                         "--backend", BROKEN, output=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "[CALC.permute] movement on rank" in proc.stdout
    replay = re.search(r"replay: (python -m ci\.replay .+)", proc.stdout)
    assert replay, proc.stdout[-3000:]
    argv = shlex.split(replay.group(1))
    assert argv[:3] == ["python", "-m", "ci.replay"] and BROKEN in argv
    again = run(argv[1:])
    assert again.returncode == 1, again.stdout + again.stderr
    assert "verdict: FAILED" in again.stdout and "[CALC.permute] movement" in again.stdout
    # the same case passes on the correct backend: the verdict is the backend's
    correct = run([*argv[1:argv.index("--backend")], "--spec-profile", "doc"])
    assert correct.returncode == 0, correct.stdout


def test_known_failures_pass_the_run_and_unexpected_passes_fail_it(tmp_path):
    known = tmp_path / "known.toml"
    known.write_text('[[expected_failure]]\nclause = "CALC.permute"\nside = "valid"\n'
                     'reason = "planted: source-rank-major permute"\n')
    broken = pytest_suites("suites/test_numerics.py", "-k", "CALC.permute-valid",
                           "--backend", BROKEN, "--known-failures",
                           str(known), output=tmp_path)
    assert broken.returncode == 0, broken.stdout[-2000:]
    assert "xfailed" in broken.stdout
    healed = pytest_suites("suites/test_numerics.py", "-k", "CALC.permute-valid",
                           "--expectations", str(known), output=tmp_path)  # its older name
    assert healed.returncode == 1 and "XPASS(strict)" in healed.stdout


def test_the_pr_profile_is_loaded_unless_another_is_asked_for():
    from hypothesis import settings

    assert settings.get_current_profile_name() == "pr"
    assert settings.default.derandomize and settings.default.database is None


def test_a_ci_variable_does_not_switch_the_hypothesis_profile():
    """hypothesis loads its own "ci" profile when it sees CI=true; the conftest loads "pr"."""
    node = "tests/test_suite_cli.py::test_the_pr_profile_is_loaded_unless_another_is_asked_for"
    proc = run(["-m", "pytest", node, "-q", "-p", "no:cacheprovider"],
               env={"CI": "true", "GITHUB_ACTIONS": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_summary_counts_cases_clauses_and_time(tmp_path):
    proc = pytest_suites("suites/test_boundaries.py", "-k", "RANGE.H1", output=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    cases = int(re.search(r"cases run: (\d+)", proc.stdout).group(1))
    assert cases >= 4
    # The operator's own line: its contract version, backend and cases (here all of them).
    own = re.search(rf"^{TITLE}: spec profile doc \(published: .*\); --backend sim\S* .*"
                    r"; cases run: (\d+) ", proc.stdout, re.M)
    assert own and int(own.group(1)) == cases, proc.stdout[-2000:]
    assert re.search(r"clauses covered: alltoallv_gmm 910_95: \d+/165 clause sides covered",
                     proc.stdout)
    assert re.search(r"wall time: [\d.]+ s", proc.stdout)
    assert len(read_cases(tmp_path)) == cases
