"""What a PR run leaves behind stays small and stays useful: its output folder within what every
run pays (the report page's own code, the compliance matrix) plus a bound per case; a passing
case replays with the command its page prints, from the compressed records; the matrix
rebuilds from those records as the run wrote it; the page carries every test."""

from __future__ import annotations

import html
import json
import re
import shlex
import zipfile
from pathlib import Path

import pytest

from reports.render import embedded_files
from tests.support.runs import read_cases, run_module, shared_run

# 30 MB for a PR run of both products (about 8,700 cases) once every run's share is paid.
PER_CASE = 3_000
MATRIX_FILES = ("compliance.json", "compliance.md", "compliance.html", "run.json")
# A PR-like slice of every world size of one product: 100 tests, 300 cases.
SLICE = ["--operator", "alltoallv_gmm", "--product", "910_95", "--workers", "2", "-k",
         "NULL.gmm or RANGE.H1 or RANGE.N1"]
PACKED_DATA = re.compile(r"<script>\s*window\.__packedReportData = .*?</script>", re.S)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[int, str, Path]:
    return shared_run(tmp_path_factory, "pr-size", "ci.pr", SLICE)


def _page_code(page: Path) -> int:
    """The bytes of the page that are the renderer's scripts and styles, not the run's data."""
    text = page.read_text(encoding="utf-8")
    data = PACKED_DATA.search(text)
    assert data is not None, "the report page's data are not packed"
    return len(text.encode()) - len(data.group(0).encode())


def test_the_output_folder_stays_within_a_bound_per_case(run):
    code, output, out = run
    assert code == 0, output[-3000:]
    cases = len(read_cases(out))
    assert cases >= 250, cases
    files = {p: p.stat().st_size for p in out.rglob("*") if p.is_file()}
    total = sum(files.values())
    every_run = _page_code(out / "html" / "index.html") + sum(
        files[out / name] for name in MATRIX_FILES)
    assert total - every_run <= PER_CASE * cases, {
        str(p.relative_to(out)): n for p, n in sorted(files.items(), key=lambda kv: -kv[1])}
    assert not (out / "cases.jsonl").exists()  # the records are compressed as a whole


def _results(out: Path) -> list[dict]:
    with zipfile.ZipFile(out / "allure-results.zip") as z:
        return [json.loads(z.read(n)) for n in z.namelist() if n.endswith("-result.json")]


def test_a_passing_case_replays_with_the_command_its_page_prints(run):
    _, _, out = run
    records = {r["case_id"]: r for r in read_cases(out)}
    results = [r for r in _results(out) if r["status"] == "passed"]
    ep64 = next(r for r in results if any(p["name"] == "ep" and p["value"] == "64"
                                          for p in r["parameters"]))
    shown = re.search(r"<th>replay</th><td><code>(.*?)</code>", ep64["descriptionHtml"])
    assert shown is not None, ep64["descriptionHtml"]
    argv = shlex.split(html.unescape(shown.group(1)))
    assert argv[:3] == ["python", "-m", "ci.replay"] and argv[3].endswith("cases.jsonl.gz")
    case_id = argv[argv.index("--case-id") + 1]
    assert records[case_id]["outcome"] == "passed" and records[case_id]["cell"]["ep"] == 64
    proc = run_module("ci.replay", *argv[3:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: PASSED" in proc.stdout and f"id {case_id}" in proc.stdout


def test_the_matrix_rebuilds_from_the_compressed_records(run, tmp_path):
    _, _, out = run
    proc = run_module("reports.matrix", str(out), "--output", str(tmp_path), "--formats", "json")
    assert proc.returncode == 0, proc.stderr

    def content(path: Path) -> dict:
        m = json.loads(path.read_text(encoding="utf-8"))
        del m["generated"]
        return m

    assert content(tmp_path / "compliance.json") == content(out / "compliance.json")


def test_the_page_carries_every_test_and_shows_a_passing_one_briefly(run):
    _, _, out = run
    files = embedded_files(out / "html" / "index.html")
    tests = [json.loads(v) for k, v in files.items() if k.startswith("data/test-cases/")]
    assert len(tests) == len(_results(out)) == 100
    for t in tests:
        shown = {p["name"] for p in t["parameters"]}
        assert {"operator", "product", "ep", "dtype", "side"} <= shown, shown
        assert not shown & {"cell", "backend", "spec profile"}  # the run's, in its environment
        assert any(link["url"].endswith(f"compliance.html#alltoallv_gmm.{t['name'].split()[0]}")
                   for link in t["links"])
        assert "contract text" not in t["descriptionHtml"]  # one click away, in the matrix
    suites = json.loads(files["data/suites.json"])
    assert sum(1 for _ in _leaves(suites)) == 100


def _leaves(node: dict):
    for child in node.get("children", []):
        if "children" in child:
            yield from _leaves(child)
        else:
            yield child


def _page(entries: str) -> str:
    return ('<html><body><div id="alert"></div>\n    <script>\n      window.reportDataReady = '
            'false;\n    </script>\n    <script>\n      Promise.allSettled([' + entries +
            ']).then(function () {\n        window.reportDataReady = true;\n      });\n'
            '    </script>\n</body></html>\n')


def test_packing_keeps_every_file_and_leaves_an_unknown_layout_alone(tmp_path):
    import base64

    from reports.render import pack_page_data

    files = {"data/test-cases/a.json": b'{"name": "x"}', "data/attachments/b.png": bytes(range(256)),
             "widgets/empty.json": b""}
    entries = ",".join(f'd({json.dumps(n)},"{base64.b64encode(v).decode()}")'
                       for n, v in files.items())
    page = tmp_path / "index.html"
    page.write_text(_page(entries), encoding="utf-8")
    assert embedded_files(page) == files
    assert pack_page_data(page) and "Promise.allSettled" not in page.read_text()
    assert embedded_files(page) == files
    assert not pack_page_data(page)  # packed once
    odd = _page(entries + ',e("widgets/x.json","")')  # a renderer that writes something else
    page.write_text(odd, encoding="utf-8")
    assert not pack_page_data(page) and page.read_text() == odd
