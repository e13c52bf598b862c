"""The rendered HTML report, as a person sees it: it opens in headless Chromium with every
network request blocked, shows its overview, a failed case with the clause link and the
replay command, a passing case with its replay command (a row of its page); and nothing in it
would reach the network or count visits.

Chromium is Debian's /usr/bin/chromium (CI installs it). Without it the browser test skips,
unless REQUIRE_BROWSER=1, when it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from ops.alltoallv_gmm import OPERATOR as OP
from tests.support.runs import OPERATOR, embedded_files, pr_with_faults

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
ANALYTICS = ("googletagmanager", "google-analytics", "gtag(", "analytics.js", "yandex",
             "mc.yandex", "plausible.io", "segment.io")
REMOTE = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']?"""
                    r"""\s*(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def pr(tmp_path_factory) -> tuple[int, str, Path]:
    return pr_with_faults(tmp_path_factory)


def _browser_or_skip():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        missing = f"playwright is not installed ({err})"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return sync_playwright


def _pages(out: Path) -> list[Path]:
    return [out / "html" / "index.html", out / "compliance.html"]


def test_the_pages_load_nothing_remote_and_carry_no_analytics(pr):
    _, _, out = pr
    for page in _pages(out):
        html = page.read_text(encoding="utf-8")
        assert not REMOTE.search(html), page
        texts = [html] + [data.decode("utf-8", "replace")
                          for data in embedded_files(page).values()]
        for m in re.finditer(r"data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)", html):
            import base64

            texts.append(base64.b64decode(m.group(1)).decode("utf-8", "replace"))
        for text in texts:
            assert not REMOTE.search(text), page
            for word in ANALYTICS:
                assert word not in text.lower(), (page, word)


def _failed_uid(out: Path) -> str:
    results = json.loads((out / "html" / "test-results.json").read_text(encoding="utf-8"))
    return next(uid for uid, r in results["byId"].items()
                if r["status"] == "failed" and r["name"].startswith("RANGE.H1"))


def _passed_uid(out: Path) -> str:
    results = json.loads((out / "html" / "test-results.json").read_text(encoding="utf-8"))
    return next(uid for uid, r in results["byId"].items() if r["status"] == "passed")


def test_report_in_headless_chromium_offline(pr):
    sync_playwright = _browser_or_skip()
    _, _, out = pr
    index = (out / "html" / "index.html").resolve()
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    attempted: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", route)
            page.goto(index.as_uri())
            page.get_by_text("Environment").first.wait_for(timeout=30_000)
            assert page.get_by_text("tests.support.faulty:factory").first.is_visible()
            assert page.get_by_text(f"{OPERATOR}.spec.profile").first.is_visible()
            page.screenshot(path=str(shots / "overview.png"))

            page.goto(f"{index.as_uri()}#testresult/{_failed_uid(out)}")
            page.get_by_text("RANGE.H1 (invalid side) on 910_95").first.wait_for(timeout=30_000)
            # the clause's anchor is the operator's: another operator may have a RANGE.H1
            link = page.locator(f'a[href$="compliance.html#{OPERATOR}.RANGE.H1"]').first
            link.wait_for(timeout=10_000)
            assert link.get_attribute("href") == f"../compliance.html#{OPERATOR}.RANGE.H1"
            assert page.get_by_text("python -m ci.replay").first.is_visible()
            assert page.get_by_text("Wrong status code").first.is_visible()  # its category
            page.screenshot(path=str(shots / "failed-case.png"), full_page=True)
            clause_page = link.evaluate("a => a.href")

            # A passing test shows its replay command on its page (no attachment of its own).
            page.goto(f"{index.as_uri()}#testresult/{_passed_uid(out)}")
            page.get_by_text("python -m ci.replay").first.wait_for(timeout=30_000)
            assert page.get_by_text("--case-id").first.is_visible()
            page.screenshot(path=str(shots / "passed-case.png"), full_page=True)

            # The clause link leads to the clause in the compliance matrix.
            page.goto(clause_page)
            anchor = page.locator(f'[id="{OPERATOR}.RANGE.H1"]')
            assert anchor.count() == 1 and "H1" in anchor.inner_text()
            assert page.get_by_text(f"Compliance matrix of {OP.title}").first.is_visible()
            page.screenshot(path=str(shots / "compliance.png"))
        finally:
            browser.close()
    assert attempted == [], f"the report tried the network: {attempted[:5]}"
    for name in ("overview.png", "failed-case.png", "passed-case.png", "compliance.png"):
        assert (shots / name).stat().st_size > 10_000, name
    keep = os.environ.get("SCREENSHOT_DIR")  # to look at them after the run
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)
