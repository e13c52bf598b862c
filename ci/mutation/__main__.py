"""Measure the suite's power: the PR tier against every catalog entry, as a kill matrix.

    python -m ci.mutation [ENTRY|FAMILY ...] [--operator NAME[,NAME]] [--seeds 1,2,3]
                          [--mode replay|pytest] [--jobs N] [--product A3,910_95]
                          [--spec-profile doc] [--world-sizes ...] [--hypothesis-profile pr]
                          [--json FILE] [--quick] [--list] [-- PYTEST ARGS]

Every mutant of an operator's catalog (its `mutants` part, e.g. ops/alltoallv_gmm/mutants) must
fail the tier and every correct variant must pass it, in every seed; `--operator` chooses the
operators (default: every one with a catalog), each judged in turn. Seeds go to pytest as
`--hypothesis-seed`, which the suite turns into one seed per cell. The modes, `replay` (default)
and `pytest`, give the same verdicts (the package docstring says how). A line of progress per
entry and seed, then per operator the kill matrix and the verdict; the JSON (default
reports/out/mutation.json; with several operators, one file each, named after the operator)
keeps every kill's first finding and case.

Exit status: 0 every mutant killed and every variant passed in every seed; 1 a mutant survived
or a variant failed (a false alarm); 2 bad input (an unknown entry, a bad seed or option);
3 a run broke (the reference failed its own suite, pytest crashed, a run over its time limit).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ci import _cli
from ci.mutation import catalog, modes, plan, report, tier

DEFAULT_JSON = tier.ROOT / "reports" / "out" / "mutation.json"


def parser() -> _cli.Parser:
    """The command's options; the pytest arguments after `--` are not the parser's."""
    p = _cli.Parser(prog="python -m ci.mutation", command="ci.mutation",
                    description=__doc__.splitlines()[0],
                    epilog="Exit status: 0 all killed and no false alarm, 1 a survivor or a false "
                           "alarm, 2 bad input, 3 a run broke (the worst over the operators).")
    p.add_argument("names", nargs="*", metavar="ENTRY|FAMILY",
                   help="catalog entries (<module>.<name>) or families (routing, ...); "
                        "default: the whole catalog")
    p.add_argument("--operator", default=None, metavar="NAME[,NAME]",
                   help="the operators whose catalogs to run (default: every one with a catalog)")
    p.add_argument("--seeds", default="1,2,3", help="hypothesis seeds, comma-separated integers")
    p.add_argument("--mode", choices=("replay", "pytest"), default="replay",
                   help="replay the reference run's cases on every entry (default), or one "
                        "pytest run per entry")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes at once (default: one per CPU)")
    p.add_argument("--product", default="A3,910_95")
    p.add_argument("--spec-profile", default="doc")
    p.add_argument("--world-sizes", default=None)
    p.add_argument("--judge", default="mixed")
    p.add_argument("--hypothesis-profile", default="pr")
    p.add_argument("--case-timeout", type=float, default=180.0)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the JSON goes")
    p.add_argument("--timeout", type=float, default=5400.0,
                   help="seconds one pytest run may take before it counts as broken")
    p.add_argument("--quick", action="store_true",
                   help="each catalog's self-test subset: a few entries on one product and world "
                        "size, a keyword selection")
    p.add_argument("--list", action="store_true", help="print the catalog and exit")
    return p


def _progress(run: report.Run) -> None:
    if run.broken:
        verdict = f"BROKEN ({run.broken})"
    elif run.entry.kind == "mutant":
        kills = run.killed_areas()
        verdict = f"killed by {', '.join(kills)}" if kills else "SURVIVED"
    else:
        verdict = "FALSE ALARM" if run.failures or run.unexplained else "passed"
    proven = f", {run.proven} by proof" if run.proven else ""
    print(f"seed {run.seed} {run.entry.name}: {verdict} ({sum(run.ran.values())} judged{proven}, "
          f"{run.seconds:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    own, extra = _cli.split_argv(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(own)
        operators = plan.operators(args.operator)
        if args.list:
            for op in operators:
                for e in catalog(op).entries():
                    only = f" (spec profiles: {', '.join(e.profiles)})" if e.profiles else ""
                    print(f"{op.name:15} {e.kind:8} {e.name:45} {e.description}{only}")
            return _cli.OK
        planned = []
        for op in operators:  # each with options of its own: --quick sets the catalog's
            own_args = argparse.Namespace(**vars(args))
            entries, seeds, own_extra = plan.resolve(op, own_args, extra)
            items = plan.preflight(op, entries, seeds, own_args, own_extra)
            planned.append((op, own_args, entries, seeds, own_extra, items))
    except _cli.UsageFailure as err:
        return _cli.usage("ci.mutation", err)
    os.environ.update(tier.QUIET_BLAS)  # inherited by the replay processes
    status = _cli.OK
    for op, own_args, entries, seeds, own_extra, items in planned:
        print(f"ci.mutation: {op.title}, {len(entries)} entries x {len(seeds)} seeds, {items} "
              f"test items in the tier, mode {args.mode}", flush=True)
        out = modes.run_all(op, entries, seeds, own_args, own_extra, _progress)
        print("\n".join(report.summary_lines(out, own_args)))
        path = args.json if len(planned) == 1 else args.json.with_stem(f"{args.json.stem}-{op.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(out, own_args), indent=1) + "\n",
                        encoding="utf-8")
        print(f"json: {path}")
        status = max(status, out.status())
    return status


if __name__ == "__main__":
    sys.exit(main())
