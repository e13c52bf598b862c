"""The two ways a mutation run judges the entries, seed by seed, each giving a `report.Run` per
entry (the package docstring says why they agree):

- `pytest`: one run of the tier per entry (`tier.py`), the mutants with their early stop, as
  many at once as `--jobs`.
- `replay`: the tier once on the reference sim, which must pass; its cases, each with its area,
  are then shared out in `--jobs` shares of about equal cost to worker processes
  (`replay_worker.py`), each running its share on every entry; the shares' verdicts merge into
  one Run per entry.

`run_all` runs every seed in the chosen mode in a scratch folder of its own.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from ci.mutation import REGRESSIONS, Entry, tier
from ci.mutation.replay_worker import replay_names
from ci.mutation.report import COLUMNS, Outcome, Run
from reports.results import cases_path, read_cases, record_case
from spec.operator import Operator

Progress = Callable[[Run], None]  # told of every Run as it is done


# -- mode pytest: one run per entry ---------------------------------------------------------


def pytest_entry(op: Operator, entry: Entry, seed: int, args: argparse.Namespace,
                 extra: list[str], work: Path) -> Run:
    """One tier run on one entry, read back from the plugin's records."""
    scratch = work / f"{entry.name}-seed{seed}"
    scratch.mkdir(parents=True)
    run = Run(entry, seed)
    start = time.perf_counter()
    cmd = tier.pytest_command(op, args, entry.target, seed, scratch, extra,
                              early_stop=entry.kind == "mutant", workers=0)
    _, run.broken = tier.run_pytest(cmd, args.timeout)
    run.seconds = time.perf_counter() - start
    records = tier.read_jsonl(scratch / "records.jsonl")
    for r in records:
        if r["outcome"] in ("passed", "failed"):
            run.ran[r["area"]] = run.ran.get(r["area"], 0) + 1
        if r["outcome"] == "failed":
            target = run.failures if r.get("finding") else run.unexplained
            target.append({"area": r["area"], "where": r["nodeid"],
                           "finding": tier.failure_text(r)})
    if run.broken is None and not records:
        run.broken = "the run left no records (no test selected?)"
    return run


def pytest_seed(op: Operator, entries: list[Entry], seed: int, args: argparse.Namespace,
                extra: list[str], work: Path, progress: Progress) -> list[Run]:
    """Every entry's tier run under one seed, `args.jobs` at a time."""
    runs = []
    todo = sorted(entries, key=lambda e: e.kind != "variant")  # the long runs first
    with ThreadPoolExecutor(args.jobs) as pool:
        for future in as_completed([pool.submit(pytest_entry, op, e, seed, args, extra, work)
                                    for e in todo]):
            runs.append(future.result())
            progress(runs[-1])
    return runs


# -- mode replay: the reference run's cases on every entry ----------------------------------


def regression_ids(op: Operator) -> set[str]:
    """The ids of the operator's saved regressions (ops/<name>/regressions): their area is
    REGRESSIONS."""
    return {op.case_type.from_json(p.read_text(encoding="utf-8")).id
            for p in op.regressions.glob("*.json")}


def reference_cases(op: Operator, seed: int, args: argparse.Namespace, extra: list[str],
                    work: Path) -> tuple[list[dict], float]:
    """Run the tier on the reference sim and return its cases ({"area", "case", "seconds"})."""
    scratch = work / f"reference-seed{seed}"
    scratch.mkdir(parents=True)
    start = time.perf_counter()
    cmd = tier.pytest_command(op, args, "sim", seed, scratch, extra, early_stop=False,
                              workers=args.jobs)
    code, broken = tier.run_pytest(cmd, args.timeout)
    if broken:
        raise RuntimeError(f"the reference run (sim, seed {seed}) broke: {broken}")
    if code != 0:
        failed = [f"{r['nodeid']} ({tier.failure_text(r)})"
                  for r in tier.read_jsonl(scratch / "records.jsonl") if r["outcome"] == "failed"]
        raise RuntimeError(f"the reference sim fails its own suite at seed {seed}: "
                           f"{', '.join(failed[:5]) or 'see pytest'}")
    saved = regression_ids(op)
    cases = []
    records = cases_path(scratch / "out")
    for rec in read_cases(records) if records.exists() else []:
        area = (REGRESSIONS if rec["case_id"] in saved
                else op.clause[rec["cell"]["clause"]].area)
        cases.append({"area": area, "case": record_case(rec), "seconds": rec["seconds"]})
    if not cases:
        raise RuntimeError(f"the reference run (seed {seed}) ran no case")
    return cases, time.perf_counter() - start


def shards(cases: list[dict], n: int) -> list[list[dict]]:
    """`n` shares of the cases of about equal cost (longest first, each to the lightest share),
    each in world-size order so that one world size's threads live at a time, the cheapest
    first within a size: a mutant skips an area once a case of it failed (replay_worker), so
    it meets the costly worlds only where no cheaper case killed it. Which entries an area
    kills does not depend on the order."""
    bins: list[list[dict]] = [[] for _ in range(n)]
    load = [0.0] * n
    for c in sorted(cases, key=lambda c: -c["seconds"]):
        i = load.index(min(load))
        bins[i].append(c)
        load[i] += c["seconds"] + 0.01
    return [sorted(b, key=lambda c: (c["case"]["ep"], c["seconds"])) for b in bins if b]


def replay_seed(op: Operator, entries: list[Entry], seed: int, args: argparse.Namespace,
                extra: list[str], work: Path, progress: Progress) -> list[Run]:
    """The reference run's cases of one seed on every entry, in `args.jobs` worker processes."""
    cases, ref_seconds = reference_cases(op, seed, args, extra, work)
    print(f"seed {seed}: reference run (sim) passed, {len(cases)} cases in {ref_seconds:.0f} s; "
          f"replaying them on {len(entries)} entries", flush=True)
    names = [e.name for e in entries]
    merged: dict[str, dict] = {n: {"ran": defaultdict(int), "proven": 0, "failures": [],
                                   "seconds": 0.0} for n in names}
    recorded = {"cases": 0, "seconds": 0.0}
    ctx = get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(replay_names, op.name, names, share, args.spec_profile, args.judge,
                               args.case_timeout, f"seed {seed} replay worker {i + 1}")
                   for i, share in enumerate(shards(cases, args.jobs))]
        for future in as_completed(futures):
            parts, share_recorded = future.result()
            for name, part in parts.items():
                m = merged[name]
                for area, n in part["ran"].items():
                    m["ran"][area] += n
                m["failures"] += part["failures"]
                m["seconds"] += part["seconds"]
                m["proven"] += part["proven"]
            for key in recorded:
                recorded[key] += share_recorded[key]
    runs_of_entries = sum(sum(m["ran"].values()) for m in merged.values())
    proven = sum(m["proven"] for m in merged.values())
    print(f"seed {seed}: {runs_of_entries} cases judged on the entries, {proven} of them proved "
          f"as the reference's run without running (ci/mutation/proof.py); the reference's "
          f"recorded runs: {recorded['cases']} cases, {recorded['seconds']:.0f} s", flush=True)
    runs = []
    for entry in entries:
        m = merged[entry.name]
        failures = sorted(m["failures"], key=lambda f: (COLUMNS.index(f["area"]), f["where"]))
        if entry.kind == "mutant":  # each shard may have found one: keep one per area
            failures = list({f["area"]: f for f in reversed(failures)}.values())[::-1]
        run = Run(entry, seed, dict(m["ran"]), failures, seconds=m["seconds"],
                  proven=m["proven"])
        progress(run)
        runs.append(run)
    return runs


def run_all(op: Operator, entries: list[Entry], seeds: list[int], args: argparse.Namespace,
            extra: list[str], progress: Progress) -> Outcome:
    """Every seed in `args.mode` for the operator's entries; a seed whose reference run breaks
    is recorded as broken."""
    runs: list[Run] = []
    wall: dict[int, float] = {}
    broken: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        for seed in seeds:
            start = time.perf_counter()
            if args.mode == "pytest":
                runs += pytest_seed(op, entries, seed, args, extra, work, progress)
            else:
                try:
                    runs += replay_seed(op, entries, seed, args, extra, work, progress)
                except RuntimeError as err:
                    broken.append(str(err))
                    print(f"seed {seed}: BROKEN: {err}", flush=True)
            wall[seed] = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Outcome(op, entries, seeds, runs, wall, broken)
