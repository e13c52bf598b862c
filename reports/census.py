"""How many computed cases of a run crossed each tile boundary (strategies/tiles.categories).

    python -m reports.census reports/out [more output folders]

A PR run is meant to reach the tails of the kernel's tiles, not only to pass: this counts, over
the computed cases of the run's records (reports/results.py), those with an expert group past the
largest M tile, an N1 or N2 tail past the base N tile, an H1 tail past a K pass, e >= 5, and a
rank receiving more rows than a 16-bit index addresses, each against its required minimum. Exit
0 when every minimum holds, 1 when one does not, 2 when the records cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from reports.results import Results, ResultsError, load_many, record_case
from spec.case import Case
from spec.tiles import tiling
from strategies.tiles import categories

# The least number of computed cases a PR run must have in each category.
REQUIRED: dict[str, int] = {
    "group_rows>M_tile": 50,
    "N_tail": 50,
    "H1_K_tail": 50,
    "e>=5": 50,
    "rows>index_width": 1,
}


def describe() -> dict[str, str]:
    """Each category in words, with the current tiling's numbers."""
    t = tiling()
    return {
        "group_rows>M_tile": f"an expert group of more than {t.m.largest} rows",
        "N_tail": f"N1 or N2 above {t.n.tiles[1]} and not a multiple of it",
        "H1_K_tail": f"H1 above {t.k_block} and not a multiple of it",
        "e>=5": "e >= 5",
        "rows>index_width": f"a rank receiving more than {t.row_index_limit} rows",
    }


def census(results: Results) -> tuple[int, Counter]:
    """(computed cases, count per category) over every case record of `results`."""
    counts: Counter = Counter()
    computed = 0
    for _, rec in results.all_cases():
        if not rec.get("computed"):
            continue
        computed += 1
        counts.update(categories(Case.from_dict(record_case(rec))))
    return computed, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.census", description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", help="output folders of conformance runs")
    args = ap.parse_args(argv)
    try:
        computed, counts = census(load_many(args.folders))
    except ResultsError as err:
        print(f"census: {err}", file=sys.stderr)
        return 2
    print(f"computed cases: {computed} (in {', '.join(args.folders)})")
    short = []
    for name, words in describe().items():
        ok = counts[name] >= REQUIRED[name]
        print(f"  {'ok  ' if ok else 'LOW '} {counts[name]:6d} (required {REQUIRED[name]:3d}) "
              f"with {words} [{name}]")
        if not ok:
            short.append(name)
    print(f"RESULT: {'every minimum holds' if not short else 'below minimum: ' + ', '.join(short)}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
