"""Replay one saved case and print its verdict.

    python -m ci.replay CASE.json [--backend sim] [--backend-option KEY=VALUE ...]
                        [--spec-profile doc] [--judge mixed] [--case-timeout SECONDS]
    python -m ci.replay reports/out/cases.jsonl.gz --case-id ID [...]
    python -m ci.replay CASE.json --operator-home package.module [...]

Every failing case the suite finds is saved as JSON and its failure message prints this command;
any case of a run, passed or failed, replays from the run's cases.jsonl.gz (or an older run's
cases.jsonl) by its id. A case of an operator registered outside ops/ needs the module that
registers it (its record's `home`), which the suite's replay command names with --operator-home.
Exit status: 0 the case passed, 1 it failed, 2 bad input (a malformed case file, an unknown
backend, profile or judge), 3 the backend cannot express the case (not applicable).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import ops
from ci import _cli
from fixtures.backends import BackendError, BackendSpec, parse_options
from fixtures.runner import CaseResult, Worlds
from golden.judges import JUDGES
from reports.results import open_text, record_case
from spec.case import CaseFormatError
from spec.profiles import ProfileError

NOT_APPLICABLE = 3  # the backend cannot express the case: this command's own meaning of 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _cli.Parser(prog="python -m ci.replay", command="replay",
                    description=__doc__.splitlines()[0])
    p.add_argument("case", type=Path, help="a case JSON saved by the suite, or a run's "
                   "cases.jsonl.gz with --case-id")
    p.add_argument("--case-id", default=None, help="the case of this id in a cases file")
    p.add_argument("--backend", default="sim")
    p.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--spec-profile", default="doc")
    p.add_argument("--judge", default="mixed", choices=sorted(JUDGES))
    p.add_argument("--case-timeout", type=float, default=300.0)
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--operator-home", action="append", default=[], metavar="MODULE",
                   help="a module registering an operator defined outside ops/, imported before "
                        "the case is read (repeatable)")
    return p.parse_args(argv)


def verdict_lines(result: CaseResult) -> list[str]:
    case, exp = result.case, result.expectation
    lines = [
        f"case: {ops.of(case).title} {case.label()}",
        f"clause: {case.clause} ({case.side} side), stage {case.stage}, id {case.id}",
        f"expected: {exp.describe()}",
        f"verdict: {result.outcome.upper().replace('_', ' ')}",
    ]
    if result.reason:
        lines.append(f"reason: {result.reason}")
    for r in result.reports:
        lines.append(f"rank {r.rank}: first stage {r.status1}, workspace {r.workspace_size}, "
                     f"second stage {r.status2}")
    for f in result.findings:
        lines.append(f.line())
    for r in result.reports:
        for v in r.verdicts:
            lines.append(f"rank {r.rank} {v['clause']}: {v['standard']} "
                         f"{'passed' if v['passed'] else 'FAILED'}, matched {v['matched_ratio']:.4%},"
                         f" max abs error {v['max_abs_error']:.3g}")
    return lines


def read_case(path: Path, case_id: str | None) -> object:
    """The case (of whichever operator its schema names) of a case JSON file, or of the record
    `case_id` of a cases.jsonl(.gz)."""
    if case_id is None:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            raise CaseFormatError("a cases file holds many cases: name one with --case-id")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise CaseFormatError(f"not JSON: {err}") from err
        return ops.case_from_dict(data)
    try:
        with open_text(path) as f:
            for n, line in enumerate(f, 1):
                if f'"case_id": "{case_id}"' not in line:
                    continue
                try:
                    return ops.case_from_dict(record_case(json.loads(line)))
                except (json.JSONDecodeError, KeyError) as err:
                    raise CaseFormatError(f"line {n} is not a case record: {err!r}") from err
    except (OSError, EOFError, UnicodeDecodeError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise CaseFormatError(f"not a readable cases file ({err})") from None
    raise CaseFormatError(f"no case {case_id!r} in this file (ids are the case_id of its lines)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        for home in args.operator_home:
            importlib.import_module(home)
        case = read_case(args.case, args.case_id)
        profile = ops.of(case).profile(args.spec_profile)
        spec = BackendSpec.for_profile(args.backend, parse_options(args.backend_option), profile)
        worlds = Worlds(spec, args.case_timeout)
    except FileNotFoundError:
        return _cli.usage("replay", f"{args.case}: no such file")
    except ImportError as err:
        return _cli.usage("replay", f"--operator-home: cannot import {err.name!r} ({err})")
    except (CaseFormatError, ProfileError, BackendError) as err:
        return _cli.usage("replay", f"{args.case}: {err}")
    try:
        result = worlds.run(case, profile, args.judge)
    finally:
        worlds.close()
    if args.json:
        print(json.dumps({"outcome": result.outcome, "reason": result.reason,
                          "failed_clauses": result.failing_clauses(),
                          "told": [t.record() for t in result.told],
                          "findings": [f.__dict__ for f in result.findings]}, indent=1))
    else:
        print("\n".join(verdict_lines(result)))
    return {"passed": _cli.OK, "failed": _cli.FAILED}.get(result.outcome, NOT_APPLICABLE)


if __name__ == "__main__":
    raise SystemExit(main())
