"""pytest plugin of the reports: Allure labels, links, parameters and attachments for every
conformance test, the run's Allure environment and categories, and the item records that the
compliance matrix is built from.

Registered from conftest.py (`pytest_plugins`); it does nothing unless the run is a conformance
run (tests/ runs have no backend session). Allure calls are no-ops when `--alluredir` is not
given; the item records (`items.jsonl`, `run.json` in --output-dir) are written on every run.

Under xdist the labels and attachments are made on the worker that runs the test (that is where
allure-pytest writes the result); the run-wide files are written once, by the controller, at the
end of the session, after every worker has finished.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import allure
import pytest

import ops
from reports.results import CASES_FILE, record_case
from spec.operator import AREAS
from spec.outcome import ERROR, FAILURE, SKIP, Cell, ConformanceFailure

if TYPE_CHECKING:
    from suites._conformance import Options

ROOT = Path(__file__).resolve().parents[1]
ITEMS_FILE = "items.jsonl"
RUN_FILE = "run.json"
RUN_SCHEMA = "conformance-run/2"
ITEM_SCHEMA = "conformance-item/2"
# The clause link of a test points at the clause's anchor in the compliance matrix. The default
# fits the layout ci/pr.py and ci/nightly.py write: OUT/html/index.html next to OUT/compliance.html,
# so the link works offline, wherever the folder is copied.
DEFAULT_CLAUSE_LINK = "../compliance.html#{}"

# The finding kinds a failure message names ("[CLAUSE] kind on rank N: ..."), each a category.
KINDS = ("status", "numeric", "movement", "integrity", "shape", "crash", "timeout", "device_fault",
         "device_unhealthy")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# --- Allure categories (categories.json) --------------------------------------------------
def _kind_regex(kind: str) -> str:
    # The failure message's first line is "<exception type>: [CLAUSE] kind on rank N: ...":
    # anchored on the first line, so a case's first finding decides its category. Written to
    # work both as a JavaScript search (Allure 3) and as a Java full match (Allure 2).
    return r"^[^\n]*\[[^\]\n]+\] " + kind + r" on rank[\s\S]*"


CATEGORIES: list[dict] = [
    {"name": "Expected failure (listed in the expectations file)", "matchedStatuses": ["skipped"],
     "messageRegex": r"^XFAIL[\s\S]*"},
    {"name": "Unexpected pass (listed as an expected failure)", "matchedStatuses": ["failed"],
     "messageRegex": r"^\[XPASS\(strict\)\][\s\S]*"},
    {"name": "Wrong status code", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _kind_regex("status")},
    {"name": "Numeric mismatch", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _kind_regex("numeric")},
    {"name": "Data-movement mismatch", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _kind_regex("movement")},
    {"name": "Integrity (unwritten output, guard region, changed input, repeatability)",
     "matchedStatuses": ["failed", "broken"], "messageRegex": _kind_regex("integrity")},
    {"name": "Output shape or dtype", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _kind_regex("shape")},
    {"name": "Timeout", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^(?:[^\n]*\[[^\]\n]+\] timeout on rank|[^\n]*Timeout)[\s\S]*"},
    {"name": "Crash", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _kind_regex("crash")},
    {"name": "Device fault (the world died in this case, its devices unhealthy after it)",
     "matchedStatuses": ["failed", "broken"], "messageRegex": _kind_regex("device_fault")},
    {"name": "Device unhealthy (not recovered from an earlier case's fault)",
     "matchedStatuses": ["failed", "broken"], "messageRegex": _kind_regex("device_unhealthy")},
    {"name": "Unreliable (a case failed, then passed when hypothesis replayed it)",
     "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^[^\n]*(?:FlakyFailure|errors\.Flaky)[\s\S]*"},
    {"name": "Several distinct failures (see the trace)", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^[^\n]*distinct failures[\s\S]*"},
    {"name": "Not applicable", "matchedStatuses": ["skipped"],
     "messageRegex": r"^Skipped: not applicable[\s\S]*"},
    {"name": "Not applicable (unreachable at this world size)", "matchedStatuses": ["skipped"],
     "messageRegex": r"^Skipped: unreachable at ep=[\s\S]*"},
]


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


def environment(opts: Options, products: tuple[str, ...]) -> dict[str, str]:
    """What a reader of the report needs to know about where it ran: per operator, its backend
    (and what that runs) and the contract version tested."""
    env = {"operators": ", ".join(run.operator.title for run in opts.runs.values()),
           "products": ", ".join(products)}
    for run in opts.runs.values():
        at = run.operator.name
        env |= {
            f"{at}.backend": run.backend.describe(),
            **{f"{at}.backend.{k}": v for k, v in run.provenance.items()},
            f"{at}.spec.profile": f"{run.profile.name} ({run.profile.title})",
            f"{at}.spec.profile.kind": run.profile.kind,
            **({f"{at}.spec.profile.chosen": run.profile_reason} if run.profile_reason else {}),
        }
    env |= {
        "entry": opts.entry + (f" (commMode {opts.comm_mode})" if opts.entry == "v2" else ""),
        "hypothesis.profile": opts.hypothesis_profile,
        "judge": opts.judge,
        "suite": suite_version(),
        "python": f"{platform.python_version()} ({sys.implementation.name})",
    }
    for dist in ("torch", "torch_npu", "numpy", "hypothesis", "pytest"):
        version = _dist_version(dist)
        if version:
            env[dist] = version
    cann = cann_version()
    if cann:
        env["CANN"] = cann
    return env


def write_properties(path: Path, values: dict[str, str]) -> None:
    """A Java-style .properties file (keys escaped; values on one line each)."""
    lines = []
    for key, value in values.items():
        key = re.sub(r"([ =:\\])", r"\\\1", key)
        value = value.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- per-test Allure data ------------------------------------------------------------------
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


def _records(item: pytest.Item) -> list[dict]:
    for key, value in item.user_properties:
        if key == "conformance_cases":
            return value
    return []


def _description(cell: Cell, opts: Options) -> str:
    """The page header of a test that failed, errored, was skipped or is listed as an expected
    failure: the clause's text and enforcement beside the world it ran in."""
    run = opts.runs[cell.operator]
    clause = run.operator.clause[cell.clause]
    enforcement = run.profile.enforces(cell.clause, cell.product).describe()
    rows = [
        ("operator", html.escape(run.operator.title)),
        ("clause", f"<b>{html.escape(clause.id)}</b> ({html.escape(AREAS[clause.area].title)})"),
        ("contract text", html.escape(clause.text)),
        ("source", html.escape(clause.source)),
        (f"profile {run.profile.name}", html.escape(enforcement)),
        ("side", html.escape(cell.side)),
        ("world", f"{html.escape(cell.product)}, ep={cell.ep}, {html.escape(cell.dtype)}"),
        ("backend", html.escape(run.backend.describe())),
    ]
    return _table(rows)


def _passed_description(replay: str) -> str:
    """The page header of a passing test: its replay command alone. The clause's text and
    enforcement are one click away (the clause link, in the compliance matrix) and the world is
    in the title and parameters; repeated on every passing test they were a third of each
    test's data in the report."""
    return _table([("replay", f"<code>{html.escape(replay)}</code>")])


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def worst_elements(record: dict) -> list[dict]:
    """The worst element of every failing numeric or movement verdict of a case, worst first."""
    rows = []
    for f in record.get("findings", []):
        stats = f.get("stats") or {}
        if f.get("kind") not in ("numeric", "movement") or not stats:
            continue
        rows.append({
            "rank": f.get("rank"), "clause": f.get("clause"), "output": stats.get("output"),
            "standard": stats.get("standard"), "index": stats.get("worst_index"),
            "got": stats.get("worst_value"), "expected": stats.get("worst_golden"),
            "max_abs_error": stats.get("max_abs_error"),
            "matched_ratio": stats.get("matched_ratio"), "elements": stats.get("elements"),
        })

    def key(r: dict) -> float:
        err = r["max_abs_error"]
        return -(err if isinstance(err, int | float) and err == err else float("inf"))

    return sorted(rows, key=key)


def case_json(case: dict) -> str:
    """A case as JSON, one top-level key a line (a 64x64 send matrix stays 64 short lines)."""
    lines = []
    for key, value in case.items():
        if key == "send" and isinstance(value, list):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            lines.append(f' "{key}": [\n  {rows}\n ]')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])

    def cell(v: object) -> str:
        text = "" if v is None else str(list(v) if isinstance(v, tuple) else v)
        return f'"{text}"' if "," in text else text

    return "\n".join([",".join(cols)] + [",".join(cell(r[c]) for c in cols) for r in rows]) + "\n"


class ConformanceReports:
    """The plugin instance of one conformance run (registered by `pytest_configure`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.opts = config._conformance_options
        self.items: dict[str, dict] = {}
        self.started = time.time()
        self.controller = not hasattr(config, "workerinput")
        self.allure_dir = getattr(config.option, "allure_report_dir", None)
        patterns = getattr(config.option, "allure_link_pattern", None)
        if patterns is not None and not any(kind == "clause" for kind, _ in patterns):
            patterns.append(("clause", DEFAULT_CLAUSE_LINK))

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

    # -- the test call: labels before, attachments after ---------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        cell, saved = _cell_of(item), None
        if cell is None and (regression := _regression_of(item)) is not None:
            saved, cell = regression
        if cell is None:
            yield
            return
        self.label(cell, saved)
        outcome = yield
        for rec in _records(item):  # which test each case record belongs to
            rec["nodeid"] = item.nodeid
        error = outcome.excinfo[1] if outcome.excinfo else None
        if error is not None or item.get_closest_marker("xfail"):
            allure.dynamic.description_html(_description(cell, self.opts))
        try:
            self.attach(item, cell, error, saved)
        except Exception as err:  # a report must never turn a verdict into an error
            allure.attach(f"could not build the attachments: {err!r}", "report error",
                          allure.attachment_type.TEXT)

    def label(self, cell: Cell, saved: Path | None = None) -> None:
        opts = self.opts
        run = opts.runs[cell.operator]
        area = AREAS[cell.area].title
        allure.dynamic.epic(f"{run.operator.title} · spec profile {run.profile.name}")
        allure.dynamic.feature(area)
        allure.dynamic.story(cell.clause)
        allure.dynamic.parent_suite(f"{run.operator.title} · {cell.product}")
        allure.dynamic.suite("Regressions (saved cases)" if saved else area)
        allure.dynamic.sub_suite(cell.clause)
        allure.dynamic.title(f"{'regression ' + saved.stem + ': ' if saved else ''}{cell.clause} "
                             f"({cell.side} side) on {cell.product}, ep={cell.ep}, {cell.dtype}")
        allure.dynamic.link(f"{cell.operator}.{cell.clause}", link_type="clause",
                            name=f"clause {cell.clause}")
        # These enter the history id (with the pytest parameter `cell` itself), so an operator,
        # product, world size, dtype, side, backend or contract version has its own history.
        # The cell's id repeats the title, the backend and profile are the run's (its
        # environment and epic): hidden from the page, not repeated in every test's data there.
        hidden = allure.parameter_mode.HIDDEN
        allure.dynamic.parameter("operator", cell.operator)
        allure.dynamic.parameter("cell", cell.id, mode=hidden)
        self._hide_parameter("cell")  # allure-pytest made it from the pytest parameter
        allure.dynamic.parameter("product", cell.product)
        allure.dynamic.parameter("ep", cell.ep)
        allure.dynamic.parameter("dtype", cell.dtype)
        allure.dynamic.parameter("side", cell.side)
        allure.dynamic.parameter("backend", run.backend.describe(), mode=hidden)
        allure.dynamic.parameter("spec profile", run.profile.name, mode=hidden)

    def attach(self, item: pytest.Item, cell: Cell, error: BaseException | None,
               saved: Path | None = None) -> None:
        """The case, replay command, judge statistics and findings of a test's last (failing)
        case; a passing test's replay command goes in its page header instead."""
        records = _records(item)
        if not records:
            return
        failing = [r for r in records if r["outcome"] == "failed"]
        record = failing[-1] if failing else records[-1]
        # `e` differs between the hypothesis examples of one test, so it is shown for the case
        # attached below but excluded from the history id (a test keeps one history); an
        # operator whose case model has no `e` has nothing to show there.
        shown = record_case(record)
        if "e" in shown:
            allure.dynamic.parameter("e", shown["e"], excluded=True)
        allure.dynamic.parameter("cases run", len(records), excluded=True)
        if failing:  # only a failure carries its case: a passing one is in cases.jsonl.gz
            allure.attach(case_json(record["case"]), "case JSON (failing case)",
                          allure.attachment_type.JSON)
        failure = dict(item.user_properties).get(FAILURE)
        replay = failure["replay"] if failure else None
        if replay is None:
            conformance = getattr(item, "funcargs", {}).get("conformance")
            if conformance is not None and saved is not None:
                replay = conformance.replay_command(saved, cell.operator)
            elif conformance is not None:
                replay = (conformance.replay_command(self.opts.output / CASES_FILE,
                                                     cell.operator)
                          + f" --case-id {record['case_id']}")
        if replay and (failing or error is not None or item.get_closest_marker("xfail")):
            allure.attach(replay + "\n", "replay command", allure.attachment_type.TEXT)
        elif replay:
            allure.dynamic.description_html(_passed_description(replay))
        if record.get("verdicts"):
            allure.attach(json.dumps(record["verdicts"], indent=1), "judge statistics",
                          allure.attachment_type.JSON)
        worst = worst_elements(record)
        if worst:
            allure.attach(_csv(worst), "worst elements", allure.attachment_type.CSV)
        if record.get("findings"):
            allure.attach(json.dumps(record["findings"], indent=1), "findings",
                          allure.attachment_type.JSON)

    # -- reports: the controller keeps one record per item ------------------------------
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo
                                  ) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" and report.failed and str(report.longrepr).startswith(
                "[XPASS(strict)]"):
            self._allure_message(str(report.longrepr))
        error = call.excinfo
        if report.failed and error is not None and not isinstance(error.value, ConformanceFailure):
            # An error of the suite or the backend, not a verdict: its type and first line.
            text = str(error.value).strip()
            report.user_properties.append((ERROR, {
                "type": error.typename, "message": text.splitlines()[0] if text else ""}))

    def _hide_parameter(self, name: str) -> None:
        """Hide a parameter allure-pytest has already made (from a pytest parameter): a later
        allure.dynamic.parameter of the same name sets its value only, not its mode."""
        listener = self.config.pluginmanager.get_plugin("allure_listener")
        result = listener.allure_logger.get_test(None) if listener is not None else None
        for param in getattr(result, "parameters", None) or []:
            if param.name == name:
                param.mode = allure.parameter_mode.HIDDEN.value

    def _allure_message(self, message: str) -> None:
        """Give a strict XPASS a status message (allure-pytest records none) for its category."""
        listener = self.config.pluginmanager.get_plugin("allure_listener")
        if listener is None:
            return
        from allure_commons.model2 import StatusDetails

        result = listener.allure_logger.get_test(None)
        if result is not None:
            result.statusDetails = StatusDetails(message=message)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Iterator[None]:
        if self.controller:
            self.record(report)
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
        with (out / ITEMS_FILE).open("w", encoding="utf-8") as f:
            for rec in self.items.values():
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        (out / RUN_FILE).write_text(json.dumps(self.run_info(int(exitstatus)), indent=1,
                                               ensure_ascii=False) + "\n", encoding="utf-8")
        if self.allure_dir:
            folder = Path(self.allure_dir)
            folder.mkdir(parents=True, exist_ok=True)
            write_properties(folder / "environment.properties",
                             environment(self.opts, self.opts.products))
            (folder / "categories.json").write_text(json.dumps(CATEGORIES, indent=1) + "\n",
                                                    encoding="utf-8")

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
            "expectations": self.config.getoption("expectations"),
            "keyword": self.config.getoption("keyword") or None,
            "items": len(self.items),
        }


def compact_properties(report: pytest.TestReport) -> None:
    """Shorten the teardown report's properties, which JUnit XML writes out as they are: the
    case records (in cases.jsonl.gz already) become a count, the cell its id."""
    out = []
    for key, value in report.user_properties:
        if key == "conformance_cases" and isinstance(value, list):
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
    """Register the reports for a conformance run (conftest has set its options by now)."""
    if getattr(config, "_conformance_options", None) is not None:
        config.pluginmanager.register(ConformanceReports(config), "conformance-reports")

