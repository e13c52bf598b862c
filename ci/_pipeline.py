"""What the CI entry points share: their options, running pytest on the suites, building the
reports (compliance matrix, rendered Allure HTML) and the one-screen summary.

The entry points run pytest in a subprocess (the suite's own conftest validates every
conformance option, so a bad value fails there with its one line) and read back the records the
run wrote (reports/results.py), so every number in a summary comes from the run's data.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ci import _cli
from reports import matrix as M
from reports import matrix_view
from reports.allure import DEFAULT_CLAUSE_LINK
from reports.render import RenderError, render
from reports.results import Results, ResultsError, load
from reports.trim import pack, prune_containers
from spec.outcome import NOT_APPLICABLE, UNREACHABLE

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "reports" / "out"
DEFAULT_KNOWN_FAILURES = ROOT / "ci" / "known_failures.toml"

# Conformance options forwarded to pytest as they are (conftest.py validates them).
FORWARDED = {
    "--operator": "operator", "--backend": "backend", "--product": "product",
    "--spec-profile": "spec_profile",
    "--world-sizes": "world_sizes", "--judge": "judge", "--case-timeout": "case_timeout",
    "--memory-budget": "memory_budget", "-k": "keyword",
}
# Everything a run writes in its output folder, removed before a new run (nothing else is).
RUN_OUTPUTS = ("allure-results", "allure-results.zip", "html", "cases", "rerun", "screenshots",
               "cases.jsonl.gz", "cases.jsonl", "items.jsonl", "run.json", "junit.xml",
               "compliance.json", "compliance.md", "compliance.html", "gate.json")
# How the one line of a bad option of ci.pr or ci.nightly ends (ci._cli.Parser's hint).
HINT = "; see --help (pytest arguments go after --)"


def add_common_options(parser: argparse.ArgumentParser, hypothesis_profile: str,
                       history: Path | None = None) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT,
                   help="where the records and reports go (default: reports/out)")
    g.add_argument("--known-failures", "--expectations", dest="known_failures", type=Path,
                   default=None, help="TOML file of known failures (default: "
                   "ci/known_failures.toml); --expectations is its older name")
    g.add_argument("--workers", default="auto",
                   help="pytest-xdist workers: a number, 'auto', or 0 for none (default: auto)")
    g.add_argument("--hypothesis-profile", default=hypothesis_profile,
                   help=f"hypothesis profile (default: {hypothesis_profile})")
    g.add_argument("--history", type=Path, default=history,
                   help="Allure history file (JSON lines) to read and extend"
                        + (f" (default: {_rel(history)})" if history else " (default: none)"))
    g.add_argument("--no-html", action="store_true",
                   help="skip rendering the HTML report (the matrix is still built)")
    c = parser.add_argument_group("conformance options, passed to pytest (see conftest.py)")
    for flag, dest in FORWARDED.items():
        c.add_argument(flag, dest=dest, default=None)
    c.add_argument("--backend-option", dest="backend_option", action="append", default=[],
                   metavar="KEY=VALUE")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    own, extra = _cli.split_argv(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(own)
    args.pytest_args = extra
    workers = str(args.workers)
    if workers != "auto" and not (workers.isdigit()):
        parser.error(f"argument --workers: {workers!r} is not a number, 'auto' or 0")
    if args.known_failures is None:
        args.known_failures = DEFAULT_KNOWN_FAILURES if DEFAULT_KNOWN_FAILURES.exists() else None
    elif not args.known_failures.is_file():
        parser.error(f"argument --known-failures: {args.known_failures}: no such file; expected "
                     "a TOML file of [[expected_failure]] tables (see ci/known_failures.toml)")
    if args.history is not None and args.history.exists() and not args.history.is_file():
        parser.error(f"argument --history: {args.history} is not a file; expected a JSON-lines "
                     "history file (it is created if missing)")
    args.output_dir = args.output_dir.resolve()
    if args.history is not None:
        args.history = args.history.resolve()
    return args


def clean(out: Path) -> None:
    """Remove a previous run's outputs from `out` (only the names a run writes)."""
    for name in RUN_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def pytest_command(args: argparse.Namespace, out: Path, selection: list[str] | None = None,
                   junit: Path | None = None) -> list[str]:
    """The pytest command of a run into `out` (a re-run passes its node ids as `selection`)."""
    cmd = [sys.executable, "-m", "pytest", *(selection or ["suites"])]
    if str(args.workers) != "0":
        cmd += ["-n", str(args.workers)]
    cmd += ["-p", "no:cacheprovider", _cli.NO_ASSERT_REWRITING, "-q", "--output-dir", _arg(out),
            "--alluredir", _arg(args.output_dir / "allure-results"),
            "--allure-link-pattern", f"clause:{DEFAULT_CLAUSE_LINK}",
            "--junitxml", _arg(junit or out / "junit.xml"),
            "--hypothesis-profile", args.hypothesis_profile]
    if args.known_failures is not None:
        cmd += ["--known-failures", str(args.known_failures)]
    for flag, dest in FORWARDED.items():
        value = getattr(args, dest)
        if value is not None:
            cmd += [flag, str(value)]
    for option in args.backend_option:
        cmd += ["--backend-option", option]
    return cmd + list(args.pytest_args)


def _arg(path: Path) -> str:
    """A path for pytest (run in the checkout): relative inside it, so the replay commands in
    the reports read `python -m ci.replay reports/out/cases/...` from any clone."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_pytest(cmd: list[str]) -> int:
    print("+ " + " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


class Stop(Exception):
    """The tier did not run its tests; `status` is the tool's exit status (the reason printed)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def run_tier(args: argparse.Namespace, tool: str) -> tuple[Timer, int]:
    """A tier's pytest run into its cleaned output folder: the timer started before it and
    pytest's exit status, 0 or 1. Bad input (pytest's usage error or no test selected) and a
    broken run (interrupted, internal error) raise `Stop` with the tool's exit status."""
    timer = Timer()
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    clean(out)
    code = run_pytest(pytest_command(args, out))
    if code == _cli.PYTEST_USAGE:
        raise Stop(_cli.USAGE)  # pytest (conftest) printed the one line that says what is wrong
    if code == _cli.PYTEST_NO_TESTS:
        print(f"{tool}: no test was selected; check -k and the options", file=sys.stderr)
        raise Stop(_cli.USAGE)
    if code not in (0, 1):
        print(f"{tool}: pytest stopped with exit status {code} (interrupted or internal error)",
              file=sys.stderr)
        raise Stop(_cli.BROKEN)
    return timer, code


@dataclass
class Reports:
    """What the reports step made, and what went wrong (one line each)."""

    results: Results | None = None
    matrix: dict | None = None
    html: Path | None = None
    errors: list[str] = field(default_factory=list)


def report_name(results: Results | None, tier: str) -> str:
    """The HTML report's title: the operators the run tested (their C APIs) and the tier."""
    titles = [results.operator_run(n)["title"] for n in results.operators] if results else []
    return f"{', '.join(titles) or 'Operator'} conformance ({tier})"


def build_reports(args: argparse.Namespace, tier: str) -> Reports:
    """The matrix and the HTML report (titled by `report_name`) of the run in the output
    folder."""
    out = args.output_dir
    rep = Reports()
    try:
        rep.results = load(out)
        rep.matrix = M.build(rep.results)
        matrix_view.write(rep.matrix, out)
    except ResultsError as err:
        rep.errors.append(f"compliance matrix: {err}")
    if (out / "allure-results").is_dir():
        prune_containers(out / "allure-results")
    if not args.no_html:
        try:
            rep.html = render(out / "allure-results", out / "html", args.history,
                              report_name(rep.results, tier))
        except (RenderError, OSError, subprocess.SubprocessError) as err:
            rep.errors.append(f"HTML report: {err}")
    if rep.html is not None:
        try:
            pack(out / "allure-results")
        except OSError as err:
            rep.errors.append(f"packing allure-results: {err}")
    return rep


# --- the summary ---------------------------------------------------------------------------
WIDTH = 96


def _cell_label(item: dict, qualify: bool = False) -> str:
    """A test's cell in words; `qualify` names its operator (a run of several, whose clause ids
    may coincide)."""
    c = item["cell"]
    saved = f"regression {c['regression']}: " if c.get("regression") else ""
    of = f"{c['operator']} " if qualify else ""
    return f"{saved}{of}{c['clause']} ({c['side']}) {c['product']} ep={c['ep']} {c['dtype']}"


def _clip(text: str, width: int = WIDTH - 4) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def outcome_counts(results: Results) -> Counter:
    return Counter(item["outcome"] for item in results.items.values())


def run_line(results: Results, seconds: float) -> str:
    run = results.runs[0]
    return (f"run      --backend {run['backend']} · spec profile {run['spec_profile']} · "
            f"products {', '.join(run['products'])} · hypothesis "
            f"{run.get('hypothesis_profile')} · {seconds:.0f} s")


def operator_lines(results: Results) -> list[str]:
    """One line per operator: its contract version, its backend, its cases."""
    lines = []
    for name in results.operators:
        own = results.operator_run(name)
        records = [r for recs in results.cases.values() for r in recs
                   if r["cell"]["operator"] == name]
        n = Counter(r["outcome"] for r in records)
        lines.append(f"operator {own['title']}: spec profile {own['spec_profile']} "
                     f"({own['spec_profile_kind']}) · {own['backend_description']} · "
                     f"{len(records)} cases: {n['passed']} passed, {n['failed']} failed")
    return lines


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def tests_line(results: Results) -> str:
    n = outcome_counts(results)
    skipped_na = sum(1 for i in results.items.values() if i["outcome"] == "skipped"
                     and i.get("skip_kind") in (NOT_APPLICABLE, UNREACHABLE))
    parts = [f"{n['passed']} passed"]
    if n["skipped"]:
        parts.append(f"{n['skipped']} skipped ({skipped_na} not applicable)")
    for key, one, many in (("xfailed", "expected failure", "expected failures"),
                           ("xpassed", "unexpected pass", "unexpected passes"),
                           ("failed", "failed", "failed"), ("error", "error", "errors")):
        if n[key]:
            parts.append(plural(n[key], one, many))
    return f"tests    {sum(n.values())}: " + ", ".join(parts)


def cases_line(results: Results) -> str:
    records = [r for recs in results.cases.values() for r in recs]
    n = Counter(r["outcome"] for r in records)
    listed = sum(1 for item, r in results.all_cases()
                 if r["outcome"] == "failed" and item and item["outcome"] == "xfailed")
    computed = sum(1 for r in records if r.get("computed"))
    return (f"cases    {len(records)} run: {n['passed']} passed, {n['failed']} failed"
            + (f" ({listed} in expected failures)" if listed else "")
            + f"; outputs computed in {computed}, first stage only in {len(records) - computed}")


def listing(title: str, items: list[dict], limit: int = 5, qualify: bool = False) -> list[str]:
    """A titled list of tests and their reasons (`qualify`: with their operator's name, for a
    run of several operators)."""
    if not items:
        return []
    lines = [f"{title}:"]
    for item in items[:limit]:
        reason = item.get("reason") or item.get("first_reason") or ""
        lines.append("  " + _clip(f"{_cell_label(item, qualify)}: {reason}"))
    if len(items) > limit:
        lines.append(f"  ... and {len(items) - limit} more (see the reports)")
    return lines


def report_lines(args: argparse.Namespace, rep: Reports) -> list[str]:
    out = args.output_dir
    lines = []
    if rep.matrix is not None:
        for i, line in enumerate(M.summary_lines(rep.matrix)):
            lines.append(("matrix   " if i == 0 else "         ") + line)
    paths = [p for p in (rep.html, out / "compliance.html", out / "junit.xml") if p and p.exists()]
    lines.append("reports  " + " · ".join(_rel(p) for p in paths))
    if args.history is not None and args.history.exists():
        with args.history.open(encoding="utf-8") as f:
            runs = sum(1 for line in f if line.strip())
        lines.append(f"history  {_rel(args.history)} ({runs} run{'s' if runs != 1 else ''})")
    lines += [f"error    {e}" for e in rep.errors]
    return lines


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(title: str) -> str:
    return f" {title} ".center(WIDTH, "=")


def print_summary(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


class Timer:
    def __init__(self) -> None:
        self.start = time.time()

    @property
    def seconds(self) -> float:
        return time.time() - self.start
