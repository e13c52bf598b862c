"""The pieces of the reports plugin that a small run does not reach: the worst elements of a
numeric failure, the case JSON and its summary, the environment's versions and escaping."""

from __future__ import annotations

import json
import math

import ops
from ops.alltoallv_gmm import OPERATOR as OP
from reports import allure as plugin
from reports import records
from tests.support.runs import OPERATOR


def _numeric(rank: int, err: float, index: list[int]) -> dict:
    return {"clause": "CALC.gmm", "kind": "numeric", "rank": rank, "message": "gmmY: mixed FAILED",
            "stats": {"output": "gmmY", "standard": "mixed", "worst_index": index,
                      "worst_value": 1.5 + err, "worst_golden": 1.5, "max_abs_error": err,
                      "matched_ratio": 0.97, "elements": 64}}


def test_worst_elements_of_a_numeric_failure_worst_first():
    record = {"findings": [
        _numeric(0, 0.25, [3, 1]),
        {"clause": "RANGE.H1", "kind": "status", "rank": 1, "message": "x", "stats": None},
        _numeric(2, math.inf, [0, 7]),
        _numeric(1, 2.0, [5, 5]),
    ]}
    rows = plugin.worst_elements(record)
    assert [(r["rank"], r["index"]) for r in rows] == [(2, [0, 7]), (1, [5, 5]), (0, [3, 1])]
    csv = plugin._csv(rows).splitlines()
    assert csv[0] == ("rank,clause,output,standard,index,got,expected,max_abs_error,"
                      "matched_ratio,elements")
    assert csv[2] == '1,CALC.gmm,gmmY,mixed,"[5, 5]",3.5,1.5,2.0,0.97,64'
    assert plugin.worst_elements({"findings": [record["findings"][1]]}) == []


def test_case_json_reads_back():
    case = {"schema": OP.case_type.SCHEMA, "ep": 3, "e": 2, "send": [[1, 2, 3, 4, 5, 6]] * 3,
            "dtype": "bfloat16", "faults": [{"op": "null", "param": "gmmX", "arg": None}]}
    text = plugin.case_json(case)
    assert json.loads(text) == case
    assert '  [1, 2, 3, 4, 5, 6],\n' in text  # one line a rank


def test_environment_properties_escaping_and_cann_version(tmp_path, monkeypatch):
    path = tmp_path / "environment.properties"
    plugin.write_properties(path, {"spec profile": "doc: a=b", "multi": "one\ntwo"})
    assert path.read_text().splitlines() == ["spec\\ profile=doc: a=b", "multi=one\\ntwo"]
    toolkit = tmp_path / "toolkit"
    toolkit.mkdir()
    (toolkit / "ascend_toolkit_install.info").write_text("package_name=Ascend-cann-toolkit\n"
                                                         "version=8.2.RC1\n")
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(toolkit))
    assert records.cann_version() == "8.2.RC1"
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(tmp_path / "none"))
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    if not (plugin.Path("/usr/local/Ascend/ascend-toolkit/latest")).exists():
        assert records.cann_version() is None
    assert records.suite_version().startswith("0.1.0")


def test_render_bad_input_is_one_line_and_exit_status_2(tmp_path):
    from tests.support.runs import run_module

    cases = [
        ([str(tmp_path / "missing"), "--output", str(tmp_path / "html")], "no such folder"),
        ([str(tmp_path), "--output", str(tmp_path / "html")], "no *-result.json files"),
        ([str(tmp_path)], "the following arguments are required: --output"),
    ]
    for args, message in cases:
        proc = run_module("reports.render", *args)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    (tmp_path / "x-result.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    proc = run_module("reports.render", str(tmp_path), "--output", str(tmp_path / "notes"))
    assert proc.returncode == 2 and "is not an Allure report" in proc.stderr
    assert (tmp_path / "notes" / "mine.txt").exists()  # never deletes what is not a report


def test_the_backends_provenance_is_in_run_json_the_allure_environment_and_the_summary(tmp_path):
    """Which build the operator came from (the backend's provenance()) stays with the run: two
    runs whose verdicts differ can be told apart by what they ran."""
    from tests.support.runs import run_module

    library = "/opt/cann/lib64/libopapi_transformer.so"
    proc = run_module("pytest", "suites", "--backend", "tests.support.traced:factory",
                      "--backend-option", f"op_library={library}", "--product", "910_95",
                      "--world-sizes", "4", "--hypothesis-profile", "debug", "-p", "no:cacheprovider",
                      "-q", "-n", "0", "-k", "RANGE.H1 and invalid and float16",
                      "--alluredir", str(tmp_path / "allure"), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["schema"] == records.RUN_SCHEMA and run["backend"] == "tests.support.traced:factory"
    own = run["operators"][OPERATOR]  # the provenance is the operator's backend's
    assert own["backend_provenance"] == {"op_library": library}  # the empty V2 entry dropped
    assert own["backend_options"] == {"op_library": library}
    assert (own["title"], own["home"]) == (OP.title, OP.home)
    assert (own["spec_profile"], own["spec_profile_kind"]) == ("doc", "published")
    assert own["world_sizes"] == {"910_95": [4]}
    items = [json.loads(line) for line in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    assert items and {i["schema"] for i in items} == {records.ITEM_SCHEMA}
    assert {i["cell"]["operator"] for i in items} == {OPERATOR}
    props = (tmp_path / "allure" / "environment.properties").read_text().splitlines()
    assert f"{OPERATOR}.backend.op_library={library}" in props
    assert not any(".op_library_v2" in line for line in props)
    # the run tests the operator and the round trip made of it (not applicable without the
    # combine: tests/test_round_trip.py)
    assert f"operators={OP.title}, {ops.get('moe_layer').title}" in props
    operator_line = next(line for line in proc.stdout.splitlines()
                         if line.startswith(f"{OP.title}: spec profile "))
    assert operator_line.startswith(f"{OP.title}: spec profile doc (published: ")
    assert f"(op_library {library}); cases run: " in operator_line
