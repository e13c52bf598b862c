"""Trimming a run's Allure results to what the report shows, before it is rendered.

allure-pytest writes a container file for every fixture of every test. A fixture that passed
and carries nothing (no steps, attachments, parameters or message) only adds a "set up" or
"tear down" line to a test's page; one per test is thousands of files on disk and a third of
each test's data in the single-file HTML report. Those are removed; a fixture that failed,
broke or carries something stays. Once rendered, the results are packed into one zip file.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

QUIET_STATUSES = (None, "passed", "unknown")  # an `after` that ran without a verdict: unknown
CONTENT_KEYS = ("steps", "attachments", "parameters")


def _is_quiet(fixture: dict) -> bool:
    details = fixture.get("statusDetails") or {}
    return (fixture.get("status") in QUIET_STATUSES
            and not any(fixture.get(k) for k in CONTENT_KEYS)
            and not details.get("message") and not details.get("trace"))


def prune_containers(results: Path) -> int:
    """Remove the containers in `results` whose fixtures all passed quietly; returns how many."""
    removed = 0
    for path in Path(results).glob("*-container.json"):
        try:
            container = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # not ours to judge: the renderer reports what it cannot read
        fixtures = container.get("befores", []) + container.get("afters", [])
        if all(_is_quiet(f) for f in fixtures):
            path.unlink()
            removed += 1
    return removed


def pack(results: Path) -> Path:
    """Replace the results folder by one zip file beside it (`allure-results.zip`).

    Once the HTML report is rendered, the results are only kept to be rendered again or
    uploaded; thousands of small files take four times their size on disk (a block each), the
    zip a tenth of it. `unzip allure-results.zip -d allure-results` gives the folder back.
    """
    results = Path(results)
    archive = results.with_name(results.name + ".zip")
    partial = archive.with_name(archive.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for path in sorted(results.iterdir()):
            if path.is_file():
                z.write(path, path.name)
    partial.replace(archive)
    shutil.rmtree(results)
    return archive
