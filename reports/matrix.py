"""The compliance matrix: every clause of each operator's contract by product and world size,
from a run's records, as JSON, Markdown and a self-contained HTML page.

    python -m reports.matrix RESULTS... [--output DIR] [--formats json,md,html]

RESULTS are conformance output folders (run.json, items.jsonl, cases.jsonl; several folders of
one spec profile are merged). Writes compliance.json, compliance.md and compliance.html into
--output (default: the first RESULTS folder) and prints one summary line per operator and
product. Each operator the runs tested has its own part, judged by its own profile.

How a cell (clause, product, world size) gets its state, per side of the clause (valid: calls
that keep the clause; invalid: calls that break it) and then for the cell:
- failed: a case that ran found the clause broken (a finding names it), or the clause's test
  failed before any case ran; a test listed in the known-failures file makes it an
  expected_failure instead;
- passed: at least one case told the clause held and none found it broken. Which sides of
  which clauses a case told about, and what, the runner decided when it ran it
  (`fixtures.runner.told`, the case record's `told`): a clause counts only where the case reached
  the stage that checks it (outputs only when computed, second-stage rules only when the second
  stage ran), and an invalid case whose status another clause decided tells about its own clause
  only when the profile expects the same of both, else that side is unreachable. This module
  only counts;
- not_applicable: every test of the clause there was skipped as not applicable (the profile
  leaves it undefined, the backend cannot express the call) or as unreachable (the clause cannot
  be broken alone at that world size: shown as "n/a (unreachable)");
- untested: nothing ran that exercised it. Never shown as passed.
The cell takes the first of failed, expected_failure, passed, not_applicable, untested that any
side has; the product column does the same over the product's cells. Notes flag what a state
hides: `flaky` (failed, then passed when run again), `unexpected_pass` (listed as an expected
failure but passed), `unreachable`.

JSON schema (reports/compliance.schema.json, "conformance-compliance/2"):
    {"schema", "generated" (ISO time), "states" (the five states, in precedence order),
     "operators": {OPERATOR (its registry name): PART}}
    PART = {
     "run": {"operator", "title" (its C API), "entry_points" ({entry: C function}),
             "spec_profile", "spec_profile_title", "spec_profile_kind", "entry", "comm_modes",
             "backends", "hypothesis_profiles", "judges", "sources", "items", "cases"},
     "clauses": {CLAUSE_ID: {"area", "area_title", "text", "source", "has_invalid_side",
                             "enforcement" (what the profile expects of a violation)}},
     "products": {PRODUCT: {
         "world_sizes" (the columns), "declared_world_sizes" (the product's own),
         "run_world_sizes" (what the run set out to test),
         "summary": {"cells": {STATE: n}, "clauses": {STATE: n}},
         "clauses": {CLAUSE_ID: {"state", "counts", "notes", "tested_world_sizes",
                                 "cells": {"<ep>": CELL}}}}}}
    CELL = {"state", "counts": {STATE: n (all but untested), "flaky": n,
                                 "unexpected_pass": n},
            "notes": [...], "sides": {"valid"|"invalid": {"state", "counts", "reasons": [...]}}}
Counts are cases (hypothesis examples) for passed, failed and expected_failure, and test items
(or cases decided by another clause) for not_applicable and for failures that left no case
record. A world-size key is missing from "cells" where the clause has no cell (an ep outside
the product's sizes that only the epWorldSize rule uses). Saved regression cases
(suites/regressions/) count at the cell of their case.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import ops
from reports.results import Results, ResultsError, load_many
from spec.operator import AREAS, Operator
from spec.outcome import BROKEN, NOT_APPLICABLE, UNREACHABLE
from spec.products import TITLES
from spec.profiles import Profile

SCHEMA = "conformance-compliance/2"
SCHEMA_FILE = Path(__file__).with_name("compliance.schema.json")
STATES = ("failed", "expected_failure", "passed", "not_applicable", "untested")
FORMATS = ("json", "md", "html")
MAX_REASONS = 3


@dataclass
class Tally:
    """What is known about one side of a clause in one cell."""

    counts: Counter = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    def add(self, state: str, reason: str = "", n: int = 1) -> None:
        self.counts[state] += n
        self.explain(reason)

    def explain(self, reason: str) -> None:
        if reason and reason not in self.reasons and len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)

    @property
    def state(self) -> str:
        return next((s for s in STATES[:-1] if self.counts[s]), "untested")


def tally(results: Results, profile: Profile) -> dict[tuple[str, str, int, str], Tally]:
    """(clause, product, ep, side) -> Tally, from every item and case record of the run of the
    profile's operator."""
    op = profile.operator
    out: dict[tuple[str, str, int, str], Tally] = defaultdict(Tally)
    for cid, item in results.items.items():
        cell = item["cell"]
        if cell["operator"] != op.name:
            continue
        key = (cell["clause"], cell["product"], int(cell["ep"]), cell["side"])
        t = out[key]
        outcome, reason = item["outcome"], item.get("reason", "")
        records = results.cases.get(cid, [])
        if item.get("flaky"):
            t.notes.add("flaky")
            t.counts["flaky"] += 1
            t.explain(f"flaky: the first run failed: {item.get('first_reason', '')}".strip())
        if outcome == "xpassed":
            t.notes.add("unexpected_pass")
            t.counts["unexpected_pass"] += 1
        if outcome == "skipped":
            kind = item.get("skip_kind")
            if kind in (NOT_APPLICABLE, UNREACHABLE):
                t.add("not_applicable", reason)
                if kind == UNREACHABLE:
                    t.notes.add("unreachable")
            else:
                t.explain(f"skipped: {reason}")
        elif outcome in ("failed", "error", "xfailed") and not any(
                t["verdict"] == BROKEN for r in records for t in r["told"]):
            # The test failed without a case naming a clause (an error before or around the
            # cases): the clause's own cell carries it.
            t.add("expected_failure" if outcome == "xfailed" else "failed",
                  reason or outcome)
    for item, rec in results.all_cases():
        cell = rec["cell"]
        if cell["operator"] != op.name:
            continue
        product, ep = cell["product"], int(cell["ep"])
        if rec["outcome"] == "passed" and cell["side"] == "invalid" and (
                cell["clause"] in profile.enforcement
                and len(profile.readings(cell["clause"], product)) > 1):
            t = out[(cell["clause"], product, ep, "invalid")]
            t.notes.add("ambiguous in the text")
            t.explain("ambiguous in the text; this backend gave "
                      + (rec.get("reading") or profile.enforces(cell["clause"], product)
                         .describe()))
        expected = item is not None and item["outcome"] == "xfailed"
        for told in rec["told"]:
            t = out[(told["clause"], product, ep, told["side"])]
            if told["verdict"] == UNREACHABLE:
                t.add("not_applicable", told["why"])
                t.notes.add("unreachable")
            elif told["verdict"] == BROKEN and expected:
                t.add("expected_failure", f"listed: {item.get('reason', '')}")
            elif told["verdict"] == BROKEN:
                t.add("failed", told.get("why", ""))
            else:
                t.add("passed")
    return out


def _merge(tallies: list[Tally]) -> Tally:
    merged = Tally()
    for t in tallies:
        merged.counts.update(t.counts)
        merged.notes |= t.notes
        for r in t.reasons:
            merged.explain(r)
    return merged


def _counts(t: Tally) -> dict[str, int]:
    keys = (*STATES[:-1], "flaky", "unexpected_pass")
    return {k: int(t.counts[k]) for k in keys}


def _enforcement_text(profile: Profile, cid: str) -> str:
    """What a violation gives, per product where the profile maps it per product."""
    per = profile.per_product(cid)
    if len(set(per.values())) == 1:
        return next(iter(per.values())).describe()
    return "; ".join(f"{product}: {e.describe()}" for product, e in per.items())


def build(results: Results) -> dict:
    """The matrix as a JSON-ready dict, one part per operator the runs tested (the schema is in
    the module doc)."""
    return {
        "schema": SCHEMA,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "states": list(STATES),
        "operators": {name: build_operator(results, ops.get(
            name, results.operator_run(name).get("home"))) for name in results.operators},
    }


def build_operator(results: Results, op: Operator) -> dict:
    """One operator's part of the matrix."""
    own = results.operator_run(op.name)
    profile = op.profile(own["spec_profile"])
    tallies = tally(results, profile)
    products: dict[str, dict] = {}
    used: set[str] = set()
    for product in results.products:
        if product not in op.products:
            continue
        declared = list(op.world_sizes(product))
        seen = sorted({ep for (c, p, ep, _s) in tallies if p == product})
        columns = sorted(set(declared) | set(seen))
        clauses: dict[str, dict] = {}
        cell_states: Counter = Counter()
        clause_states: Counter = Counter()
        for clause in op.clauses_for(product, entry=results.entry):
            used.add(clause.id)
            sides = ("valid", "invalid") if clause.has_invalid_side else ("valid",)
            cells: dict[str, dict] = {}
            for ep in columns:
                per_side = {s: tallies.get((clause.id, product, ep, s)) for s in sides}
                if ep not in declared and not any(per_side.values()):
                    continue  # not part of the grid: only the epWorldSize rule uses this ep
                per_side = {s: t or Tally() for s, t in per_side.items()}
                whole = _merge(list(per_side.values()))
                state = next((s for s in STATES[:-1] if any(
                    t.state == s for t in per_side.values())), "untested")
                cells[str(ep)] = {
                    "state": state, "counts": _counts(whole), "notes": sorted(whole.notes),
                    "sides": {s: {"state": t.state, "counts": _counts(t), "reasons": t.reasons}
                              for s, t in per_side.items()},
                }
                cell_states[state] += 1
            states = [c["state"] for c in cells.values()]
            whole = _merge([tallies[k] for k in tallies if k[0] == clause.id and k[1] == product])
            state = next((s for s in STATES if s in states), "untested")
            clause_states[state] += 1
            clauses[clause.id] = {
                "state": state, "counts": _counts(whole), "notes": sorted(whole.notes),
                "tested_world_sizes": [int(ep) for ep, c in cells.items()
                                       if c["state"] in ("passed", "failed", "expected_failure")],
                "cells": cells,
            }
        products[product] = {
            "title": TITLES.get(product, product),
            "world_sizes": columns, "declared_world_sizes": declared,
            "run_world_sizes": results.world_sizes(op.name, product),
            "summary": {"cells": {s: cell_states[s] for s in STATES},
                        "clauses": {s: clause_states[s] for s in STATES}},
            "clauses": clauses,
        }
    runs = [r for r in results.runs if op.name in r["operators"]]
    mine = [item for item in results.items.values() if item["cell"]["operator"] == op.name]
    return {
        "run": {
            "operator": op.name, "title": op.title,
            "spec_profile": profile.name, "spec_profile_title": profile.title,
            "spec_profile_kind": profile.kind, "entry": results.entry,
            "entry_points": dict(op.symbols),
            "comm_modes": sorted({r["comm_mode"] for r in runs if r.get("comm_mode")}),
            "backends": sorted({r["operators"][op.name]["backend_description"] for r in runs}),
            "hypothesis_profiles": sorted({r.get("hypothesis_profile", "?") for r in runs}),
            "judges": sorted({r.get("judge", "?") for r in runs}),
            "sources": results.sources,
            "items": len(mine),
            "cases": sum(len(results.cases.get(item["nodeid"], [])) for item in mine),
        },
        "clauses": {
            c.id: {"area": c.area, "area_title": AREAS[c.area].title, "text": c.text,
                   "source": c.source, "has_invalid_side": c.has_invalid_side,
                   "enforcement": _enforcement_text(profile, c.id)}
            for c in op.clauses if c.id in used
        },
        "products": products,
    }


# --- summaries ------------------------------------------------------------------------------
def summary_lines(matrix: dict) -> list[str]:
    """One line per operator and product: clauses by state, and cells by state."""
    lines = []
    for name, part in matrix["operators"].items():
        lines += [f"{name} {line}" for line in operator_summary(part)]
    return lines


def operator_summary(matrix: dict) -> list[str]:
    """One operator's part: a line per product."""
    lines = []
    for product, p in matrix["products"].items():
        c, k = p["summary"]["clauses"], p["summary"]["cells"]
        lines.append(
            f"{product}: {sum(c.values())} clauses: " + ", ".join(
                f"{c[s]} {s.replace('_', ' ')}" for s in STATES if c[s])
            + f"; {sum(k.values())} cells (clause x world size): " + ", ".join(
                f"{k[s]} {s.replace('_', ' ')}" for s in STATES if k[s]))
    return lines


def clauses_in_state(matrix: dict, state: str, product: str | None = None,
                     operator: str | None = None) -> set[str]:
    """Clause ids whose product-level state is `state` (in one product or any, of one operator
    or any)."""
    return {cid for op, part in matrix["operators"].items() if operator in (None, op)
            for name, p in part["products"].items() if product in (None, name)
            for cid, c in p["clauses"].items() if c["state"] == state}


def _formats(raw: str) -> tuple[str, ...]:
    names = tuple(f.strip() for f in raw.split(",") if f.strip())
    bad = [f for f in names if f not in FORMATS]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"unknown format {bad[0] if bad else '(none)'!r}; accepted: {', '.join(FORMATS)}")
    return names


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit status 2
        print(f"reports.matrix: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m reports.matrix", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="conformance output folder(s)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write compliance.* (default: the first results folder)")
    parser.add_argument("--formats", type=_formats, default=FORMATS,
                        help=f"comma-separated, from {', '.join(FORMATS)} (default: all)")
    args = parser.parse_args(argv)
    try:
        matrix = build(load_many(args.results))
    except ResultsError as err:
        print(f"reports.matrix: {err}", file=sys.stderr)
        return 2
    from reports.matrix_view import write

    paths = write(matrix, args.output or args.results[0], args.formats)
    for line in summary_lines(matrix):
        print(line)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
