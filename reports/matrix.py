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
  failed before any case ran; a test listed in the expectations file makes it an
  expected_failure instead;
- passed: at least one case exercised the clause and none found it broken. A clause is
  exercised by a case only when the case reached the stage that checks it: outputs (CALC.*,
  OUT.*) only when the case computed them, second-stage rules only when the second stage ran.
  An invalid case whose status another clause decided (its violation cannot happen alone at
  that world size, and the other clause is checked first) tells about its own clause too only
  when the profile expects the same status of both; otherwise that side is not_applicable
  (unreachable);
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
import html
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import ops
from reports.results import Results, ResultsError, load_many
from spec.operator import AREAS, Operator
from spec.outcome import NOT_APPLICABLE, UNREACHABLE
from spec.products import TITLES
from spec.profiles import Profile

SCHEMA = "conformance-compliance/2"
SCHEMA_FILE = Path(__file__).with_name("compliance.schema.json")
STATES = ("failed", "expected_failure", "passed", "not_applicable", "untested")
FORMATS = ("json", "md", "html")
LABEL = {"passed": "pass", "failed": "FAIL", "expected_failure": "xfail",
         "not_applicable": "n/a", "untested": "untested"}
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


def decided_elsewhere(record: dict) -> str | None:
    """The clause that decided an invalid case's status when it is not the clause the case was
    built to break (a violation of it that cannot happen alone, e.g. e*ep > 256 at ep=4 needs
    e > 32, and RANGE.e is checked first), else None."""
    cell, deciding = record["cell"], record.get("deciding_clause")
    if cell["side"] == "invalid" and deciding not in (None, cell["clause"]):
        return deciding
    return None


def stands_in(record: dict, profile: Profile) -> bool:
    """Whether an invalid case decided by another clause also tells about its own clause: only
    when the profile expects the same of a violation of either (then a right status is right,
    and a wrong one wrong, for both)."""
    other = decided_elsewhere(record)
    product = record["cell"]["product"]
    return other is None or (profile.enforces(other, product)
                             == profile.enforces(record["cell"]["clause"], product))


def exercises(record: dict, clause_id: str, profile: Profile) -> bool:
    """Whether a case record really checked the clause (see the module doc)."""
    if clause_id not in record["exercised"]:
        return False
    clause = profile.operator.clause.get(clause_id)
    if clause is None:
        return False
    if clause_id == record["cell"]["clause"] and not stands_in(record, profile):
        return False
    if clause.rule is None:  # CALC.*, OUT.*: judged on computed outputs only
        return bool(record.get("computed"))
    if clause.stage == 2:
        return record.get("stage") == "both" or record["cell"]["side"] == "invalid"
    return True


def _side(record: dict, clause_id: str) -> str:
    """The side of `clause_id` a case tells about: an invalid case tells about the invalid side
    of the clause it breaks and of the clause whose violation decides its status; every other
    clause it exercises held in that call (its valid side)."""
    cell = record["cell"]
    if cell["side"] == "invalid" and clause_id in (cell["clause"], record.get("deciding_clause")):
        return "invalid"
    return "valid"


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
                r["failed_clauses"] for r in records):
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
        failed = set(rec["failed_clauses"])
        other = decided_elsewhere(rec)
        if other is not None and not stands_in(rec, profile):
            t = out[(cell["clause"], product, ep, "invalid")]
            t.add("not_applicable", f"unreachable at ep={ep}: its violation also breaks "
                                    f"{other}, which is checked first and expects otherwise")
            t.notes.add("unreachable")
        elif other in failed:  # the same status expected of both: wrong for both
            failed.add(cell["clause"])
        for clause_id in failed:
            if clause_id not in op.clause:
                continue
            t = out[(clause_id, product, ep, _side(rec, clause_id))]
            message = next((f"{f['kind']}: {f['message'].splitlines()[0]}"
                            for f in rec.get("findings", []) if f["clause"] == clause_id), "")
            if expected:
                t.add("expected_failure", f"listed: {item.get('reason', '')}")
            else:
                t.add("failed", message)
        for clause_id in rec["exercised"]:
            if clause_id not in failed and exercises(rec, clause_id, profile):
                out[(clause_id, product, ep, _side(rec, clause_id))].add("passed")
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
        lines += [f"{name} {line}" for line in _summary_lines(part)]
    return lines


def _summary_lines(matrix: dict) -> list[str]:
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


# --- Markdown ------------------------------------------------------------------------------
def _cell_text(cell: dict | None, plain: bool = True) -> str:
    if cell is None:
        return ""
    state, counts = cell["state"], cell["counts"]
    text = LABEL[state]
    if state == "failed":
        text = f"**FAIL** {counts['failed']}" if plain else f"FAIL {counts['failed']}"
    elif state in ("passed", "expected_failure"):
        text += f" {counts[state]}"
    if "unreachable" in cell["notes"] and state == "not_applicable":
        text += " (unreachable)"
    for note in ("flaky", "unexpected_pass"):
        if note in cell["notes"]:
            text += f" ({note.replace('_', ' ')})"
    sides = cell.get("sides", {})
    if len(sides) == 2 and sides["valid"]["state"] != sides["invalid"]["state"]:
        odd = [s for s in ("valid", "invalid") if sides[s]["state"] != state]
        if odd:
            text += f" [{odd[0]}: {LABEL[sides[odd[0]]['state']]}]"
    return text


def _product_text(row: dict, declared: list[int], plain: bool = True) -> str:
    """A clause's product-level text; a pass tested at only some world sizes says at how many."""
    text = _cell_text(row, plain)
    tested = [ep for ep in row["tested_world_sizes"] if ep in declared]
    if row["state"] == "passed" and len(tested) < len(declared):
        text += f" ({len(tested)}/{len(declared)} ep)"
    return text


def tested_version(run: dict) -> str:
    """Which contract version and entry point the run tested, in one phrase."""
    kind = {"published": "the published text", "shipped": "the shipped code"}.get(
        run.get("spec_profile_kind", ""), "a contract version")
    entry = run.get("entry", "v1")
    function = run.get("entry_points", {}).get(entry, entry)
    call = (f"{function}, commMode " + ", ".join(run.get("comm_modes", []))
            if entry != "v1" else f"{function} (V1)")
    return f"Tested: {run['spec_profile']} ({kind}), entry {call}"


def to_markdown(matrix: dict) -> str:
    """Every operator's part, one after the other."""
    return "\n".join(_operator_markdown(part, matrix["generated"])
                     for part in matrix["operators"].values())


def _operator_markdown(matrix: dict, generated: str) -> str:
    """One operator's part (`generated`: when the whole matrix was built)."""
    run = matrix["run"]
    out = [
        f"# Compliance matrix of {run['title']}: spec profile `{run['spec_profile']}`", "",
        f"{run['spec_profile_title']}. {tested_version(run)}. "
        f"Backend: {'; '.join(run['backends'])}. "
        f"Hypothesis profile: {', '.join(run['hypothesis_profiles'])}. "
        f"{run['items']} tests, {run['cases']} cases. Generated {generated}.", "",
        "A cell counts the cases that exercised the clause there (`pass N`, `FAIL N`, "
        "`xfail N`: listed in the expectations file). `n/a`: not applicable (or unreachable "
        "alone at that world size); `untested`: nothing exercised it, which is never a pass. "
        "`[invalid: …]` shows a side of the clause whose state differs.", "",
        "## Summary", "",
    ]
    out += [f"- {line}" for line in _summary_lines(matrix)]
    for product, p in matrix["products"].items():
        cols = p["world_sizes"]
        out += ["", f"## {product}: {p['title']}", ""]
        if p["run_world_sizes"] != p["declared_world_sizes"]:
            out += [f"This run set out to test ep in {p['run_world_sizes'] or '(none)'}; the "
                    f"product supports {p['declared_world_sizes']}.", ""]
        head = ["clause", "area", *[f"ep={ep}" for ep in cols], product]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for cid, c in p["clauses"].items():
            row = [f"[{cid}](#{_anchor(run['operator'], cid)})", matrix["clauses"][cid]["area"]]
            row += [_cell_text(c["cells"].get(str(ep))) for ep in cols]
            row.append(_product_text(c, p["declared_world_sizes"]))
            out.append("| " + " | ".join(row) + " |")
    problems = [(product, cid, ep, cell) for product, p in matrix["products"].items()
                for cid, c in p["clauses"].items() for ep, cell in c["cells"].items()
                if cell["state"] in ("failed", "expected_failure") or cell["notes"]]
    if problems:
        out += ["", "## Failures and notes", ""]
        for product, cid, ep, cell in problems:
            reasons = [r for s in cell["sides"].values() for r in s["reasons"]]
            out.append(f"- {product} ep={ep} {cid}: {_cell_text(cell, plain=False)}"
                       + (f": {reasons[0]}" if reasons else ""))
    out += ["", "## Clauses", ""]
    for cid, c in matrix["clauses"].items():
        out.append(f"- <a id=\"{_anchor(run['operator'], cid)}\"></a>**{cid}** "
                   f"({c['area_title']}): {c['text']} "
                   f"(source: {c['source']}; {run['spec_profile']}: {c['enforcement']})")
    return "\n".join(out) + "\n"


def _anchor(operator: str, clause_id: str) -> str:
    """A clause's anchor on the page (the Allure report links each test's clause there)."""
    return f"{operator}.{clause_id}"


# --- HTML ----------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1d1d1f}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 6px;
text-align:center;white-space:nowrap}td.cid,th.cid{text-align:left}td.area{color:#666}
.passed{background:#d9f2d9}.failed{background:#f7c6c6;font-weight:bold}
.expected_failure{background:#fde7b0}.not_applicable{background:#e8e8e8;color:#555}
.untested{background:#fff;color:#999}.note{color:#a15c00}.sum td{text-align:right}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border:1px solid #ccc}
dl.clauses dt{font-weight:bold;margin-top:.6em}dl.clauses dd{margin-left:1.5em}
:target{outline:3px solid #3b82f6}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _td(cell: dict | None, extra: str = "", text: str | None = None) -> str:
    if cell is None:
        return "<td></td>"
    tip = []
    for side, s in cell.get("sides", {}).items():
        tip.append(f"{side} side: {s['state'].replace('_', ' ')}"
                   + "".join(f"\n  {r}" for r in s["reasons"]))
    title = f' title="{_e(chr(10).join(tip))}"' if tip else ""
    text = _cell_text(cell, plain=False) if text is None else text
    return f'<td class="{cell["state"]}{extra}"{title}>{_e(text)}</td>'


def to_html(matrix: dict) -> str:
    """One page: every operator's part, one after the other."""
    names = ", ".join(part["run"]["title"] for part in matrix["operators"].values())
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>Compliance matrix: {_e(names)}</title>",
                      f"<style>{_CSS}</style></head><body>",
                      *(_operator_html(part, matrix["generated"])
                        for part in matrix["operators"].values()),
                      "</body></html>"]) + "\n"


def _operator_html(matrix: dict, generated: str) -> str:
    """One operator's part (`generated`: when the whole matrix was built)."""
    run = matrix["run"]
    parts = [
        f"<h1>Compliance matrix of {_e(run['title'])}: spec profile "
        f"<code>{_e(run['spec_profile'])}</code></h1>",
        f"<p>{_e(run['spec_profile_title'])}. {_e(tested_version(run))}. "
        f"Backend: {_e('; '.join(run['backends']))}. "
        f"Hypothesis profile: {_e(', '.join(run['hypothesis_profiles']))}. {run['items']} tests, "
        f"{run['cases']} cases. Generated {_e(generated)}.</p>",
        '<p class="legend">' + "".join(f'<span class="{s}">{_e(s.replace("_", " "))}</span>'
                                       for s in STATES) + "</p>",
        "<p>A cell counts the cases that exercised the clause there; hover a cell for its "
        "sides and reasons. <i>untested</i>: nothing exercised it, which is never a pass.</p>",
        f'<h2 id="{_e(run["operator"])}-summary">Summary</h2><table class="sum"><tr>'
        '<th>product</th><th>of</th>'
        + "".join(f'<th class="{s}">{_e(s.replace("_", " "))}</th>' for s in STATES)
        + "</tr>",
    ]
    for product, p in matrix["products"].items():
        for what in ("clauses", "cells"):
            counts = p["summary"][what]
            parts.append(f"<tr><th>{_e(product)}</th><td>{sum(counts.values())} {what}</td>"
                         + "".join(f"<td>{counts[s]}</td>" for s in STATES) + "</tr>")
    parts.append("</table>")
    for product, p in matrix["products"].items():
        cols = p["world_sizes"]
        parts.append(f'<h2 id="{_e(run["operator"])}-product-{_e(product)}">{_e(product)}: '
                     f'{_e(p["title"])}</h2>')
        if p["run_world_sizes"] != p["declared_world_sizes"]:
            parts.append(f"<p>This run set out to test ep in {_e(p['run_world_sizes'])}; the "
                         f"product supports {_e(p['declared_world_sizes'])}.</p>")
        parts.append('<table><tr><th class="cid">clause</th><th>area</th>'
                     + "".join(f"<th>ep={ep}</th>" for ep in cols)
                     + f"<th>{_e(product)}</th></tr>")
        for cid, c in p["clauses"].items():
            parts.append(f'<tr id="{_e(run["operator"])}:{_e(product)}:{_e(cid)}"><td class="cid">'
                         f'<a href="#{_e(_anchor(run["operator"], cid))}">{_e(cid)}</a></td>'
                         f'<td class="area">{_e(matrix["clauses"][cid]["area"])}</td>'
                         + "".join(_td(c["cells"].get(str(ep))) for ep in cols)
                         + _td({**c, "sides": {}}, text=_product_text(
                             c, p["declared_world_sizes"], plain=False)) + "</tr>")
        parts.append("</table>")
    parts.append(f'<h2 id="{_e(run["operator"])}-clauses">Clauses</h2><dl class="clauses">')
    for cid, c in matrix["clauses"].items():
        states = "; ".join(
            f'<a href="#{_e(run["operator"])}:{_e(product)}:{_e(cid)}">{_e(product)}</a>: '
            f"{_e(_product_text(p['clauses'][cid], p['declared_world_sizes'], plain=False))}"
            for product, p in matrix["products"].items() if cid in p["clauses"])
        parts.append(f'<dt id="{_e(_anchor(run["operator"], cid))}">{_e(cid)} <span class="area">'
                     f"({_e(c['area_title'])})</span></dt><dd>{_e(c['text'])}<br>"
                     f"source: {_e(c['source'])}; {_e(run['spec_profile'])}: "
                     f"{_e(c['enforcement'])}<br>{states}</dd>")
    parts.append("</dl>")
    return "\n".join(parts)


def write(matrix: dict, folder: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write compliance.{json,md,html} into `folder`; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    render = {"json": lambda m: json.dumps(m, indent=1, ensure_ascii=False) + "\n",
              "md": to_markdown, "html": to_html}
    paths = []
    for fmt in formats:
        path = folder / f"compliance.{fmt}"
        path.write_text(render[fmt](matrix), encoding="utf-8")
        paths.append(path)
    return paths


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
    paths = write(matrix, args.output or args.results[0], args.formats)
    for line in summary_lines(matrix):
        print(line)
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
