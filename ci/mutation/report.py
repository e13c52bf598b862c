"""What a mutation run found, and how it is told.

`Run` is one entry under one seed (what each area made of it), `Outcome` every run of one
operator's catalog with the exit status it earns (ci._cli: OK every mutant killed and every
variant passed in every seed, FAILED a survivor or a false alarm, BROKEN a run broke). The kill
matrix has one row per entry and one column per area of the suite (spec.operator.AREAS, then the
saved regressions); a cell counts the seeds in which that area failed the entry. The summary
adds the kill rate, survivors, false alarms and broken runs; the JSON keeps every kill's first
finding and case.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ci._cli import BROKEN, FAILED, OK
from ci.mutation import REGRESSIONS, Entry
from spec.operator import AREAS, Operator

COLUMNS = (*AREAS, REGRESSIONS)
HEADS = {**{name: area.short for name, area in AREAS.items()}, REGRESSIONS: "regre"}


@dataclass
class Run:
    """One entry under one seed: what each area made of it."""

    entry: Entry
    seed: int
    ran: dict[str, int] = field(default_factory=dict)  # area -> cases (or items) judged
    failures: list[dict] = field(default_factory=list)  # {"area", "where", "finding", "case"?}
    unexplained: list[dict] = field(default_factory=list)  # failures without a suite finding
    seconds: float = 0.0
    broken: str | None = None  # why the run itself broke (not a verdict on the entry)
    proven: int = 0  # of the cases judged, those proved as the reference's run (replay mode)

    def killed_areas(self) -> dict[str, str]:
        """Area -> the first finding with which it failed the entry."""
        out: dict[str, str] = {}
        for f in self.failures:
            out.setdefault(f["area"], f["finding"])
        return out

    @property
    def killed(self) -> bool:
        return bool(self.failures)


@dataclass
class Outcome:
    """Every run of one operator's catalog in a mutation run, and what they add up to."""

    operator: Operator
    entries: list[Entry]
    seeds: list[int]
    runs: list[Run]
    wall: dict[int, float]
    broken: list[str] = field(default_factory=list)  # runs that broke as a whole (a seed)

    def of(self, entry: Entry) -> list[Run]:
        return [r for r in self.runs if r.entry.name == entry.name]

    def survivors(self) -> list[tuple[Entry, int]]:
        return [(r.entry, r.seed) for r in self.runs if r.entry.kind == "mutant"
                and r.broken is None and not r.killed]

    def false_alarms(self) -> list[Run]:
        return [r for r in self.runs if r.entry.kind == "variant" and (r.failures or r.unexplained)]

    def broken_runs(self) -> list[Run]:
        return [r for r in self.runs if r.broken is not None]

    def status(self) -> int:
        if self.broken or self.broken_runs():
            return BROKEN
        return FAILED if self.survivors() or self.false_alarms() else OK

    def killed_everywhere(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "mutant" and self.of(e)
                and all(r.killed for r in self.of(e))]


def matrix_lines(out: Outcome) -> list[str]:
    """The kill matrix: entries by area, mutants first, then the correct variants."""
    width = max([len(e.name) for e in out.entries] + [5]) + 2
    head = "entry".ljust(width) + " ".join(HEADS[c] for c in COLUMNS) + "  seeds"
    lines = [head, "-" * len(head)]
    for kind, title in (("mutant", "mutants (a number: the seeds in which the area killed it):"),
                        ("variant", "correct variants (a number here is a false alarm):")):
        rows = [e for e in out.entries if e.kind == kind]
        if rows:
            lines.append(title)
        for entry in rows:
            runs = out.of(entry)
            cells = []
            for column in COLUMNS:
                if any(r.broken for r in runs):
                    mark = "!"
                else:
                    hits = sum(column in {f["area"] for f in r.failures + r.unexplained}
                               for r in runs)
                    ran = any(r.ran.get(column) for r in runs)
                    mark = str(hits) if hits else ("." if ran else "-")
                cells.append(mark.center(len(HEADS[column])))
            bad = sum(bool(r.failures or (kind == "variant" and r.unexplained)) for r in runs)
            verdict = f"{bad}/{len(runs)} killed" if kind == "mutant" else (
                f"{bad}/{len(runs)} FAILED" if bad else f"0/{len(runs)} failed")
            lines.append(entry.name.ljust(width) + " ".join(cells) + f"  {verdict}")
    lines.append("'.': the area judged the entry and passed it; '-': no case of the area ran; "
                 "'!': a run broke")
    return lines


def summary_lines(out: Outcome, args: argparse.Namespace) -> list[str]:
    """The end of the command's output: the options, the matrix, the verdict and why."""
    mutants = [e for e in out.entries if e.kind == "mutant"]
    variants = [e for e in out.entries if e.kind == "variant"]
    lines = ["", "=" * 30 + " mutation: the suite's power " + "=" * 30,
             f"{out.operator.title}: {len(mutants)} mutants, {len(variants)} correct variants; "
             f"seeds {', '.join(map(str, out.seeds))}; mode {args.mode}; products {args.product}; "
             f"spec profile {args.spec_profile}; hypothesis profile {args.hypothesis_profile}"
             + (f"; world sizes {args.world_sizes}" if args.world_sizes else ""), ""]
    lines += matrix_lines(out)
    lines.append("")
    left_out = getattr(args, "left_out", [])
    if left_out:
        lines.append(f"left out under spec profile {args.spec_profile} (faults of another "
                     f"contract version only): {', '.join(left_out)}")
    left_out_entry = getattr(args, "left_out_entry", [])
    if left_out_entry:
        lines.append("left out: no call of this tier's entry point can show them (run them with "
                     f"-- --entry v2): {', '.join(left_out_entry)}")
    if mutants:
        killed = out.killed_everywhere()
        lines.append(f"kill rate: {len(killed)}/{len(mutants)} mutants killed in every seed "
                     f"({100.0 * len(killed) / len(mutants):.1f} %)")
    for entry, seed in out.survivors():
        lines.append(f"SURVIVED: {entry.name} (seed {seed}): {entry.description}")
    alarms = out.false_alarms()
    lines.append(f"false alarms: {sum(len(r.failures) + len(r.unexplained) for r in alarms)}"
                 if alarms else "false alarms: none")
    for run in alarms:
        for f in run.failures + run.unexplained:
            lines.append(f"  FALSE ALARM {run.entry.name} seed {run.seed}: {f['where']}: "
                         f"{f['finding']}")
    for run in out.runs:
        if run.entry.kind == "mutant":
            for f in run.unexplained:
                lines.append(f"note: {run.entry.name} seed {run.seed}: {f['where']} failed "
                             f"without a finding of the suite: {f['finding']}")
    for run in out.broken_runs():
        lines.append(f"BROKEN: {run.entry.name} seed {run.seed}: {run.broken}")
    lines += [f"BROKEN: {why}" for why in out.broken]
    walls = ", ".join(f"seed {s} {_clock(t)}" for s, t in out.wall.items())
    lines.append(f"wall time: {walls}; total {_clock(sum(out.wall.values()))} "
                 f"({args.jobs} processes)")
    verdict = {OK: "PASSED", FAILED: "FAILED", BROKEN: "BROKEN"}[out.status()]
    lines.append(f"RESULT: {verdict} (exit {out.status()})")
    return lines


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s"


def to_json(out: Outcome, args: argparse.Namespace) -> dict:
    """The run as JSON (schema alltoallv-gmm-mutation/1): the verdict and every entry's runs."""
    return {
        "schema": "alltoallv-gmm-mutation/1",
        "operator": out.operator.name,
        "mode": args.mode,
        "seeds": out.seeds,
        "products": args.product,
        "spec_profile": args.spec_profile,
        "hypothesis_profile": args.hypothesis_profile,
        "world_sizes": args.world_sizes,
        "areas": list(COLUMNS),
        "wall_seconds": {str(s): round(t, 1) for s, t in out.wall.items()},
        "status": out.status(),
        "kill_rate": {"killed": len(out.killed_everywhere()),
                      "mutants": sum(e.kind == "mutant" for e in out.entries)},
        "survivors": [{"entry": e.name, "seed": s} for e, s in out.survivors()],
        "false_alarms": [{"entry": r.entry.name, "seed": r.seed, **f}
                         for r in out.false_alarms() for f in r.failures + r.unexplained],
        "broken": [*out.broken, *(f"{r.entry.name} seed {r.seed}: {r.broken}"
                                  for r in out.broken_runs())],
        "entries": [{
            "name": e.name, "kind": e.kind, "description": e.description, "backend": e.target,
            "runs": [{"seed": r.seed, "seconds": round(r.seconds, 1), "broken": r.broken,
                      "ran": r.ran, "proven": r.proven, "killed": r.killed_areas(),
                      "failures": r.failures[:50],
                      "unexplained": r.unexplained[:20]} for r in out.of(e)],
        } for e in out.entries],
    }
