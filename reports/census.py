"""How many computed cases of a run crossed each tile boundary of its operators' kernels.

    python -m reports.census reports/out [more output folders]

A PR run is meant to reach the tails of the kernel's tiles, not only to pass: this counts, over
the computed cases of the run's records (reports/results.py), those in each category an
operator's `census` part names (ops/alltoallv_gmm/tile_worlds.py: an expert group past the
largest M tile, an N1 or N2 tail past the base N tile, an H1 tail past a K pass, e >= 5, a rank
receiving more rows than a 16-bit index addresses), each against its required minimum. Exit 0
when every minimum holds, 1 when one does not, 2 when the records cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import ops
from reports.results import Results, ResultsError, load_many, record_case


def census(results: Results, operator: str) -> tuple[int, Counter]:
    """(computed cases, count per category) over `operator`'s case records of `results`, by
    the categories of its `census` part."""
    op = ops.get(operator, results.operator_run(operator).get("home"))
    part = op.part("census")
    counts: Counter = Counter()
    computed = 0
    for _, rec in results.all_cases():
        if not rec.get("computed") or rec["cell"]["operator"] != operator:
            continue
        computed += 1
        counts.update(part.categories(op.case_from_dict(record_case(rec))))
    return computed, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.census", description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", help="output folders of conformance runs")
    args = ap.parse_args(argv)
    try:
        results = load_many(args.folders)
        counted = {name: census(results, name) for name in results.operators
                   if "census" in ops.get(name, results.operator_run(name).get("home")).parts}
    except ResultsError as err:
        print(f"census: {err}", file=sys.stderr)
        return 2
    if not counted:
        print("census: no operator of these runs names tile categories", file=sys.stderr)
        return 2
    short = []
    for name, (computed, counts) in counted.items():
        part = ops.get(name).part("census")
        print(f"{name}: computed cases: {computed} (in {', '.join(args.folders)})")
        for key, words in part.describe().items():
            ok = counts[key] >= part.REQUIRED[key]
            print(f"  {'ok  ' if ok else 'LOW '} {counts[key]:6d} (required "
                  f"{part.REQUIRED[key]:3d}) with {words} [{key}]")
            if not ok:
                short.append(f"{name} {key}")
    print(f"RESULT: {'every minimum holds' if not short else 'below minimum: ' + ', '.join(short)}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
