"""pytest plugin of the Allure report: labels, links, parameters and attachments for every
conformance test, and the run's Allure environment and categories.

Registered from conftest.py (`pytest_plugins`); it does nothing unless the run is a conformance
run, and its Allure calls are no-ops when `--alluredir` is not given. Under xdist the labels and
attachments are made on the worker that runs the test (that is where allure-pytest writes the
result); the environment and categories are written once, by the controller, at the end.
"""

from __future__ import annotations

import html
import json
import platform
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import allure
import pytest

from fixtures.harness import FINDING_KINDS
from reports.records import CASES, _cell_of, _dist_version, _regression_of, cann_version, suite_version
from reports.results import CASES_FILE
from spec.operator import AREAS
from spec.outcome import FAILURE, Cell
from suites._conformance import OPTIONS

if TYPE_CHECKING:
    from suites._conformance import Options

# The clause link of a test points at the clause's anchor in the compliance matrix. The default
# fits the layout ci/pr.py and ci/nightly.py write: OUT/html/index.html next to OUT/compliance.html,
# so the link works offline, wherever the folder is copied.
DEFAULT_CLAUSE_LINK = "../compliance.html#{}"

# --- Allure categories (categories.json) --------------------------------------------------
def _kind_regex(kind: str) -> str:
    # The failure message's first line is "<exception type>: [CLAUSE] kind on rank N: ...":
    # anchored on the first line, so a case's first finding decides its category. Written to
    # work both as a JavaScript search (Allure 3) and as a Java full match (Allure 2).
    return r"^[^\n]*\[[^\]\n]+\] " + kind + r" on rank[\s\S]*"


# A timeout is also an exception of its own (pytest-timeout's, hypothesis's deadline).
TIMEOUT_REGEX = r"^(?:[^\n]*\[[^\]\n]+\] timeout on rank|[^\n]*Timeout)[\s\S]*"
KINDS = tuple(FINDING_KINDS)

CATEGORIES: list[dict] = [
    {"name": "Expected failure (listed in the known-failures file)", "matchedStatuses": ["skipped"],
     "messageRegex": r"^XFAIL[\s\S]*"},
    {"name": "Unexpected pass (listed as an expected failure)", "matchedStatuses": ["failed"],
     "messageRegex": r"^\[XPASS\(strict\)\][\s\S]*"},
    *({"name": title, "matchedStatuses": ["failed", "broken"],
       "messageRegex": TIMEOUT_REGEX if kind == "timeout" else _kind_regex(kind)}
      for kind, title in FINDING_KINDS.items()),
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


def _records(item: pytest.Item) -> list[dict]:
    return next((v for k, v in item.user_properties if k == CASES), [])


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
    """A case as JSON, one top-level key a line (a 64x64 routing matrix stays 64 short lines)."""
    lines = []
    for key, value in case.items():
        if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
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


class AllureReports:
    """The Allure labels and attachments of one conformance run (registered by
    `pytest_configure`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.opts = config.stash[OPTIONS]
        self.controller = not hasattr(config, "workerinput")
        self.allure_dir = getattr(config.option, "allure_report_dir", None)
        patterns = getattr(config.option, "allure_link_pattern", None)
        if patterns is not None and not any(kind == "clause" for kind, _ in patterns):
            patterns.append(("clause", DEFAULT_CLAUSE_LINK))

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
        if "e" in record:
            allure.dynamic.parameter("e", record["e"], excluded=True)
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.controller or self.config.option.collectonly or not self.allure_dir:
            return
        folder = Path(self.allure_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_properties(folder / "environment.properties",
                         environment(self.opts, self.opts.products))
        (folder / "categories.json").write_text(json.dumps(CATEGORIES, indent=1) + "\n",
                                                encoding="utf-8")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the Allure reports for a conformance run (conftest has set its options by now)."""
    if OPTIONS in config.stash:
        config.pluginmanager.register(AllureReports(config), "conformance-allure")
