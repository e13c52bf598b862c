"""The pytest plugin of a mutation run's tier (`-p ci.mutation.plugin`, tier.py): a record of
every item by area, and for mutants an early stop per area.

- `--mutation-record FILE`: one JSON line per test item: node id, area, outcome, and for a
  failure the suite's first finding ("[CLAUSE] kind on rank N: ...").
- `--mutation-stop-dir DIR`: once an item of an area fails, every later item of that area is
  skipped (a marker file per area in DIR, so that xdist workers share it). The area has killed
  the mutant; the other areas still get their full chance, so the kill matrix stays complete.
- `--mutation-no-shrink`: hypothesis stops at a failing example without shrinking it. A
  mutant's kill does not depend on the smallest example, only on the first one.

Correct variants run without the last two: the whole tier, failures shrunk for the report.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from ci.mutation import REGRESSIONS
from spec.outcome import FAILURE


@cache
def area_of(nodeid: str) -> str:
    """The contract area of a test item (its module's AREA), or "regressions" for saved cases."""
    path = nodeid.split("::", 1)[0]
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, "AREA", REGRESSIONS)


def first_finding(report: pytest.TestReport) -> str | None:
    """The suite's first finding of a failing item (the verdict it recorded as data), or None
    when the failure is not a verdict."""
    failure = dict(report.user_properties).get(FAILURE)
    return failure["finding"]["line"][:300] if isinstance(failure, dict) else None


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("mutation", "suite-strength runs (python -m ci.mutation)")
    g.addoption("--mutation-record", default=None, metavar="FILE",
                help="append one JSON line per test item: area, outcome, first finding")
    g.addoption("--mutation-stop-dir", default=None, metavar="DIR",
                help="skip the rest of an area once one of its items failed")
    g.addoption("--mutation-no-shrink", action="store_true",
                help="report a failing hypothesis example without shrinking it")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """After conftest.py has loaded the hypothesis profile: drop shrinking if asked."""
    if config.getoption("mutation_no_shrink"):
        current = settings.default
        phases = [p for p in current.phases if p not in (Phase.shrink, Phase.explain)]
        settings.register_profile("mutation-no-shrink", parent=current, phases=phases)
        settings.load_profile("mutation-no-shrink")


def _stop_marker(config: pytest.Config, area: str) -> Path | None:
    folder = config.getoption("mutation_stop_dir")
    return None if folder is None else Path(folder) / area


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = _stop_marker(item.config, area_of(item.nodeid))
    if marker is not None and marker.exists():
        pytest.skip(f"mutation: area {marker.name} has already failed this backend")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _CONFIG.get("config")
    if config is None:
        return
    failed = report.failed
    if failed:
        marker = _stop_marker(config, area_of(report.nodeid))
        if marker is not None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    record = config.getoption("mutation_record")
    if record is None or hasattr(config, "workerinput"):
        return  # under xdist the controller writes the records (it sees every report)
    if report.when != "call" and not (report.failed or report.skipped):
        return
    line = {
        "nodeid": report.nodeid,
        "area": area_of(report.nodeid),
        "when": report.when,
        "outcome": "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome,
        "finding": first_finding(report) if failed else None,
        "seconds": round(report.duration, 3),
    }
    if failed and line["finding"] is None:
        line["error"] = report.longreprtext.strip().splitlines()[-1][:300] if (
            report.longreprtext.strip()) else "failed without a message"
    with open(record, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


_CONFIG: dict = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config
