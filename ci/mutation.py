"""Measure the suite's power: the PR tier against every catalog entry, as a kill matrix.

    python -m ci.mutation [ENTRY|FAMILY ...] [--seeds 1,2,3] [--mode replay|pytest] [--jobs N]
                          [--product A3,910_95] [--spec-profile doc] [--world-sizes ...]
                          [--hypothesis-profile pr] [--json FILE] [--quick] [--list]
                          [-- PYTEST ARGS]

Every mutant of `ci/mutants` must fail the tier and every correct variant must pass it, in every
seed. Seeds go to pytest as `--hypothesis-seed`, which the suite turns into one seed per cell.

Two ways to run, with the same verdicts:

- `replay` (default): per seed, the PR tier runs once, for real, on the reference simulator (it
  must pass), and every case it ran, with its cell, is then run on every entry. The cases a
  seeded tier draws do not depend on the backend (hypothesis draws from the seed alone, and no
  sim variant makes a case not applicable), so an entry meets exactly the cases the tier would
  give it; the tier stops a cell at its first failing case, which decides the same kill. Each
  case is materialised and its oracle computed once for all entries (`spec.memo`), and a
  mutant skips the rest of an area once that area has failed it.
- `pytest`: one pytest run of the tier per entry and seed (with `ci/_mutation_plugin.py`: a
  mutant's run stops each area at its first failure and does not shrink). Slower; the suite's
  own tests check that both modes agree.

Correct variants always meet every case, with no early stop. The matrix has one row per entry
and one column per area of the suite (spec.clauses.AREAS, then the saved regressions); a cell
counts the seeds in which that area failed the entry. The JSON (default
reports/out/mutation.json) keeps every kill's first finding and case.

Exit status: 0 every mutant killed and every variant passed in every seed; 1 a mutant survived
or a variant failed (a false alarm); 2 bad input (an unknown entry, a bad seed or option);
3 a run broke (the reference failed its own suite, pytest crashed, a run over its time limit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from ci import mutants as catalog
from ci._replay import replay_names
from ci.mutants import Entry
from reports.results import cases_path, read_cases, record_case
from spec.clauses import AREAS, CLAUSE

ROOT = Path(__file__).resolve().parents[1]
OK, FAILED, USAGE, BROKEN = 0, 1, 2, 3
DEFAULT_JSON = ROOT / "reports" / "out" / "mutation.json"
REGRESSIONS = "regressions"
COLUMNS = (*AREAS, REGRESSIONS)
SHORT = {"null": "null", "params": "param", "boundaries": "bound", "numerics": "numer",
         "optional": "optio", "products": "produ", "stages": "stage", "integrity": "integ",
         REGRESSIONS: "regre"}
# One BLAS thread per rank thread: a world of 16 rank threads each running a multi-threaded
# BLAS on 2 cores is many times slower (tox sets the same for the suite).
QUIET_BLAS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The subset the suite's own tests run (tests/test_mutation.py): one mutant per family, each
# caught at ep = 4 on 910_95, and every variant, on a selection that stays small.
QUICK_ENTRIES = ("routing.source_major_permute", "arithmetic.wrong_expert_weight",
                 "outputs.write_past_gmm_y", "validation.h1_accepts_65536",
                 "tiles.m_tail_from_previous_tile",
                 "nondeterminism.racy_split_k", "variants.float64_accumulation",
                 "variants.reversed_block_order", "variants.chunked_pipeline")
QUICK_OPTIONS = {"product": "910_95", "world_sizes": "4"}
QUICK_KEYWORD = "(float16 and (CALC or OUT or RANGE.H1)) or regression"


class UsageFailure(Exception):
    """Bad input: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageFailure(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ci.mutation", description=__doc__.splitlines()[0],
                epilog="Exit status: 0 all killed and no false alarm, 1 a survivor or a false "
                       "alarm, 2 bad input, 3 a run broke.")
    p.add_argument("names", nargs="*", metavar="ENTRY|FAMILY",
                   help="catalog entries (<module>.<name>) or families (routing, ...); "
                        "default: the whole catalog")
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
                   help=f"the self-test subset: {len(QUICK_ENTRIES)} entries on 910_95, ep 4, "
                        "a keyword selection")
    p.add_argument("--list", action="store_true", help="print the catalog and exit")
    return p


# -- what to run ----------------------------------------------------------------------------


def select(names: list[str]) -> list[Entry]:
    """Entries named, or of the families named, in catalog order; all when none is named."""
    if not names:
        return catalog.entries()
    chosen: dict[str, Entry] = {}
    for name in names:
        if name in catalog.FAMILIES:
            chosen.update({e.name: e for e in catalog.entries() if e.family == name})
        elif name in catalog.CATALOG:
            chosen[name] = catalog.CATALOG[name]
        else:
            raise UsageFailure(f"unknown catalog entry or family {name!r}; families: "
                               f"{', '.join(catalog.FAMILIES)} (--list shows every entry)")
    order = {e.name: i for i, e in enumerate(catalog.entries())}
    return sorted(chosen.values(), key=lambda e: order[e.name])


def parse_seeds(raw: str) -> list[int]:
    try:
        seeds = [int(s) for s in raw.split(",") if s.strip()]
    except ValueError:
        raise UsageFailure(f"--seeds {raw!r}: expected comma-separated integers, e.g. 1,2,3") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageFailure(f"--seeds {raw!r}: expected distinct non-negative integers, e.g. 1,2,3")
    return seeds


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

    def killed_areas(self) -> dict[str, str]:
        """Area -> the first finding with which it failed the entry."""
        out: dict[str, str] = {}
        for f in self.failures:
            out.setdefault(f["area"], f["finding"])
        return out

    @property
    def killed(self) -> bool:
        return bool(self.failures)


def _env() -> dict[str, str]:
    env = {**os.environ, **QUIET_BLAS, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def pytest_command(args: argparse.Namespace, backend: str, seed: int, scratch: Path,
                   extra: list[str], *, early_stop: bool, workers: int) -> list[str]:
    """The PR tier, seeded, on one backend, with the mutation plugin's record. A catalog entry
    honours the spec profile the way the sim does (`behavior`); the sim follows it by itself."""
    behavior = [] if backend == "sim" else ["--backend-option", f"behavior={args.spec_profile}"]
    cmd = [sys.executable, "-m", "pytest", "suites", "-p", "ci._mutation_plugin",
           "-p", "no:cacheprovider", "-q", "--no-header", "-rN", "--tb=short",
           "--backend", backend, *behavior, "--spec-profile", args.spec_profile,
           "--product", args.product,
           "--judge", args.judge, "--case-timeout", str(args.case_timeout),
           "--hypothesis-profile", args.hypothesis_profile, "--hypothesis-seed", str(seed),
           "--output-dir", str(scratch / "out"), "--mutation-record", str(scratch / "records.jsonl")]
    if args.world_sizes:
        cmd += ["--world-sizes", args.world_sizes]
    if early_stop:
        cmd += ["--mutation-stop-dir", str(scratch / "stop"), "--mutation-no-shrink"]
    cmd += ["-n", str(workers)] if workers > 0 else ["-p", "no:xdist"]
    return cmd + extra


def run_pytest(cmd: list[str], timeout: float) -> tuple[int | None, str | None]:
    """(exit status, why it broke or None)."""
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"over the {timeout:g} s time limit"
    if proc.returncode in (0, 1):
        return proc.returncode, None
    tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
    return proc.returncode, f"pytest exit status {proc.returncode}: {tail[0][:300]}"


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def failure_text(record: dict) -> str:
    """What a failed record says: the suite's finding, else the error line the plugin keeps for a
    failure without one (ci/_mutation_plugin.py writes one or the other)."""
    return record.get("finding") or record["error"]


# -- mode pytest: one run per entry ---------------------------------------------------------


def pytest_entry(entry: Entry, seed: int, args: argparse.Namespace, extra: list[str],
                 work: Path) -> Run:
    scratch = work / f"{entry.name}-seed{seed}"
    scratch.mkdir(parents=True)
    run = Run(entry, seed)
    start = time.perf_counter()
    cmd = pytest_command(args, entry.target, seed, scratch, extra,
                         early_stop=entry.kind == "mutant", workers=0)
    _, run.broken = run_pytest(cmd, args.timeout)
    run.seconds = time.perf_counter() - start
    records = read_jsonl(scratch / "records.jsonl")
    for r in records:
        if r["outcome"] in ("passed", "failed"):
            run.ran[r["area"]] = run.ran.get(r["area"], 0) + 1
        if r["outcome"] == "failed":
            target = run.failures if r.get("finding") else run.unexplained
            target.append({"area": r["area"], "where": r["nodeid"], "finding": failure_text(r)})
    if run.broken is None and not records:
        run.broken = "the run left no records (no test selected?)"
    return run


def pytest_seed(entries: list[Entry], seed: int, args: argparse.Namespace, extra: list[str],
                work: Path, progress) -> list[Run]:
    runs = []
    todo = sorted(entries, key=lambda e: e.kind != "variant")  # the long runs first
    with ThreadPoolExecutor(args.jobs) as pool:
        for future in as_completed([pool.submit(pytest_entry, e, seed, args, extra, work)
                                    for e in todo]):
            runs.append(future.result())
            progress(runs[-1])
    return runs


# -- mode replay: the reference run's cases on every entry ----------------------------------


def regression_ids() -> set[str]:
    from spec.case import Case

    folder = ROOT / "suites" / "regressions"
    return {Case.from_json(p.read_text(encoding="utf-8")).id for p in folder.glob("*.json")}


def reference_cases(seed: int, args: argparse.Namespace, extra: list[str], work: Path
                    ) -> tuple[list[dict], float]:
    """Run the tier on the reference sim and return its cases ({"area", "case", "seconds"})."""
    scratch = work / f"reference-seed{seed}"
    scratch.mkdir(parents=True)
    start = time.perf_counter()
    cmd = pytest_command(args, "sim", seed, scratch, extra, early_stop=False, workers=args.jobs)
    code, broken = run_pytest(cmd, args.timeout)
    if broken:
        raise RuntimeError(f"the reference run (sim, seed {seed}) broke: {broken}")
    if code != 0:
        failed = [f"{r['nodeid']} ({failure_text(r)})"
                  for r in read_jsonl(scratch / "records.jsonl") if r["outcome"] == "failed"]
        raise RuntimeError(f"the reference sim fails its own suite at seed {seed}: "
                           f"{', '.join(failed[:5]) or 'see pytest'}")
    saved = regression_ids()
    cases = []
    records = cases_path(scratch / "out")
    for rec in read_cases(records) if records.exists() else []:
        area = REGRESSIONS if rec["case_id"] in saved else CLAUSE[rec["cell"]["clause"]].area
        cases.append({"area": area, "case": record_case(rec), "seconds": rec["seconds"]})
    if not cases:
        raise RuntimeError(f"the reference run (seed {seed}) ran no case")
    return cases, time.perf_counter() - start


def shards(cases: list[dict], n: int) -> list[list[dict]]:
    """`n` shares of the cases of about equal cost (longest first, each to the lightest share),
    each in world-size order so that one world size's threads live at a time."""
    bins: list[list[dict]] = [[] for _ in range(n)]
    load = [0.0] * n
    for c in sorted(cases, key=lambda c: -c["seconds"]):
        i = load.index(min(load))
        bins[i].append(c)
        load[i] += c["seconds"] + 0.01
    return [sorted(b, key=lambda c: c["case"]["ep"]) for b in bins if b]


def replay_seed(entries: list[Entry], seed: int, args: argparse.Namespace, extra: list[str],
                work: Path, progress) -> list[Run]:
    cases, ref_seconds = reference_cases(seed, args, extra, work)
    print(f"seed {seed}: reference run (sim) passed, {len(cases)} cases in {ref_seconds:.0f} s; "
          f"replaying them on {len(entries)} entries", flush=True)
    names = [e.name for e in entries]
    merged: dict[str, dict] = {n: {"ran": defaultdict(int), "failures": [], "seconds": 0.0}
                               for n in names}
    ctx = get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(replay_names, names, share, args.spec_profile, args.judge,
                               args.case_timeout, f"seed {seed} replay worker {i + 1}")
                   for i, share in enumerate(shards(cases, args.jobs))]
        for future in as_completed(futures):
            for name, part in future.result().items():
                m = merged[name]
                for area, n in part["ran"].items():
                    m["ran"][area] += n
                m["failures"] += part["failures"]
                m["seconds"] += part["seconds"]
    runs = []
    for entry in entries:
        m = merged[entry.name]
        failures = sorted(m["failures"], key=lambda f: (COLUMNS.index(f["area"]), f["where"]))
        if entry.kind == "mutant":  # each shard may have found one: keep one per area
            failures = list({f["area"]: f for f in reversed(failures)}.values())[::-1]
        run = Run(entry, seed, dict(m["ran"]), failures, seconds=m["seconds"])
        progress(run)
        runs.append(run)
    return runs


# -- the report -----------------------------------------------------------------------------


@dataclass
class Outcome:
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
    width = max([len(e.name) for e in out.entries] + [5]) + 2
    head = "entry".ljust(width) + " ".join(SHORT[c] for c in COLUMNS) + "  seeds"
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
                cells.append(mark.center(len(SHORT[column])))
            bad = sum(bool(r.failures or (kind == "variant" and r.unexplained)) for r in runs)
            verdict = f"{bad}/{len(runs)} killed" if kind == "mutant" else (
                f"{bad}/{len(runs)} FAILED" if bad else f"0/{len(runs)} failed")
            lines.append(entry.name.ljust(width) + " ".join(cells) + f"  {verdict}")
    lines.append("'.': the area judged the entry and passed it; '-': no case of the area ran; "
                 "'!': a run broke")
    return lines


def summary_lines(out: Outcome, args: argparse.Namespace) -> list[str]:
    mutants = [e for e in out.entries if e.kind == "mutant"]
    variants = [e for e in out.entries if e.kind == "variant"]
    lines = ["", "=" * 30 + " mutation: the suite's power " + "=" * 30,
             f"{len(mutants)} mutants, {len(variants)} correct variants; seeds "
             f"{', '.join(map(str, out.seeds))}; mode {args.mode}; products {args.product}; "
             f"spec profile {args.spec_profile}; hypothesis profile {args.hypothesis_profile}"
             + (f"; world sizes {args.world_sizes}" if args.world_sizes else ""), ""]
    lines += matrix_lines(out)
    lines.append("")
    left_out = getattr(args, "left_out", [])
    if left_out:
        lines.append(f"left out under spec profile {args.spec_profile} (faults of another "
                     f"contract version only): {', '.join(left_out)}")
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
    return {
        "schema": "alltoallv-gmm-mutation/1",
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
                      "ran": r.ran, "killed": r.killed_areas(), "failures": r.failures[:50],
                      "unexplained": r.unexplained[:20]} for r in out.of(e)],
        } for e in out.entries],
    }


# -- main -----------------------------------------------------------------------------------


def plan(args: argparse.Namespace, extra: list[str]) -> tuple[list[Entry], list[int], list[str]]:
    if args.jobs < 1:
        raise UsageFailure("--jobs must be at least 1")
    seeds = parse_seeds(args.seeds)
    names = list(args.names)
    if args.quick:
        if args.names:
            raise UsageFailure("--quick runs its own subset; name no entries with it")
        names = list(QUICK_ENTRIES)
        args.product, args.world_sizes = QUICK_OPTIONS["product"], QUICK_OPTIONS["world_sizes"]
        extra = ["-k", QUICK_KEYWORD, *extra]
    chosen = select(names)
    args.left_out = [e.name for e in chosen if not e.applies(args.spec_profile)]
    chosen = [e for e in chosen if e.applies(args.spec_profile)]
    if not chosen:
        raise UsageFailure(f"no chosen entry is a fault under spec profile {args.spec_profile!r}")
    return chosen, seeds, extra


def preflight(entries: list[Entry], seeds: list[int], args: argparse.Namespace,
              extra: list[str]) -> int:
    """Collect once with the options every run gets: a bad option, profile or product fails
    here with the suite's own one line (exit 2) before any run starts; returns the item count."""
    with tempfile.TemporaryDirectory(prefix="mutation-preflight-") as tmp:
        cmd = pytest_command(args, entries[0].target, seeds[0], Path(tmp), extra,
                             early_stop=False, workers=0)
        proc = subprocess.run([*cmd, "--collect-only"], cwd=ROOT, capture_output=True, text=True,
                              env=_env())
    if proc.returncode == 4:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR:")]
        raise UsageFailure((errors[0] if errors else proc.stderr.strip().splitlines()[-1]
                            ).removeprefix("ERROR: "))
    if proc.returncode == 5:
        raise UsageFailure("no test item is selected by these options")
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise UsageFailure(f"collecting the suite failed: {tail[0]}")
    return sum("::" in line for line in proc.stdout.splitlines())


def run_all(entries: list[Entry], seeds: list[int], args: argparse.Namespace, extra: list[str],
            progress) -> Outcome:
    runs: list[Run] = []
    wall: dict[int, float] = {}
    broken: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        for seed in seeds:
            start = time.perf_counter()
            if args.mode == "pytest":
                runs += pytest_seed(entries, seed, args, extra, work, progress)
            else:
                try:
                    runs += replay_seed(entries, seed, args, extra, work, progress)
                except RuntimeError as err:
                    broken.append(str(err))
                    print(f"seed {seed}: BROKEN: {err}", flush=True)
            wall[seed] = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Outcome(entries, seeds, runs, wall, broken)


def _progress(run: Run) -> None:
    if run.broken:
        verdict = f"BROKEN ({run.broken})"
    elif run.entry.kind == "mutant":
        kills = run.killed_areas()
        verdict = f"killed by {', '.join(kills)}" if kills else "SURVIVED"
    else:
        verdict = "FALSE ALARM" if run.failures or run.unexplained else "passed"
    print(f"seed {run.seed} {run.entry.name}: {verdict} ({sum(run.ran.values())} judged, "
          f"{run.seconds:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (
        argv, [])
    try:
        args = parser().parse_args(ours)
        if args.list:
            for e in catalog.entries():
                only = f" (spec profiles: {', '.join(e.profiles)})" if e.profiles else ""
                print(f"{e.kind:8} {e.name:45} {e.description}{only}")
            return OK
        entries, seeds, extra = plan(args, extra)
        items = preflight(entries, seeds, args, extra)
    except UsageFailure as err:
        print(f"ci.mutation: {err}", file=sys.stderr)
        return USAGE
    os.environ.update(QUIET_BLAS)  # inherited by the replay processes
    print(f"ci.mutation: {len(entries)} entries x {len(seeds)} seeds, {items} test items in the "
          f"tier, mode {args.mode}", flush=True)
    out = run_all(entries, seeds, args, extra, _progress)
    print("\n".join(summary_lines(out, args)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(to_json(out, args), indent=1) + "\n", encoding="utf-8")
    print(f"json: {args.json}")
    return out.status()


if __name__ == "__main__":
    sys.exit(main())
