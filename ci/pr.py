"""The PR entry point: the suite's PR tier with JUnit XML, Allure results, the rendered HTML
report and the compliance matrix, then a one-screen summary.

    python -m ci.pr [--output-dir reports/out] [--product A3,910_95] [--backend sim]
                    [--spec-profile doc] [--world-sizes ...] [--workers auto] [-- PYTEST ARGS]

It runs `pytest suites -n auto --hypothesis-profile pr` (every product unless --product says
otherwise; a hardware backend names its own), with the known-failures file
(default ci/known_failures.toml: a listed failure is a strict xfail), and leaves in --output-dir:
allure-results.zip (the Allure results, packed once rendered; allure-results/ with
--no-html), html/index.html (one offline page), compliance.json, compliance.md,
compliance.html, junit.xml, cases.jsonl.gz, items.jsonl and run.json.

Exit status:
  0  every test passed or failed as listed (expected failures), and the reports were built
  1  a test failed, errored or passed although listed as an expected failure
  2  bad input: an unknown or invalid option, a missing file, no test selected
  3  the run broke: pytest was interrupted or crashed, or the reports could not be built
"""

from __future__ import annotations

import sys

from ci import _cli
from ci import _pipeline as P

REPORT_TIER = "PR"  # the HTML report's title: "<operators> conformance (PR)"


def parser() -> _cli.Parser:
    p = _cli.Parser(prog="python -m ci.pr", hint=P.HINT,
                    description=" ".join(__doc__.split("\n\n")[0].split()),
                    epilog="Exit status: 0 passed, 1 failed, 2 bad input, 3 the run broke.")
    P.add_common_options(p, hypothesis_profile="pr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = P.parse(parser(), argv)
    try:
        timer, code = P.run_tier(args, "ci.pr")
    except P.Stop as stop:
        return stop.status
    reports = P.build_reports(args, REPORT_TIER)
    lines = [P.banner("conformance: PR tier")]
    status = _cli.OK if code == 0 else _cli.FAILED
    if reports.results is not None:
        res = reports.results
        n = P.outcome_counts(res)
        lines += [P.run_line(res, timer.seconds), *P.operator_lines(res), P.tests_line(res),
                  P.cases_line(res)]
        failures = [i for i in res.items.values() if i["outcome"] in ("failed", "error")]
        several = len(res.operators) > 1
        lines += P.listing("failed", failures, qualify=several)
        lines += P.listing("unexpected passes (listed as expected failures)",
                           [i for i in res.items.values() if i["outcome"] == "xpassed"],
                           qualify=several)
        if n["failed"] or n["error"] or n["xpassed"]:
            status = _cli.FAILED
    lines += P.report_lines(args, reports)
    if reports.errors:
        status = max(status, _cli.BROKEN)
    verdict = {_cli.OK: "PASSED", _cli.FAILED: "FAILED", _cli.BROKEN: "BROKEN"}[status]
    lines.append(f"RESULT: {verdict} (exit {status})")
    P.print_summary(lines)
    return status


if __name__ == "__main__":
    sys.exit(main())
