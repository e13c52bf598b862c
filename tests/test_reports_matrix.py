"""The compliance matrix: how records become cell states, its JSON schema, its three renderings
and its command line, on small synthetic runs (no backend needed)."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from ops.alltoallv_gmm import OPERATOR as OP
from reports import matrix as M
from reports import matrix_view as V
from reports.results import ResultsError, cases_path, load, load_many, read_cases, write_cases
from tests.support.runs import OPERATOR, case, cell, item, run_module, write_results


def _build(tmp_path, items, cases, **kw) -> dict:
    """The whole matrix of the planted records (every operator's part)."""
    return M.build(load(write_results(tmp_path / "run", items, cases, **kw)))


def _part(whole: dict) -> dict:
    """The part of the one operator of the planted records."""
    assert list(whole["operators"]) == [OPERATOR]
    return whole["operators"][OPERATOR]


def _matrix(tmp_path, items, cases, **kw) -> dict:
    """The matrix of the one operator of the planted records."""
    return _part(_build(tmp_path, items, cases, **kw))


def _cell(m: dict, clause: str, product: str = "910_95", ep: int = 4) -> dict:
    return m["products"][product]["clauses"][clause]["cells"][str(ep)]


def test_a_clause_never_exercised_is_untested_not_passed(tmp_path):
    # CALC.mm's own test passed, but its case ran the first stage only: mmY was never judged.
    c = cell("CALC.mm")
    m = _matrix(tmp_path, [item(c)], [case(c, computed=False, stage="first")])
    assert _cell(m, "CALC.mm")["state"] == "untested"
    assert m["products"]["910_95"]["clauses"]["CALC.mm"]["state"] == "untested"
    # A clause with no test at all, and a world size nothing ran at, are untested too.
    assert _cell(m, "RANGE.H1")["state"] == "untested"
    assert _cell(m, "CALC.mm", ep=8)["state"] == "untested"


def test_outputs_count_only_when_computed_and_second_stage_rules_only_when_run(tmp_path):
    gmm, stage2 = cell("CALC.gmm"), cell("STAGE2.workspace_small")
    m = _matrix(tmp_path, [item(gmm), item(stage2)], [
        case(gmm, computed=True, stage="both", exercised=("OUT.written",)),
        case(stage2, computed=False, stage="first"),
    ])
    assert _cell(m, "CALC.gmm")["state"] == "passed"
    assert _cell(m, "OUT.written")["counts"]["passed"] == 1
    assert _cell(m, "STAGE2.workspace_small")["state"] == "untested"


def test_states_failed_expected_not_applicable_and_unreachable(tmp_path):
    h1_bad, h1_ok = cell("RANGE.H1", "invalid"), cell("RANGE.H1", "valid")
    n1 = cell("RANGE.N1", "invalid")
    consist = cell("CONSIST.counts", "invalid")
    card = cell("RANGE.K", "invalid")
    items = [item(h1_bad, "failed", "[RANGE.H1] status on rank 0: first stage returned 161001"),
             item(h1_ok), item(n1, "xfailed", "known: tracked in issue 7"),
             item(consist, "skipped", "not applicable: CONSIST.counts is a caller precondition",
                  "not_applicable"),
             item(card, "skipped", "unreachable at ep=4: not valid", "unreachable")]
    cases = [case(h1_ok), case(h1_bad, "failed", failed=("RANGE.H1",), deciding="RANGE.H1"),
             case(h1_bad, deciding="RANGE.H1"), case(n1, "failed", failed=("RANGE.N1",))]
    whole = _build(tmp_path, items, cases)
    m = _part(whole)
    h1 = _cell(m, "RANGE.H1")
    assert h1["state"] == "failed"
    assert h1["sides"]["invalid"]["state"] == "failed"
    assert h1["sides"]["valid"]["state"] == "passed"
    assert h1["counts"]["failed"] == 1 and h1["counts"]["passed"] == 2
    assert "161001" not in json.dumps(h1["sides"]["valid"])
    assert "planted status finding on RANGE.H1" in h1["sides"]["invalid"]["reasons"][0]
    n1_cell = _cell(m, "RANGE.N1")
    assert n1_cell["state"] == "expected_failure"
    assert "issue 7" in n1_cell["sides"]["invalid"]["reasons"][0]
    assert _cell(m, "CONSIST.counts")["state"] == "not_applicable"
    k = _cell(m, "RANGE.K")
    assert k["state"] == "not_applicable" and k["notes"] == ["unreachable"]
    summary = m["products"]["910_95"]["summary"]["clauses"]
    assert (summary["failed"], summary["expected_failure"], summary["not_applicable"]) == (1, 1, 2)
    assert sum(summary.values()) == len(OP.clauses_for("910_95"))
    assert M.clauses_in_state(whole, "failed") == {"RANGE.H1"}
    assert M.clauses_in_state(whole, "failed", "910_95", OPERATOR) == {"RANGE.H1"}
    assert M.clauses_in_state(whole, "failed", "A3") == set()  # not a product of the run
    assert M.clauses_in_state(whole, "failed", operator="another_op") == set()


def test_a_failed_test_without_case_records_fails_its_own_clause(tmp_path):
    c = cell("RANK.gmmX", "invalid")
    m = _matrix(tmp_path, [item(c, "error", "setup: RuntimeError: the world did not start")], [])
    assert _cell(m, "RANK.gmmX")["state"] == "failed"
    assert _cell(m, "RANK.gmmX")["sides"]["invalid"]["reasons"] == [
        "setup: RuntimeError: the world did not start"]


def test_a_case_decided_by_another_clause(tmp_path):
    # RANGE.e_ep broken at ep=4 needs e > 32: RANGE.e, checked first, decides the status. Both
    # expect 161002 under doc, so the cases tell about both (a wrong status is wrong for both).
    c = cell("RANGE.e_ep", "invalid")
    m = _matrix(tmp_path, [item(c, "failed")], [
        case(c, exercised=("RANGE.e",), deciding="RANGE.e"),
        case(c, "failed", failed=("RANGE.e",), deciding="RANGE.e")])
    for clause in ("RANGE.e", "RANGE.e_ep"):
        side = _cell(m, clause)["sides"]["invalid"]
        assert (side["state"], side["counts"]["passed"], side["counts"]["failed"]) == (
            "failed", 1, 1), clause
    assert _cell(m, "RANGE.e")["sides"]["valid"]["state"] == "untested"
    # Under cann-2025.12 a card below 2 MiB also breaks the per-peer floor, checked first; both
    # expect 561002. Under a profile where they differ, the card floor is unreachable instead.
    c = cell("VOLUME.A3.card_min", "invalid", product="A3", ep=8)
    rec = {profile: case(c, exercised=("VOLUME.A3.per_peer_min",),
                         deciding="VOLUME.A3.per_peer_min", profile=profile)
           for profile in ("cann-2025.12", "doc")}
    m = _matrix(tmp_path / "cann", [item(c)], [rec["cann-2025.12"]], profile="cann-2025.12",
                products=("A3",), world_sizes={"A3": [8]})
    assert _cell(m, "VOLUME.A3.card_min", "A3", 8)["sides"]["invalid"]["state"] == "passed"
    m = _matrix(tmp_path / "doc", [item(c)], [rec["doc"]], profile="doc", products=("A3",),
                world_sizes={"A3": [8]})
    side = _cell(m, "VOLUME.A3.card_min", "A3", 8)["sides"]["invalid"]
    assert side["state"] == "not_applicable"
    assert "checked first and expects otherwise" in side["reasons"][0]
    assert _cell(m, "VOLUME.A3.card_min", "A3", 8)["notes"] == ["unreachable"]


def test_unexpected_pass_and_flaky_rerun_are_flagged(tmp_path):
    gmm, h1 = cell("CALC.gmm"), cell("RANGE.H1", "invalid")
    folder = write_results(tmp_path / "run", [item(gmm, "xpassed", "listed"),
                                              item(h1, "failed", "[RANGE.H1] status")],
                           [case(gmm, computed=True, stage="both"),
                            case(h1, "failed", failed=("RANGE.H1",))])
    write_results(folder / "rerun", [item(h1)], [case(h1, deciding="RANGE.H1")])
    results = load(folder)
    rerun = next(i for i in results.items.values() if i["cell"]["clause"] == "RANGE.H1")
    assert rerun["flaky"] and rerun["first_outcome"] == "failed"
    whole = M.build(results)
    m = _part(whole)
    h1_cell = _cell(m, "RANGE.H1")
    assert h1_cell["state"] == "passed" and "flaky" in h1_cell["notes"]
    assert h1_cell["counts"]["failed"] == 0  # the first run's cases were replaced
    assert _cell(m, "CALC.gmm")["notes"] == ["unexpected_pass"]
    assert "(flaky)" in V.to_markdown(whole)


def test_world_sizes_outside_the_product_only_where_the_data_is(tmp_path):
    bad_ep = cell("PRODUCT.910_95.epWorldSize", "invalid", ep=2)
    m = _matrix(tmp_path, [item(bad_ep)], [case(bad_ep, deciding="PRODUCT.910_95.epWorldSize")])
    p = m["products"]["910_95"]
    assert p["world_sizes"] == [2, 4, 8, 16, 32, 64]
    assert p["declared_world_sizes"] == [4, 8, 16, 32, 64]
    assert p["clauses"]["PRODUCT.910_95.epWorldSize"]["cells"]["2"]["state"] == "passed"
    assert "2" not in p["clauses"]["RANGE.H1"]["cells"]


def test_json_matches_its_schema_and_every_format_renders(tmp_path):
    h1 = cell("RANGE.H1", "invalid")
    whole = _build(tmp_path, [item(h1, "failed", "x"), item(cell("CALC.gmm"), "xpassed")],
                   [case(h1, "failed", failed=("RANGE.H1",)),
                    case(cell("CALC.gmm"), computed=True, stage="both")],
                   products=("A3", "910_95"), world_sizes={"A3": [8], "910_95": [4]})
    schema = json.loads(M.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert whole["schema"] == M.SCHEMA == schema["properties"]["schema"]["const"]
    jsonschema.validate(whole, schema)
    bad = json.loads(json.dumps(whole))
    bad["operators"][OPERATOR]["products"]["A3"]["clauses"]["RANGE.H1"]["cells"]["8"]["state"] = (
        "ok")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    untitled = json.loads(json.dumps(whole))
    del untitled["operators"][OPERATOR]["run"]["title"]  # an operator's part names its API
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(untitled, schema)
    # The operator's part says which operator and which C functions it is about.
    run = _part(whole)["run"]
    assert (run["operator"], run["title"]) == (OPERATOR, OP.title)
    assert run["entry_points"] == dict(OP.symbols) and run["entry"] == "v1"
    assert run["backends"] == ["sim"] and (run["items"], run["cases"]) == (2, 2)
    paths = V.write(whole, tmp_path / "out")
    assert [p.name for p in paths] == ["compliance.json", "compliance.md", "compliance.html"]
    assert json.loads(paths[0].read_text(encoding="utf-8")) == whole
    md = paths[1].read_text(encoding="utf-8")
    assert md.startswith(f"# Compliance matrix of {OP.title}: spec profile `doc`")
    assert "entry aclnnAlltoAllvGroupedMatMul (V1)" in md
    # In 910_95's table: failed at ep=4 (its valid side untested), untested at ep=8. The
    # clause's anchor is the operator's: another operator may have a clause of that id.
    assert (f"| [RANGE.H1](#{OPERATOR}.RANGE.H1) | boundaries | **FAIL** 1 [valid: untested] "
            "| untested |") in md
    assert f'<a id="{OPERATOR}.RANGE.H1"></a>**RANGE.H1**' in md
    assert "untested" in md and "## A3:" in md and "## 910_95:" in md
    page = paths[2].read_text(encoding="utf-8")
    assert f"<title>Compliance matrix: {OP.title}</title>" in page
    assert f"<h1>Compliance matrix of {OP.title}: spec profile <code>doc</code></h1>" in page
    # the anchor the reports' clause links point at (reports/allure.py: operator.clause)
    assert page.count(f'<dt id="{OPERATOR}.RANGE.H1">') == 1
    assert f'<a href="#{OPERATOR}.RANGE.H1">RANGE.H1</a>' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<script" not in page


def test_every_number_of_the_summary_comes_from_the_data(tmp_path):
    h1 = cell("RANGE.H1", "invalid")
    whole = _build(tmp_path, [item(h1, "failed")], [case(h1, "failed", failed=("RANGE.H1",))])
    p = _part(whole)["products"]["910_95"]["summary"]
    assert M.summary_lines(whole) == [
        f"{OPERATOR} 910_95: {len(OP.clauses_for('910_95'))} clauses: 1 failed, "
        f"{p['clauses']['untested']} untested; {sum(p['cells'].values())} cells "
        f"(clause x world size): 1 failed, {p['cells']['untested']} untested"]
    assert sum(p["clauses"].values()) == len(OP.clauses_for("910_95"))


def _resolved(folder, profile: str):
    """A run asked for `--spec-profile auto` whose operator was judged by `profile`."""
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    run["spec_profile"] = "auto"
    run["operators"][OPERATOR]["spec_profile"] = profile
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return folder


def test_results_of_two_profiles_are_not_merged(tmp_path):
    a = write_results(tmp_path / "a", [], [], profile="doc")
    b = write_results(tmp_path / "b", [], [], profile="cann-2025.12")
    with pytest.raises(ResultsError, match=f"different spec profiles of {OPERATOR} "
                                           r"\(cann-2025.12, doc\)"):
        load_many([a, b])
    # `auto` resolves per run: what tells runs apart is the profile each operator was judged by.
    c = _resolved(write_results(tmp_path / "c", [], []), "cann-2025.12")
    d = _resolved(write_results(tmp_path / "d", [], []), "cann-2026.07")
    with pytest.raises(ResultsError, match="different spec profiles"):
        load_many([c, d])
    merged = load_many([b, _resolved(write_results(tmp_path / "e", [], []), "cann-2025.12")])
    assert merged.operators == [OPERATOR]
    assert _part(M.build(merged))["run"]["spec_profile"] == "cann-2025.12"


def test_runs_merged_keep_each_operators_world_sizes(tmp_path):
    a = write_results(tmp_path / "a", [item(cell("RANGE.H1"))], [case(cell("RANGE.H1"))],
                      products=("910_95",), world_sizes={"910_95": [4]})
    b = write_results(tmp_path / "b", [item(cell("RANGE.H1", product="A3", ep=8))],
                      [case(cell("RANGE.H1", product="A3", ep=8))],
                      products=("A3", "910_95"), world_sizes={"A3": [8], "910_95": [8]})
    results = load_many([a, b])
    assert results.products == ["910_95", "A3"]
    assert results.world_sizes(OPERATOR, "910_95") == [4, 8]
    assert results.world_sizes(OPERATOR, "A3") == [8]
    assert results.world_sizes("another_op", "A3") == []
    m = _part(M.build(results))
    assert m["products"]["910_95"]["run_world_sizes"] == [4, 8]
    assert m["products"]["A3"]["run_world_sizes"] == [8]
    assert (m["run"]["items"], m["run"]["cases"]) == (2, 2)
    assert m["run"]["sources"] == [str(a), str(b)]


@pytest.mark.parametrize(("setup", "args", "message"), [
    (None, ["{tmp}/missing"], "not a folder"),
    ("bad_json", ["{tmp}/run"], r"items.jsonl:2: not valid JSON"),
    ("no_run", ["{tmp}/run"], r"run.json: missing"),
    ("cut_cases", ["{tmp}/run"], r"cases.jsonl.gz: cannot be read"),
    ("ok", ["{tmp}/run", "--formats", "json,pdf"], r"unknown format 'pdf'; accepted: json, md"),
    ("ok", ["{tmp}/run", "--colour"], r"unrecognized arguments: --colour"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, setup, args, message):
    folder = tmp_path / "run"
    if setup:
        write_results(folder, [item(cell("RANGE.H1"))], [])
    if setup == "bad_json":
        with (folder / "items.jsonl").open("a", encoding="utf-8") as f:
            f.write("{not json\n")
    if setup == "no_run":
        (folder / "run.json").unlink()
    if setup == "cut_cases":
        packed = folder / "cases.jsonl.gz"
        write_cases(packed, [case(cell("RANGE.H1"))] * 50)
        packed.write_bytes(packed.read_bytes()[:-20])
    proc = run_module("reports.matrix", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert re.search(message, proc.stderr), proc.stderr


def test_an_older_runs_plain_cases_jsonl_reads_as_the_compressed_one(tmp_path):
    """Runs before the records were compressed wrote cases.jsonl: their matrix is the same."""
    h1 = cell("RANGE.H1", "invalid")
    records = [case(h1, "failed", failed=("RANGE.H1",), deciding="RANGE.H1"), case(h1)]
    packed = write_results(tmp_path / "new", [item(h1, "failed")], records)
    plain = write_results(tmp_path / "old", [item(h1, "failed")], [])
    (plain / "cases.jsonl.gz").unlink()
    (plain / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records),
                                       encoding="utf-8")
    assert cases_path(plain).name == "cases.jsonl"
    assert list(read_cases(cases_path(plain))) == list(read_cases(cases_path(packed))) == records

    def content(folder) -> dict:
        m = M.build(load(folder))
        del m["generated"]
        for part in m["operators"].values():
            del part["run"]["sources"]
        return m

    assert content(plain) == content(packed)


def test_command_line_writes_three_formats_and_prints_the_summary(tmp_path):
    folder = write_results(tmp_path / "run", [item(cell("RANGE.H1"))],
                           [case(cell("RANGE.H1"))])
    proc = run_module("reports.matrix", str(folder), "--output", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{OPERATOR} 910_95: 88 clauses: 1 passed, 87 untested")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "compliance.html", "compliance.json", "compliance.md"]


def test_an_ambiguous_clause_shows_as_such_with_the_reading_it_got(tmp_path):
    c = cell("OPTPAIR.mm", side="invalid")
    rec = {**case(c, deciding="OPTPAIR.mm"), "reading": "OPTPAIR.mm: status 161002 at stage 1"}
    whole = _build(tmp_path, [item(c)], [rec])
    m = _part(whole)
    state = _cell(m, "OPTPAIR.mm")
    assert state["state"] == "passed" and "ambiguous in the text" in state["notes"]
    assert any("this backend gave OPTPAIR.mm: status 161002" in r
               for r in state["sides"]["invalid"]["reasons"])
    assert m["clauses"]["OPTPAIR.mm"]["enforcement"].startswith("ambiguous in the text")
    assert "Tested: doc (the published text)" in V.to_markdown(whole)


def test_a_skip_counts_as_not_applicable_by_its_kind_never_by_its_text(tmp_path):
    """The matrix reads the kind the suite recorded; a reason that merely reads like one (a skip
    of pytest's own, say) is an explained skip, not a not-applicable cell."""
    kinded, worded = cell("RANGE.e", "invalid"), cell("RANGE.e_ep", "invalid")
    m = _matrix(tmp_path, [item(kinded, "skipped", "backend cannot express it", "not_applicable"),
                           item(worded, "skipped", "not applicable: only the words")], [])
    assert _cell(m, "RANGE.e")["state"] == "not_applicable"
    assert _cell(m, "RANGE.e_ep")["state"] == "untested"
    assert "skipped: not applicable: only the words" in _cell(m, "RANGE.e_ep")["sides"][
        "invalid"]["reasons"]
