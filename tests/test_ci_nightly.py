"""The nightly gate: against a sim with planted faults, the unlisted fault fails the gate, the
listed one does not, a fault that goes away when run again is a flake; the second night's report
shows the first night in its history."""

from __future__ import annotations

import json
from pathlib import Path

from ci.nightly import gate
from ops.alltoallv_gmm import OPERATOR as OP
from reports.results import load
from tests.support.runs import (
    FAULTY,
    OPERATOR,
    cell,
    embedded_files,
    item,
    run_module,
    write_results,
)

KNOWN_FAILURES = """
[[expected_failure]]
clause = "RANGE.group_len"
side = "invalid"
reason = "planted: the first stage crashes on a long group name (tracked in the test)"
"""
SELECTION = "(RANGE.H1-invalid or RANGE.group_len-invalid or RANGE.N1-invalid) and ep4-float16"


def _nightly(tmp_path: Path, out: str, history: Path, selection: str = SELECTION):
    (tmp_path / "known_failures.toml").write_text(KNOWN_FAILURES, encoding="utf-8")
    proc = run_module(
        "ci.nightly", "--output-dir", str(tmp_path / out), "--history", str(history),
        "--known-failures", str(tmp_path / "known_failures.toml"), "--operator", "alltoallv_gmm",
        "--backend", FAULTY,
        "--backend-option", "behavior=doc", "--backend-option",
        f"flaky_marker={tmp_path / 'flaky.marker'}", "--product", "910_95",
        "--world-sizes", "4", "--workers", "0", "-k", selection,
        "--", "-p", "tests.support.no_shrink")
    summary = proc.stdout[proc.stdout.find(" conformance: nightly gate "):]
    return proc, summary, json.loads((tmp_path / out / "gate.json").read_text())


def _node(clause: str) -> str:
    return f"suites/test_boundaries.py::test_boundary[{OPERATOR}-{clause}-invalid-910_95-ep4-float16]"


def test_two_nights_with_planted_faults(tmp_path):
    history = tmp_path / "history" / "history.jsonl"
    proc, summary, verdict = _nightly(tmp_path, "night1", history)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert verdict["passed"] is False
    assert verdict["regressions"] == [_node("RANGE.H1")]  # unlisted: fails the gate
    assert verdict["expected_failures"] == [_node("RANGE.group_len")]  # listed: does not
    assert verdict["flaky"] == [_node("RANGE.N1")]  # failed, then passed when run again
    assert verdict["unexpected_passes"] == [] and verdict["rerun"] == 2
    assert "rerun    2 failed test(s) run again: 1 failed again, 1 passed (flaky)" in summary
    assert f"\noperator {OP.title}: spec profile doc (published) · --backend {FAULTY}" in summary
    assert "regressions (fail the gate):\n  RANGE.H1 (invalid) 910_95 ep=4 float16: [RANGE.H1]" in (
        summary)
    assert "flaky (passed when run again; not a gate failure):\n  RANGE.N1 (invalid)" in summary
    assert summary.rstrip().endswith(
        "GATE: FAILED (1 regression, 0 unexpected passes, 1 flaky, 1 expected failure) exit 1")
    assert len(summary.strip().splitlines()) <= 25
    m = json.loads((tmp_path / "night1" / "compliance.json").read_text())
    assert m["operators"][OPERATOR]["run"]["title"] == OP.title
    m = m["operators"][OPERATOR]["products"]["910_95"]
    assert m["clauses"]["RANGE.H1"]["state"] == "failed"
    assert m["clauses"]["RANGE.group_len"]["state"] == "expected_failure"
    assert m["clauses"]["RANGE.N1"]["notes"] == ["flaky"]

    proc, summary, verdict = _nightly(tmp_path, "night2", history)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert verdict["regressions"] == [_node("RANGE.H1")] and verdict["flaky"] == []
    assert "history  " in summary and "(2 runs)" in summary
    assert len(history.read_text().strip().splitlines()) == 2
    assert f"{OP.title} conformance (nightly)" in (
        tmp_path / "night2" / "html" / "index.html").read_text(encoding="utf-8")
    files = embedded_files(tmp_path / "night2" / "html" / "index.html")
    trend = json.loads(files["widgets/history-trend.json"])
    assert len(trend) == 2  # this night and the one before
    tests = [json.loads(v) for k, v in files.items() if k.startswith("data/test-cases/")]
    h1 = next(t for t in tests if t["name"].startswith("RANGE.H1") and not t.get("isRetry"))
    assert h1["extra"]["history"]["statistic"]["failed"] == 2
    assert [i["status"] for i in h1["extra"]["history"]["items"]] == ["failed"]
    n1 = next(t for t in tests if t["name"].startswith("RANGE.N1") and not t.get("isRetry"))
    assert n1["status"] == "passed" and n1["extra"]["history"]["items"]


def test_a_listed_failure_alone_passes_the_gate(tmp_path):
    proc, summary, verdict = _nightly(tmp_path, "night", tmp_path / "h.jsonl",
                                      "RANGE.group_len-invalid and ep4-float16")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert verdict["passed"] and verdict["expected_failures"] == [_node("RANGE.group_len")]
    assert summary.rstrip().endswith(
        "GATE: PASSED (0 regressions, 0 unexpected passes, 0 flaky, 1 expected failure) exit 0")


def test_gate_counts_unexpected_passes_and_regressions(tmp_path):
    h1, n1, gmm = cell("RANGE.H1", "invalid"), cell("RANGE.N1", "invalid"), cell("CALC.gmm")
    folder = write_results(tmp_path / "run", [item(h1, "failed"), item(n1, "failed"),
                                              item(gmm, "xpassed", "listed")], [])
    write_results(folder / "rerun", [item(h1, "error", "setup: crash"), item(n1)], [])
    verdict = gate(load(folder))
    verdict.pop("_items")
    assert verdict == {"passed": False, "regressions": [item(h1)["nodeid"]],
                       "unexpected_passes": [item(gmm)["nodeid"]],
                       "flaky": [item(n1)["nodeid"]], "expected_failures": [], "rerun": 2}
