"""The operator seam: an operator the engine has never heard of runs through all of it.

`toy_alltoallv` (aclnnToyAlltoAllv: a plain AlltoAllv with a handful of clauses, its simulator,
oracle and a torch backend) is defined entirely in tests/support/toy_operator.py and registered
from here. It goes through the strategies (both sides of every clause), the runner on the turn
world, a thread world and the process pool, a planted fault, the pytest suite with
`--operator toy_alltoallv`, its records, the Allure results, the compliance matrix and the
replay command; and no file outside tests/ names it.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
from fixtures.backends import BackendSpec
from fixtures.pool import ProcessWorld
from fixtures.runner import Worlds, plan_case
from fixtures.world import ThreadWorld, TurnWorld
from reports import matrix, matrix_view
from reports.results import cases_path, load, read_cases, record_case
from spec.expect import expect_case
from spec.profiles import inconsistent_mappings, missing_mappings
from strategies import clause_cases, intended, probe
from tests.support import leaks
from tests.support import toy_operator as toy
from tests.support.runs import run_module

ROOT = Path(__file__).resolve().parents[1]
TOY = ops.register(toy.OPERATOR)  # registered from here (its home registered it on import)
DOC, SHIPPED = TOY.profile("doc"), TOY.profile("shipped")
PRODUCT, EP = "910_95", 4
INTEGRITY = {"OUT.written", "OUT.bounds", "OUT.inputs", "OUT.deterministic"}


def _sides(product: str) -> list[tuple[str, str]]:
    return [(c.id, side) for c in TOY.clauses_for(product)
            for side in (("valid", "invalid") if c.has_invalid_side else ("valid",))]


SIDES = _sides(PRODUCT)


def _ep(clause: str, side: str) -> int:
    """The world size of a side: an epWorldSize rule is broken by the world size itself."""
    return 2 if clause.startswith("PRODUCT.") and side == "invalid" else EP


def _case(clause: str, side: str, dtype: str = "float16", profile=DOC, product: str = PRODUCT):
    case, why = probe(clause, side, product, _ep(clause, side), profile, dtype)
    assert case is not None, f"{clause} {side}: {why}"
    return case


def _status(clause: str, profile=DOC, product: str = PRODUCT) -> int:
    return profile.enforces(clause, product).status


# -- the record and the registry ---------------------------------------------------------------


def test_the_toy_is_known_only_through_its_registered_record():
    assert ops.get(toy.NAME) is TOY and ops.get(toy.NAME, "tests.support.toy_operator") is TOY
    assert toy.NAME in ops.names() and ops.select(toy.NAME) == (TOY,)
    with pytest.raises(ValueError, match="registered already"):
        ops.register(dataclasses.replace(TOY, home="somewhere.else"))
    assert TOY.home == "tests.support.toy_operator" and TOY.title == "aclnnToyAlltoAllv"
    assert TOY.first_stage_args == ("x", "send_counts", "recv_counts", "ep_world_size", "y")
    assert (TOY.inputs, TOY.outputs) == (("x",), ("y",))
    assert TOY.profiles() == ("doc", "shipped")
    for profile in (DOC, SHIPPED):
        assert missing_mappings(profile) == [] and inconsistent_mappings(profile) == []
    assert SHIPPED.rule("RANGE.H").hi == 32768 and _status("RANGE.H", SHIPPED) == 561002
    assert TOY.world_sizes("A3") == (4, 8) and TOY.world_sizes("910_95") == (4, 8, 16)
    case = _case("CALC.alltoallv", "valid")
    assert ops.of(case) is TOY
    assert ops.case_from_dict(json.loads(case.to_json())) == case
    packed = {"cell": {"operator": TOY.name}, "case_z": case.to_compact()}
    assert TOY.case_from_dict(record_case(packed)) == case


# -- strategies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("product", TOY.products)
def test_the_strategies_build_both_sides_of_every_clause(product):
    sides = _sides(product)
    assert {c for c, s in sides if s == "invalid"} == {c.id for c in TOY.clauses_for(product)
                                                       if c.rule is not None}
    for clause, side in sides:
        case = _case(clause, side, "bfloat16", product=product)
        assert (case.clause, case.side, case.dtype) == (clause, side, "bfloat16")
        assert intended(case, DOC) is None
        exp = expect_case(case, DOC)
        if side == "valid":
            assert exp.outcome == "success", (clause, exp.describe())
        else:
            assert exp.violated == {clause} and exp.clause == clause
            assert exp.status1 == (_status(clause, product=product),) * case.ep


@settings(max_examples=30)
@given(data=st.data())
def test_hypothesis_draws_cases_on_the_side_they_claim(data):
    clause, side = data.draw(st.sampled_from(SIDES), label="clause side")
    case = data.draw(clause_cases(clause, side, PRODUCT, _ep(clause, side), DOC, "float16"))
    assert (case.clause, case.side, case.ep) == (clause, side, _ep(clause, side))
    assert intended(case, DOC) is None
    assert (expect_case(case, DOC).outcome == "success") == (side == "valid")


# -- the runner ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def turns():
    worlds = Worlds(BackendSpec.for_profile("sim", {}, DOC), timeout=60, product=PRODUCT)
    yield worlds
    worlds.close()


def _check_verdict(result, clause: str, side: str) -> None:
    """A passed case with the profile's status on every rank (invalid) or with every output
    judged (valid)."""
    assert result.outcome == "passed", [f.message for f in result.findings]
    if side == "invalid":
        assert [(r.status1, r.status2) for r in result.reports] == [
            (_status(clause), None)] * len(result.reports)
    else:
        assert all((r.status1, r.status2) == (0, 0) for r in result.reports)
        assert result.exercised >= {"CALC.alltoallv", clause} | INTEGRITY


def test_the_turn_world_passes_every_side_of_every_clause(turns):
    assert turns.spec.options == {"behavior": "doc"} and turns.spec.home == TOY.home
    assert isinstance(turns.world(EP), TurnWorld)
    for clause, side in SIDES:
        for dtype in TOY.dtypes:
            _check_verdict(turns.run(_case(clause, side, dtype), DOC), clause, side)


def test_a_thread_world_gives_the_turn_worlds_verdicts():
    threads = ThreadWorld(EP, lambda: toy.ToySim("doc"))
    turn = TurnWorld(EP, lambda: toy.ToySim("doc"))
    try:
        for clause, side in (("CALC.alltoallv", "valid"), ("COUNTS.recv_sum", "invalid")):
            _, plan, why = plan_case(_case(clause, side), DOC, toy.ToySim.capabilities, "mixed",
                                     True)
            assert plan is not None, why
            a, b = threads.run(plan), turn.run(plan)
            assert [(r.status1, r.status2, r.findings, r.verdicts) for r in a] == [
                (r.status1, r.status2, r.findings, r.verdicts) for r in b]
            assert not any(r.findings for r in a)
    finally:
        threads.close()
        turn.close()


def test_a_misrouted_row_fails_the_movement_clause_on_every_rank():
    spec = BackendSpec("tests.support.toy_operator:misrouting", {"behavior": "doc"}, TOY.name,
                       TOY.home)
    worlds = Worlds(spec, timeout=60)
    try:
        result = worlds.run(_case("CALC.alltoallv", "valid"), DOC)
        assert result.outcome == "failed" and result.failing_clauses() == ["CALC.alltoallv"]
        assert {(f.kind, f.rank) for f in result.findings} == {("movement", r) for r in range(EP)}
        assert all("bitwise FAILED" in f.message for f in result.findings)
        # The first stage is the sim's own: an invalid case still gets its status.
        _check_verdict(worlds.run(_case("NULL.x", "invalid"), DOC), "NULL.x", "invalid")
    finally:
        worlds.close()


def test_each_profile_is_judged_by_its_own_statuses():
    case = _case("RANGE.H", "invalid", profile=SHIPPED)
    assert expect_case(case, SHIPPED).status1 == (561002,) * EP
    shipped = Worlds(BackendSpec.for_profile("sim", {}, SHIPPED), timeout=60)
    doc = Worlds(BackendSpec("sim", {"behavior": "doc"}, TOY.name, TOY.home), timeout=60)
    try:
        assert shipped.run(case, SHIPPED).passed
        wrong = doc.run(case, SHIPPED)  # the published reading answers 161002
        assert wrong.outcome == "failed" and wrong.failing_clauses() == ["RANGE.H"]
        assert "returned 161002, expected 561002" in wrong.findings[0].message
    finally:
        shipped.close()
        doc.close()


def test_the_process_pool_runs_the_toy_from_its_home_module():
    pool = Worlds(BackendSpec.for_profile("torch", {}, DOC), timeout=120, product=PRODUCT)
    try:
        world = pool.world(EP)
        assert isinstance(world, ProcessWorld)
        for clause, side, dtype in (("CALC.alltoallv", "valid", "bfloat16"),
                                    ("RANGE.H", "valid", "float16"),
                                    ("NULL.x", "invalid", "float16"),
                                    ("COUNTS.recv_sum", "invalid", "bfloat16")):
            _check_verdict(pool.run(_case(clause, side, dtype), DOC), clause, side)
        assert world.generation == 1 and world.restarts == 0 and len(set(world.pids)) == EP
        pids = list(world.all_pids)
    finally:
        pool.close()
    assert not any(leaks.alive(p) for p in pids)


# -- the suite, its records and reports ---------------------------------------------------------

SUITE = ["pytest", "suites", "-p", "tests.support.toy_operator", "--operator", toy.NAME,
         "--product", PRODUCT, "--hypothesis-profile", "debug", "-p", "no:cacheprovider", "-q"]


def _suite(out: Path, *args: str) -> subprocess.CompletedProcess:
    return run_module(*SUITE, "--output-dir", str(out), *args, timeout=300)


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("toy-suite") / "out"
    return _suite(out, "--world-sizes", "2,4", "--alluredir", str(out / "allure")), out


def test_the_suite_runs_every_clause_of_the_toy(suite_run):
    proc, out = suite_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "aclnnToyAlltoAllv: spec profile doc" in proc.stdout
    assert (f"clauses covered: {toy.NAME} {PRODUCT}: 21/21 clause sides covered (valid side "
            "13/13, invalid side 8/8)") in proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert set(run["operators"]) == {toy.NAME}
    assert run["operators"][toy.NAME]["home"] == TOY.home
    assert run["operators"][toy.NAME]["world_sizes"] == {PRODUCT: [4]}
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert {i["cell"]["operator"] for i in items} == {toy.NAME}
    assert {i["outcome"] for i in items} == {"passed"}
    assert {(i["cell"]["clause"], i["cell"]["side"]) for i in items} == set(SIDES)
    cases = list(read_cases(cases_path(out)))
    assert cases and all(r["outcome"] == "passed" for r in cases)
    assert all(isinstance(TOY.case_from_dict(record_case(r)), toy.ToyCase) for r in cases)


def test_the_allure_results_carry_the_toys_labels_and_attachments(suite_run):
    _, out = suite_run
    results = [r for r in (json.loads(p.read_text()) for p in (out / "allure").glob("*-result.json"))
               if any(p["name"] == "operator" for p in r["parameters"])]  # not an empty area's
    assert len(results) == len(SIDES) * len(TOY.dtypes)
    for r in results:
        labels = {lab["name"]: lab["value"] for lab in r["labels"]}
        assert labels["epic"] == "aclnnToyAlltoAllv · spec profile doc"
        assert labels["parentSuite"] == f"aclnnToyAlltoAllv · {PRODUCT}"
        assert {"type": "clause", "url": f"../compliance.html#{toy.NAME}.{labels['story']}",
                "name": f"clause {labels['story']}"} in r["links"]
        assert "report error" not in {a["name"] for a in r.get("attachments", [])}


def test_the_matrix_shows_both_sides_of_every_toy_clause_passed(suite_run, tmp_path):
    _, out = suite_run
    built = matrix.build(load(out))
    assert list(built["operators"]) == [toy.NAME]
    part = built["operators"][toy.NAME]
    assert part["run"]["title"] == "aclnnToyAlltoAllv" and part["run"]["spec_profile"] == "doc"
    rows = part["products"][PRODUCT]["clauses"]
    assert set(rows) == {c for c, _ in SIDES}
    assert {cid: row["state"] for cid, row in rows.items()} == dict.fromkeys(rows, "passed")
    for clause, side in SIDES:
        cell = rows[clause]["cells"][str(_ep(clause, side))]
        assert cell["sides"][side]["state"] == "passed", (clause, side, cell)
    assert matrix.summary_lines(built) == [
        f"{toy.NAME} {PRODUCT}: 13 clauses: 13 passed; 40 cells (clause x world size): "
        "14 passed, 26 untested"]
    markdown, page = matrix_view.to_markdown(built), matrix_view.to_html(built)
    assert "# Compliance matrix of aclnnToyAlltoAllv: spec profile `doc`" in markdown
    assert f"[CALC.alltoallv](#{toy.NAME}.CALC.alltoallv)" in markdown
    assert "<title>Compliance matrix: aclnnToyAlltoAllv</title>" in page
    assert f'<dt id="{toy.NAME}.CALC.alltoallv">' in page
    # A fresh process finds the toy through the home its run recorded: no plugin needed.
    proc = run_module("reports.matrix", str(out), "--output", str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"{toy.NAME} {PRODUCT}: 13 clauses: 13 passed" in proc.stdout
    assert "aclnnToyAlltoAllv" in (tmp_path / "compliance.html").read_text()


def test_a_failing_toy_case_names_its_clause_and_replays(tmp_path):
    out = tmp_path / "out"
    proc = _suite(out, "--world-sizes", "4", "--backend", "tests.support.toy_operator:misrouting",
                  "-k", "CALC and float16 and not bfloat16")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[CALC.alltoallv] movement on rank 0: y: bitwise FAILED" in proc.stdout
    assert "keep as a regression" not in proc.stdout  # the toy keeps no regressions folder
    part = matrix.build(load(out))["operators"][toy.NAME]
    assert part["products"][PRODUCT]["clauses"]["CALC.alltoallv"]["state"] == "failed"
    replay = next(line.removeprefix("replay: ") for line in proc.stdout.splitlines()
                  if line.startswith("replay: "))
    argv = shlex.split(replay)
    assert argv[:3] == ["python", "-m", "ci.replay"] and "--operator-home" in argv
    again = run_module(*argv[2:], timeout=120)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "verdict: FAILED" in again.stdout
    assert "[CALC.alltoallv] movement on rank 0" in again.stdout


def test_no_file_outside_tests_names_the_toy():
    try:
        found = subprocess.run(["git", "-C", str(ROOT), "grep", "-n", "-w", "-e", "toy_alltoallv",
                                "-e", "aclnnToyAlltoAllv", "-e", "ToyCase", "-e", "ToySim",
                                "--", ":!tests"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if found.returncode not in (0, 1):
        pytest.skip(f"not a git checkout: {found.stderr.strip()}")
    assert found.stdout == "", found.stdout
