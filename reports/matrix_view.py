"""The compliance matrix as people read it: Markdown and a self-contained HTML page, one part per
operator, rendered from the matrix (reports/matrix.py builds it from a run's records), and the
three files written side by side.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from reports.matrix import FORMATS, STATES, operator_summary

LABEL = {"passed": "pass", "failed": "FAIL", "expected_failure": "xfail",
         "not_applicable": "n/a", "untested": "untested"}


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
        "`xfail N`: listed in the known-failures file). `n/a`: not applicable (or unreachable "
        "alone at that world size); `untested`: nothing exercised it, which is never a pass. "
        "`[invalid: …]` shows a side of the clause whose state differs.", "",
        "## Summary", "",
    ]
    out += [f"- {line}" for line in operator_summary(matrix)]
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


