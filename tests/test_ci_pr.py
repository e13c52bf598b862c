"""The PR entry point on a small run of the faulty sim: its exit status, its summary, the folder
it leaves (Allure results with their labels, links, parameters and attachments; the JUnit XML;
the matrix), and its answers to bad input."""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from ops.alltoallv_gmm import OPERATOR as OP
from ops.alltoallv_gmm.clauses import CLAUSE
from reports.allure import CATEGORIES, KINDS
from reports.trim import prune_containers
from spec.operator import AREAS
from tests.support.runs import OPERATOR, cell, item, pr_with_faults, read_cases, run_module


@pytest.fixture(scope="module")
def pr(tmp_path_factory) -> tuple[int, str, Path]:
    return pr_with_faults(tmp_path_factory)


def _items(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]


@functools.cache
def _results(out: Path) -> Path:
    """The run's Allure results, unpacked beside its folder (ci.pr packs them once rendered)."""
    folder = out.with_name(out.name + "-allure-results")
    with zipfile.ZipFile(out / "allure-results.zip") as z:
        z.extractall(folder)
    return folder


def _allure(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in _results(out).glob("*-result.json")]


def _param(result: dict, name: str) -> dict:
    return next(p for p in result["parameters"] if p["name"] == name)


def _attachment(out: Path, result: dict, prefix: str) -> str:
    att = next(a for a in result.get("attachments", []) if a["name"].startswith(prefix))
    return (_results(out) / att["source"]).read_text(encoding="utf-8")


def test_exit_status_and_summary_come_from_the_run(pr):
    code, output, out = pr
    assert code == 1, output
    n = Counter(i["outcome"] for i in _items(out))
    assert n == {"passed": 1, "skipped": 1, "xfailed": 1, "xpassed": 1, "failed": 1}, n
    summary = output[output.index(" conformance: PR tier "):]
    assert (f"tests    5: {n['passed']} passed, {n['skipped']} skipped (1 not applicable), "
            f"1 expected failure, 1 unexpected pass, 1 failed") in summary
    cases = read_cases(out)
    assert f"cases    {len(cases)} run: " in summary
    assert "run      --backend tests.support.faulty:factory · spec profile doc · products 910_95" \
        in summary
    # One line per operator the run tested: its contract version, its backend and its cases.
    passed = sum(c["outcome"] == "passed" for c in cases)
    assert re.search(rf"^operator {OP.title}: spec profile doc \(published\) · --backend "
                     rf"tests\.support\.faulty:factory.* · {len(cases)} cases: {passed} passed, "
                     rf"{len(cases) - passed} failed$", summary, re.M), summary
    assert re.search(r"failed:\n  RANGE\.H1 \(invalid\) 910_95 ep=4 float16: \[RANGE\.H1\] status",
                     summary)
    assert "unexpected passes (listed as expected failures):\n  CALC.gmm (valid)" in summary
    assert summary.rstrip().endswith("RESULT: FAILED (exit 1)")
    assert len(summary.strip().splitlines()) <= 25  # one screen


def test_the_folder_holds_every_report(pr):
    _, _, out = pr
    assert not (out / "allure-results").exists()  # packed, once the HTML was rendered
    for name in ("allure-results.zip", "html/index.html", "compliance.json", "compliance.md",
                 "compliance.html", "junit.xml", "cases.jsonl.gz", "items.jsonl", "run.json"):
        assert (out / name).exists(), name
    assert any((out / "cases").glob("*RANGE.H1-invalid*.json"))  # the failing case, to replay


def test_allure_labels_links_and_parameters(pr):
    _, _, out = pr
    results = [r for r in _allure(out) if any(p["name"] == "cell" for p in r["parameters"])]
    assert len(results) == len(_items(out))
    history_ids = Counter(r["historyId"] for r in results)
    assert max(history_ids.values()) == 1  # every cell its own history
    for r in results:
        labels = {lab["name"]: lab["value"] for lab in r["labels"]}
        clause = labels["story"]
        assert labels["epic"] == f"{OP.title} · spec profile doc"
        assert labels["parentSuite"] == f"{OP.title} · 910_95"
        assert labels["feature"] == AREAS[CLAUSE[clause].area].title
        # the clause's anchor in the matrix is the operator's (reports/matrix.py)
        assert {"type": "clause", "url": f"../compliance.html#{OPERATOR}.{clause}",
                "name": f"clause {clause}"} in r["links"]
        kept = {p["name"]: p["value"] for p in r["parameters"] if not p.get("excluded")}
        assert {"operator", "product", "ep", "dtype", "side", "backend", "spec profile"} <= set(
            kept)
        assert kept["operator"] == f"'{OPERATOR}'"
        assert kept["product"] == "'910_95'" and kept["ep"] == "4"
        assert "tests.support.faulty:factory" in kept["backend"]
        if r["status"] != "skipped" or r["statusDetails"]["message"].startswith("XFAIL"):
            assert _param(r, "e")["excluded"] is True  # shown, out of the history id


def test_allure_attachments_and_status_messages(pr):
    _, _, out = pr
    by_story = {(next(lab["value"] for lab in r["labels"] if lab["name"] == "story"), r["status"]): r
                for r in _allure(out)}
    failed = by_story[("RANGE.H1", "failed")]
    case = json.loads(_attachment(out, failed, "case JSON (failing case"))
    assert case["clause"] == "RANGE.H1" and case["side"] == "invalid"
    replay = _attachment(out, failed, "replay command")
    assert replay.startswith("python -m ci.replay ") and "RANGE.H1-invalid" in replay
    assert "--backend tests.support.faulty:factory" in replay
    findings = json.loads(_attachment(out, failed, "findings"))
    assert {(f["clause"], f["kind"]) for f in findings} == {("RANGE.H1", "status")}
    assert findings[0]["message"].startswith("first stage returned 161001, expected 161002")
    passed = by_story[("CALC.gmm", "failed")]  # a strict unexpected pass is a failed test
    assert passed["statusDetails"]["message"].startswith("[XPASS(strict)]")
    assert not [a for a in passed["attachments"] if a["name"] == "judge statistics"]
    replay = _attachment(out, passed, "replay")  # a passing case: from cases.jsonl.gz, not attached
    assert re.search(r"^python -m ci\.replay \S+/cases\.jsonl\.gz .* --case-id [0-9a-f]{12}$", replay)
    assert not [a for a in passed["attachments"] if a["name"].startswith("case JSON")]
    ok = next(r for r in _allure(out) if r["status"] == "passed")
    # A passing test carries no file of its own but what it printed (pytest's capture): its
    # case is in cases.jsonl.gz, its replay command a row of its page.
    assert {a["name"] for a in ok.get("attachments", [])} <= {"stdout", "stderr", "log"}
    assert re.search(r"<th>replay</th><td><code>python -m ci\.replay \S+/cases\.jsonl\.gz .* "
                     r"--case-id [0-9a-f]{12}</code>", ok["descriptionHtml"])
    assert prune_containers(_results(out)) == 0  # no fixture file that says nothing
    assert by_story[("RANGE.group_len", "skipped")]["statusDetails"]["message"].startswith("XFAIL")
    assert by_story[("CONSIST.counts", "skipped")]["statusDetails"]["message"].startswith(
        "Skipped: not applicable")


def test_every_case_of_the_run_replays_from_its_compressed_records(pr):
    """Passed or failed, a case replays by its id from cases.jsonl.gz with the verdict it had;
    a failing cell keeps one record of its failing case, whole."""
    _, _, out = pr
    records = read_cases(out)
    failed = [r for r in records if r["outcome"] == "failed"]
    assert len({(r["nodeid"], r["case_id"]) for r in failed}) == len(failed)
    assert all("case" in r and r["findings"] for r in failed)
    options = ["--backend", "tests.support.faulty:factory", "--backend-option", "behavior=doc",
               "--spec-profile", "doc"]
    for rec in records:
        proc = run_module("ci.replay", str(out / "cases.jsonl.gz"), "--case-id", rec["case_id"],
                          *options, "--json")
        verdict = json.loads(proc.stdout)
        assert (proc.returncode, verdict["outcome"]) == (
            {"passed": 0, "failed": 1}[rec["outcome"]], rec["outcome"]), proc.stderr
        assert verdict["failed_clauses"] == rec["failed_clauses"]


def test_a_failing_test_keeps_the_clause_on_its_page_and_a_passing_one_its_replay(pr):
    _, _, out = pr
    results = _allure(out)
    failed = next(r for r in results if r["status"] == "failed" and "RANGE.H1" in r["name"])
    assert "<th>contract text</th>" in failed["descriptionHtml"]
    assert "<th>backend</th>" in failed["descriptionHtml"]
    passed = next(r for r in results if r["status"] == "passed")
    assert "contract text" not in passed["descriptionHtml"]
    hidden = {p["name"] for p in passed["parameters"] if p.get("mode") == "hidden"}
    assert hidden == {"cell", "backend", "spec profile"}  # the run's: in its environment


def _category(message: str, status: str) -> str | None:
    """The first category that takes a result, as Allure 3 matches (a search with the s flag);
    each regex must also match the whole message, as Allure 2 (Java) does."""
    for c in CATEGORIES:
        if status in c["matchedStatuses"] and re.search(c["messageRegex"], message, re.S):
            assert re.fullmatch(c["messageRegex"], message, re.S), c["name"]
            return c["name"]
    return None


def test_categories_are_written_once_and_take_every_kind(pr):
    _, _, out = pr
    folder = _results(out)
    assert json.loads((folder / "categories.json").read_text()) == CATEGORIES
    assert len(list(folder.glob("categories*.json"))) == 1
    props = dict(line.split("=", 1) for line in
                 (folder / "environment.properties").read_text().splitlines())
    # What ran, per operator: its backend and the contract version it was judged by.
    assert props["operators"] == OP.title and props["products"] == "910_95"
    assert props[f"{OPERATOR}.backend"].startswith("--backend tests.support.faulty:factory")
    assert props[f"{OPERATOR}.spec.profile"].startswith("doc (")
    assert props[f"{OPERATOR}.spec.profile.kind"] == "published"
    assert not {"backend", "spec.profile"} & set(props)  # nothing left that names no operator
    assert props["hypothesis.profile"] == "debug"
    assert {"suite", "python", "torch", "numpy"} <= set(props)
    names = {"status": "Wrong status code", "numeric": "Numeric mismatch",
             "movement": "Data-movement mismatch", "crash": "Crash", "timeout": "Timeout",
             "shape": "Output shape or dtype",
             "device_fault": "Device fault (the world died in this case, its devices unhealthy "
                             "after it)",
             "device_unhealthy": "Device unhealthy (not recovered from an earlier case's fault)"}
    for kind in KINDS:
        message = (f"suites._conformance.ConformanceFailure: [CALC.gmm] {kind} on rank 3: x\n"
                   "[OUT.written] integrity on rank 1: y\ncase: ...")
        assert _category(message, "failed") == names.get(kind, "Integrity (unwritten output, "
                                                          "guard region, changed input, "
                                                          "repeatability)")
    # The first finding decides, not a later line.
    assert _category("E: [X] numeric on rank 0: a\n[Y] status on rank 1: b", "failed") == (
        "Numeric mismatch")
    assert _category("Failed: Timeout >180.0s", "failed") == "Timeout"
    assert _category("hypothesis.errors.FlakyFailure: Hypothesis conformance_case(case=Case(\n"
                     "...) produces unreliable results", "broken").startswith("Unreliable")
    assert _category("ExceptionGroup: Hypothesis found 2 distinct failures. (2 sub-exceptions)",
                     "failed").startswith("Several distinct failures")
    assert _category("Skipped: unreachable at ep=8: not valid", "skipped") == (
        "Not applicable (unreachable at this world size)")
    # The results of this run land where they belong.
    for r in _allure(out):
        message = (r.get("statusDetails") or {}).get("message", "")
        story = next((lab["value"] for lab in r["labels"] if lab["name"] == "story"), None)
        expected = {"RANGE.H1": "Wrong status code", "CALC.gmm": "Unexpected pass (listed as "
                    "an expected failure)", "RANGE.group_len": "Expected failure (listed in "
                    "the known-failures file)", "CONSIST.counts": "Not applicable"}
        if r["status"] != "passed" and story in expected:
            assert _category(message, r["status"]) == expected[story], message


def test_junit_xml_lists_every_test_with_short_properties(pr):
    _, _, out = pr
    tree = ET.parse(out / "junit.xml")
    cases = tree.getroot().iter("testcase")
    props = {p.get("name"): p.get("value") for p in tree.getroot().iter("property")}
    assert len(list(cases)) == len(_items(out))
    assert re.fullmatch(r"\d+ cases: \d+ passed, \d+ failed", props["conformance_cases"])
    cells = [p.get("value") for p in tree.getroot().iter("property")
             if p.get("name") == "conformance_cell"]
    assert cells and all(c.startswith(f"{OPERATOR}-") for c in cells), cells
    assert (out / "junit.xml").stat().st_size < 20_000


def test_the_matrix_of_the_run(pr):
    _, _, out = pr
    m = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    assert list(m["operators"]) == [OPERATOR]
    part = m["operators"][OPERATOR]
    assert (part["run"]["operator"], part["run"]["title"]) == (OPERATOR, OP.title)
    assert part["run"]["backends"][0].startswith("--backend tests.support.faulty:factory")
    clauses = part["products"]["910_95"]["clauses"]
    assert clauses["RANGE.H1"]["cells"]["4"]["sides"]["invalid"]["state"] == "failed"
    assert clauses["RANGE.group_len"]["cells"]["4"]["sides"]["invalid"]["state"] == (
        "expected_failure")
    assert clauses["CALC.gmm"]["state"] == "passed"
    assert clauses["CALC.gmm"]["notes"] == ["unexpected_pass"]
    assert clauses["CONSIST.counts"]["cells"]["4"]["sides"]["invalid"]["state"] == (
        "not_applicable")
    assert clauses["RANGE.N1"]["state"] == "untested"  # deselected: untested, never passed


def test_the_html_report_is_titled_by_the_operators_of_the_run(pr):
    from ci import _pipeline as P
    from reports.results import load

    _, _, out = pr
    assert P.report_name(load(out), "PR") == f"{OP.title} conformance (PR)"
    assert f"{OP.title} conformance (PR)" in (out / "html" / "index.html").read_text(
        encoding="utf-8")
    assert P.report_name(None, "nightly") == "Operator conformance (nightly)"  # no records


def test_a_run_of_several_operators_names_the_operator_of_each_listed_test():
    from ci import _pipeline as P

    mine = item(cell("RANGE.H1", "invalid"), "failed", "[RANGE.H1] status")
    other = {**mine, "cell": {**mine["cell"], "operator": "another_op"}}
    assert P.listing("failed", [mine]) == [
        "failed:", "  RANGE.H1 (invalid) 910_95 ep=4 float16: [RANGE.H1] status"]
    assert P.listing("failed", [mine, other], qualify=True) == [
        "failed:", f"  {OPERATOR} RANGE.H1 (invalid) 910_95 ep=4 float16: [RANGE.H1] status",
        "  another_op RANGE.H1 (invalid) 910_95 ep=4 float16: [RANGE.H1] status"]


@pytest.mark.parametrize(("module", "args", "message"), [
    ("ci.pr", ["--prodcut", "A3"], r"unrecognized arguments: --prodcut"),
    ("ci.pr", ["--known-failures", "/nonexistent.toml"], r"no such file"),
    ("ci.pr", ["--expectations", "/nonexistent.toml"], r"--known-failures: /nonexistent.toml: no such file"),
    ("ci.pr", ["--workers", "many"], r"--workers: 'many' is not a number"),
    ("ci.nightly", ["--history", "/"], r"--history: / is not a file"),
    ("ci.nightly", ["stray"], r"unrecognized arguments: stray"),
])
def test_bad_input_is_one_line_and_exit_status_2(module, args, message, tmp_path):
    proc = run_module(module, *args, "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


def test_a_bad_conformance_option_stops_pytest_with_exit_status_2(tmp_path):
    proc = run_module("ci.pr", "--spec-profile", "cann-1999", "--workers", "0",
                      "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (f"unknown spec profile 'cann-1999' of {OP.title}; available: cann-2025.12, "
            "cann-2026.07, doc, doc-2026.07") in proc.stderr
    assert "RESULT" not in proc.stdout  # no reports of a run that did not happen


def test_the_example_pipeline_calls_the_entry_points_with_valid_options():
    from ci import nightly, pr

    text = (Path(__file__).parents[1] / "ci" / "examples" / "hardware-runner.gitlab-ci.yml"
            ).read_text(encoding="utf-8")
    commands = re.findall(r"- python -m (ci\.\w+)((?:.*\n\s{8}.*)|.*)", text)
    assert {name for name, _ in commands} == {"ci.pr", "ci.nightly"}
    for name, args in commands:
        parser = {"ci.pr": pr.parser, "ci.nightly": nightly.parser}[name]()
        parsed = parser.parse_args(args.split())
        assert parsed.backend == "torch_npu" and parsed.product == "A3"
        assert parsed.spec_profile == "cann-2025.12"
