"""The nightly entry point: the deep (randomised) profile, Allure history, the known-failures file,
and a gate that fails only on what is new.

    python -m ci.nightly [--output-dir reports/out] [--history reports/history/history.jsonl]
                         [--known-failures ci/known_failures.toml] [--backend ...] [--product ...]
                         [--spec-profile ...] [--world-sizes ...] [--no-rerun] [-- PYTEST ARGS]

1. Runs `pytest suites --hypothesis-profile nightly --production all` (every production world,
   scaled to the host on the simulator) with the known-failures file: a listed
   failure is a strict xfail (it must fail; if it passes, that is an unexpected pass).
2. Runs every failed test once more, in a fresh pytest process (the hypothesis database replays
   the failing example first). Failing again: a regression. Passing: a flake, reported, and not
   a gate failure by itself. The re-run's records go to OUTPUT/rerun/ and its Allure results
   join the first run's, so the report shows the retry.
3. Builds the compliance matrix and renders the HTML report with history (keep --history
   between runs, e.g. a CI cache), writes OUTPUT/gate.json and prints a one-screen summary.

The gate passes when there is no regression and no unexpected pass. Expected failures (listed,
with a reason, in the known-failures file) pass it.

Exit status:
  0  gate passed (expected failures and flakes allowed)
  1  gate failed: a regression (failed twice) or an unexpected pass
  2  bad input: an unknown or invalid option, a missing file, no test selected
  3  the run broke: pytest was interrupted or crashed, or the reports could not be built
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ci import _cli
from ci import _pipeline as P
from reports.results import ITEMS_FILE, RERUN_DIR, Results

DEFAULT_HISTORY = P.ROOT / "reports" / "history" / "history.jsonl"
REPORT_TIER = "nightly"  # the HTML report's title: "<operators> conformance (nightly)"
RERUN_OUTCOMES = ("failed", "error")


def parser() -> _cli.Parser:
    p = _cli.Parser(prog="python -m ci.nightly", hint=P.HINT,
                    description=" ".join(__doc__.split("\n\n")[0].split()),
                    epilog="Exit status: 0 gate passed, 1 gate failed, 2 bad input, 3 the run "
                           "broke.")
    P.add_common_options(p, hypothesis_profile="nightly", history=DEFAULT_HISTORY)
    p.add_argument("--no-rerun", action="store_true",
                   help="do not run failed tests again (every failure is then a regression)")
    return p


def _failed_nodeids(out: Path) -> list[str]:
    path = out / ITEMS_FILE
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    return [i["nodeid"] for i in items if i["outcome"] in RERUN_OUTCOMES]


def rerun(args: argparse.Namespace, nodeids: list[str]) -> int:
    """Run the failed tests again into OUTPUT/rerun (node ids passed through an @file)."""
    folder = args.output_dir / RERUN_DIR
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / "nodeids.txt"
    listing.write_text("\n".join(nodeids) + "\n", encoding="utf-8")
    print(f"ci.nightly: running {len(nodeids)} failed test(s) again", flush=True)
    return P.run_pytest(P.pytest_command(args, folder, selection=[f"@{listing}"]))


def gate(results: Results) -> dict:
    """The gate's verdict from the run's items (after the re-run)."""
    items = list(results.items.values())
    regressions = [i for i in items if i["outcome"] in RERUN_OUTCOMES]
    unexpected = [i for i in items if i["outcome"] == "xpassed"]
    flaky = [i for i in items if i.get("flaky")]
    expected = [i for i in items if i["outcome"] == "xfailed"]
    return {
        "passed": not regressions and not unexpected,
        "regressions": [i["nodeid"] for i in regressions],
        "unexpected_passes": [i["nodeid"] for i in unexpected],
        "flaky": [i["nodeid"] for i in flaky],
        "expected_failures": [i["nodeid"] for i in expected],
        "rerun": sum(1 for i in items if i.get("rerun")),
        "_items": {"regressions": regressions, "unexpected": unexpected, "flaky": flaky,
                   "expected": expected},
    }


def main(argv: list[str] | None = None) -> int:
    args = P.parse(parser(), argv)
    if not any(a == "--production" or a.startswith("--production=") for a in args.pytest_args):
        args.pytest_args = ["--production", "all", *args.pytest_args]  # every named world
    try:
        timer, _ = P.run_tier(args, "ci.nightly")
    except P.Stop as stop:
        return stop.status
    out = args.output_dir
    failed = _failed_nodeids(out)
    if failed and not args.no_rerun:
        again = rerun(args, failed)
        if again not in (0, 1):
            print(f"ci.nightly: the re-run stopped with exit status {again}", file=sys.stderr)
            return _cli.BROKEN
    reports = P.build_reports(args, REPORT_TIER)
    lines = [P.banner("conformance: nightly gate")]
    status = _cli.BROKEN
    if reports.results is not None:
        res = reports.results
        verdict = gate(res)
        lists = verdict.pop("_items")
        (out / "gate.json").write_text(json.dumps(verdict, indent=1) + "\n", encoding="utf-8")
        lines += [P.run_line(res, timer.seconds), *P.operator_lines(res), P.tests_line(res),
                  P.cases_line(res)]
        if verdict["rerun"]:
            flakes = len(lists["flaky"])
            lines.append(f"rerun    {verdict['rerun']} failed test(s) run again: "
                         f"{verdict['rerun'] - flakes} failed again, {flakes} passed (flaky)")
        elif failed and args.no_rerun:
            lines.append("rerun    none (--no-rerun): every failure counts as a regression")
        several = len(res.operators) > 1
        lines += P.listing("regressions (fail the gate)", lists["regressions"], qualify=several)
        lines += P.listing("unexpected passes (fail the gate: remove them from the "
                           "known-failures file)", lists["unexpected"], qualify=several)
        lines += P.listing("flaky (passed when run again; not a gate failure)", lists["flaky"],
                           qualify=several)
        lines += P.listing("expected failures (listed; pass the gate)", lists["expected"], 3,
                           qualify=several)
        status = _cli.OK if verdict["passed"] else _cli.FAILED
        gate_line = (f"GATE: {'PASSED' if verdict['passed'] else 'FAILED'} ("
                     + ", ".join([P.plural(len(lists["regressions"]), "regression", "regressions"),
                                  P.plural(len(lists["unexpected"]), "unexpected pass",
                                           "unexpected passes"),
                                  f"{len(lists['flaky'])} flaky",
                                  P.plural(len(lists["expected"]), "expected failure",
                                           "expected failures")]) + ")")
    else:
        gate_line = "GATE: BROKEN (the run's records could not be read)"
    lines += P.report_lines(args, reports)
    if reports.errors:
        status = _cli.BROKEN
    lines.append(f"{gate_line} exit {status}")
    P.print_summary(lines)
    return status


if __name__ == "__main__":
    sys.exit(main())
