"""pytest plugin of the run's records: one line per case (cases.jsonl.gz), one per test item
(items.jsonl), what the run set out to test (run.json), the one rule of which clause sides the
cases covered, and an item's outcome read off the data the suite recorded on it.

Registered from conftest.py (`pytest_plugins`); it does nothing unless the run is a conformance
run. Under xdist every report reaches the controller, which writes the run-wide files once at the
end of the session; a report's properties are compacted for JUnit XML after the records keep
them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import ops
from reports.results import CASES_FILE, PLAIN_CASES_FILE, write_cases
from spec.outcome import ERROR, FAILURE, SKIP, UNREACHABLE, Cell, ConformanceFailure
from suites._conformance import OPTIONS

ROOT = Path(__file__).resolve().parents[1]
ITEMS_FILE = "items.jsonl"
RUN_FILE = "run.json"
RUN_SCHEMA = "conformance-run/2"
ITEM_SCHEMA = "conformance-item/2"
CASES = "conformance_cases"  # the item property holding its case records


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# --- versions for environment.properties -------------------------------------------------
def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def suite_version() -> str:
    """The suite's version from pyproject.toml and the checkout's commit (with -dirty)."""
    version = "unknown"
    pyproject = ROOT / "pyproject.toml"
    if pyproject.exists():
        import tomllib

        version = tomllib.loads(pyproject.read_text(encoding="utf-8")).get(
            "project", {}).get("version", version)
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10, check=True)
        return f"{version} ({commit.stdout.strip()})"
    except (OSError, subprocess.SubprocessError):
        return version


def cann_version() -> str | None:
    """The CANN toolkit's version, read from the install the environment points at, if any."""
    bases = [os.environ.get(v) for v in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")]
    bases.append("/usr/local/Ascend/ascend-toolkit/latest")
    for base in filter(None, bases):
        for name in ("version.cfg", "ascend_toolkit_install.info", "compiler/version.info",
                     "runtime/version.info"):
            path = Path(base) / name
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            m = re.search(r"^\s*(?:toolkit_)?version\s*=\s*\[?([^\]\s]+)", text, re.M | re.I)
            if m:
                return m.group(1)
    return None


def _cell_of(item: pytest.Item) -> Cell | None:
    """The item's cell; None also for an area with no clause of the run's operators, whose
    test pytest parametrizes with NOTSET."""
    from suites._conformance import Cell

    cell = getattr(getattr(item, "callspec", None), "params", {}).get("cell")
    return cell if isinstance(cell, Cell) else None


def _regression_of(item: pytest.Item) -> tuple[Path, Cell] | None:
    """A saved regression case's path and the cell it belongs to (suites/test_regressions.py)."""
    saved = getattr(getattr(item, "callspec", None), "params", {}).get("regression")
    if not isinstance(saved, tuple):  # none saved for this run: pytest's NOTSET
        return None
    operator, path = saved
    try:
        case = json.loads(Path(path).read_text(encoding="utf-8"))
        return Path(path), Cell(operator, case["clause"], case["side"], case["product"],
                                case["ep"], case["dtype"])
    except (OSError, ValueError, KeyError):
        return None


def coverage(records: list[dict], op, products: tuple[str, ...], entry: str = "v1"
             ) -> list[str]:
    """Per product, how many of the operator's clause sides the records told about (held or
    broken; the runner's `told`, which the compliance matrix counts too)."""
    lines = []
    mine = [r for r in records if r["cell"]["operator"] == op.name]
    for product in products:
        if product not in op.products:
            continue
        valid_total = invalid_total = valid = invalid = 0
        told = {(t["clause"], t["side"]) for r in mine if r["cell"]["product"] == product
                for t in r["told"] if t["verdict"] != UNREACHABLE}
        seen_valid = {clause for clause, side in told if side == "valid"}
        seen_invalid = {clause for clause, side in told if side == "invalid"}
        for clause in op.clauses_for(product, entry=entry):
            valid_total += 1
            valid += clause.id in seen_valid
            if clause.has_invalid_side:
                invalid_total += 1
                invalid += clause.id in seen_invalid
        lines.append(f"{product}: {valid + invalid}/{valid_total + invalid_total} clause sides "
                     f"covered (valid side {valid}/{valid_total}, invalid side "
                     f"{invalid}/{invalid_total})")
    return lines


class RunRecords:
    """The records of one conformance run (registered by `pytest_configure`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.opts = config.stash[OPTIONS]
        self.items: dict[str, dict] = {}
        self.cases: list[dict] = []  # every case record, in the order the controller saw them
        self.started = time.time()
        self.controller = not hasattr(config, "workerinput")

    # -- collection: every report of an item carries its cell ---------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            cell, regression = _cell_of(item), _regression_of(item)
            if cell is not None:
                item.user_properties.append(("conformance_cell", dict(cell.__dict__)))
            elif regression is not None:  # a saved case: its failures must reach the gate too
                item.user_properties.append(("conformance_cell", {
                    **regression[1].__dict__, "regression": regression[0].name}))

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo
                                  ) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        error = call.excinfo
        if report.failed and error is not None and not isinstance(error.value, ConformanceFailure):
            # An error of the suite or the backend, not a verdict: its type and first line.
            text = str(error.value).strip()
            report.user_properties.append((ERROR, {
                "type": error.typename, "message": text.splitlines()[0] if text else ""}))

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Iterator[None]:
        if self.controller:
            self.record(report)
            if report.when == "call":
                for rec in next((v for k, v in report.user_properties if k == CASES), []):
                    self.cases.append({**rec, "nodeid": report.nodeid})
        if report.when == "teardown":
            compact_properties(report)
        yield

    def record(self, report: pytest.TestReport) -> None:
        props = {k: v for k, v in report.user_properties if k == "conformance_cell"}
        cell = props.get("conformance_cell")
        if cell is None:
            return
        if isinstance(cell, dict):
            rec = self.items.setdefault(report.nodeid, {
                "schema": ITEM_SCHEMA, "nodeid": report.nodeid, "cell": cell,
                "area": ops.get(cell["operator"]).clause[cell["clause"]].area,
                "outcome": "passed", "reason": "",
                "seconds": 0.0})
        elif report.nodeid in self.items:  # a teardown report compacted on its worker
            rec = self.items[report.nodeid]
        else:
            return
        rec["seconds"] = round(rec["seconds"] + report.duration, 4)
        outcome, reason = classify(report)
        if outcome is not None and _RANK[outcome] >= _RANK[rec["outcome"]]:
            rec["outcome"], rec["reason"] = outcome, reason
            found = dict(report.user_properties)
            if FAILURE in found:
                rec["finding"] = found[FAILURE]["finding"]
            if isinstance(found.get(SKIP), dict):
                rec["skip_kind"] = found[SKIP]["kind"]

    # -- end of the run ----------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.controller or self.config.option.collectonly:
            return  # a collection is not a run: it must not replace a run's records
        out = self.opts.output
        out.mkdir(parents=True, exist_ok=True)
        (out / PLAIN_CASES_FILE).unlink(missing_ok=True)  # an older run's, now stale
        write_cases(out / CASES_FILE, self.cases)
        with (out / ITEMS_FILE).open("w", encoding="utf-8") as f:
            for rec in self.items.values():
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        (out / RUN_FILE).write_text(json.dumps(self.run_info(int(exitstatus)), indent=1,
                                               ensure_ascii=False) + "\n", encoding="utf-8")

    def run_info(self, exitstatus: int) -> dict:
        o = self.opts
        return {
            "schema": RUN_SCHEMA,
            "started": self.started,
            "finished": time.time(),
            "exit_status": exitstatus,
            "backend": o.backend_name,
            "spec_profile": o.profile_name,
            "operators": {name: {
                "title": run.operator.title,
                "home": run.operator.home,
                "backend": run.backend.name,
                "backend_options": dict(run.backend.options),
                "backend_description": run.backend.describe(),
                "backend_provenance": dict(run.provenance),
                "spec_profile": run.profile.name,
                "spec_profile_title": run.profile.title,
                "spec_profile_kind": run.profile.kind,
                "world_sizes": {p: list(o.sizes(run.operator, p)) for p in o.products
                                if p in run.operator.products},
            } for name, run in o.runs.items()},
            "entry": o.entry,
            "comm_mode": o.comm_mode,
            "products": list(o.products),
            "world_size_filter": None if o.world_sizes is None else list(o.world_sizes),
            "hypothesis_profile": o.hypothesis_profile,
            "judge": o.judge,
            "known_failures": self.config.getoption("known_failures"),
            "keyword": self.config.getoption("keyword") or None,
            "items": len(self.items),
        }




def compact_properties(report: pytest.TestReport) -> None:
    """Shorten the teardown report's properties, which JUnit XML writes out as they are: the
    case records (in cases.jsonl.gz already) become a count, the cell its id."""
    out = []
    for key, value in report.user_properties:
        if key == CASES and isinstance(value, list):
            n = sum(1 for r in value if r.get("outcome") == "passed")
            value = f"{len(value)} cases: {n} passed, {len(value) - n} failed"
        elif key == "conformance_cell" and isinstance(value, dict):
            value = "{operator}-{clause}-{side}-{product}-ep{ep}-{dtype}".format(**value) + (
                f" (regression {value['regression']})" if "regression" in value else "")
        elif key == SKIP and isinstance(value, dict):
            value = value.get("why", "")
        elif key == FAILURE and isinstance(value, dict):
            value = value["finding"]["line"]
        out.append((key, value))
    report.user_properties = out


# Which phase's outcome wins when an item has several reports.
_RANK = {"passed": 0, "skipped": 1, "xpassed": 2, "xfailed": 2, "failed": 3, "error": 4}


def classify(report: pytest.TestReport) -> tuple[str | None, str]:
    """An item report's outcome for the matrix: passed, failed, error, skipped, xfailed or
    xpassed (a strict XPASS is reported failed by pytest), and a one-line reason, read off the
    properties the suite recorded (its verdict, its skip, an error's type and first line)."""
    found = dict(report.user_properties)
    if report.passed:
        if report.when != "call":
            return None, ""
        if hasattr(report, "wasxfail"):
            return "xpassed", report.wasxfail
        return "passed", ""
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "xfailed", report.wasxfail
        if isinstance(found.get(SKIP), dict):
            return "skipped", found[SKIP]["why"]
        longrepr = report.longrepr  # a skip of pytest's own: (file, line, reason)
        return "skipped", (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                           ).removeprefix("Skipped: ")
    if str(report.longrepr).startswith("[XPASS(strict)]"):
        return "xpassed", getattr(report, "wasxfail", "") or str(report.longrepr).removeprefix(
            "[XPASS(strict)]").strip()
    if FAILURE in found:
        message = found[FAILURE]["finding"]["line"]
    elif ERROR in found:
        message = f"{found[ERROR]['type']}: {found[ERROR]['message']}"
    else:
        message = _first_line(str(report.longrepr))
    if report.when != "call":
        return "error", f"{report.when}: {message}"
    return "failed", message


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the records for a conformance run (conftest has set its options by now)."""
    if OPTIONS in config.stash:
        config.pluginmanager.register(RunRecords(config), "conformance-records")
