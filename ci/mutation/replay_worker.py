"""A worker process of the replay mode (modes.py): recorded cases run on many catalog entries.

Each worker gets a share of the reference run's cases and the names of every chosen entry, and
gives back, per entry, the cases judged per area, the failures and the seconds they took.

Cases go one at a time, each to every entry in turn, inside `spec.memo.remembering()`: a case's
inputs and oracle are computed once for all entries. Each entry keeps one world per world size,
made with the suite's own world for the sim and its variants (fixtures.world.TurnWorld: the
ranks take turns in one thread) and judged by the suite's own harness (fixtures.runner.plan_case,
summarise), so a verdict here is the verdict of the tier. Every world shares one turn thread; a
case that stops after the first stage runs its ranks one after the other (fixtures.world), here
in the worker's own thread.
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import ops
from ci.mutation import Entry, catalog, proof
from fixtures import protocol
from fixtures.backends import BackendSpec
from fixtures.runner import plan_case, summarise
from fixtures.world import TurnWorld
from spec import memo
from spec.profiles import Profile


class SharedPoolWorld(TurnWorld):
    """A TurnWorld whose turn thread is shared with the other entries' worlds (cases go one at a
    time, so one thread serves them all)."""

    def __init__(self, size: int, make_backend: Callable[[], object], pool: ThreadPoolExecutor,
                 timeout: float) -> None:
        self.size, self.timeout = size, timeout
        self.backends = [make_backend() for _ in range(size)]
        self.pool = pool
        self.group_name = f"sim_world_{size}"

    def close(self) -> None:
        """The pool is shared: the size's owner shuts it down."""


PROGRESS_EVERY = 300.0  # seconds between two progress lines of a worker
RECORDING = " reference, recorded"  # the world of the reference's recorded runs (no entry's name)


def replay(entries: list[Entry], cases: list[dict], profile: Profile, judge: str,
           timeout: float, label: str = "") -> tuple[dict[str, dict], dict[str, float]]:
    """Per entry: cases judged per area, how many of them were proved (`proof.py`), failures
    ({"area", "where", "finding", "case"}) and seconds; and the recorded reference runs' count
    and seconds. A mutant skips an area's later cases once the area failed it; a variant meets
    all. With a `label`, a line of progress every few minutes (a full replay takes a while)."""
    started = last = time.perf_counter()
    result = {e.name: {"ran": defaultdict(int), "proven": 0, "failures": [], "seconds": 0.0}
              for e in entries}
    recorded = {"cases": 0, "seconds": 0.0}
    killed: set[tuple[str, str]] = set()
    reference = BackendSpec.for_profile("sim", {}, profile)
    plain = reference.make()  # what an entry's backend is compared with
    recorder = proof.Recorder()
    pool: ThreadPoolExecutor | None = None
    worlds: dict[str, SharedPoolWorld] = {}
    differences: dict[str, proof.Difference | None] = {}
    size = None
    try:
        for done, item in enumerate(cases):
            if label and time.perf_counter() - last > PROGRESS_EVERY:
                last = time.perf_counter()
                print(f"{label}: {done}/{len(cases)} cases in {last - started:.0f} s", flush=True)
            case = ops.case_from_dict(item["case"])
            area = item["area"]
            if case.ep != size:
                if pool is not None:
                    pool.shutdown(wait=True)
                size, worlds = case.ep, {}
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replay-ep{size}")
                worlds[RECORDING] = SharedPoolWorld(
                    size, proof.make_recording(reference.make, recorder), pool, timeout)
            waiting = [e for e in entries if e.kind == "variant" or (e.name, area) not in killed]
            for entry in waiting:
                if entry.name not in worlds:
                    def make(e: Entry = entry):
                        return e.make(behavior=profile.name)

                    worlds[entry.name] = SharedPoolWorld(size, make, pool, timeout)
                    if entry.name not in differences:  # the same at every world size
                        differences[entry.name] = proof.Difference.of(
                            worlds[entry.name].backends, plain)
            with memo.remembering():
                reads = None
                if any(differences[e.name] is not None for e in waiting):
                    start = time.perf_counter()
                    reads = recorder.start()
                    if judge_case(worlds[RECORDING], case, profile, judge) is not None:
                        reads = None  # the reference's own run did not pass: nothing to prove
                    recorded["cases"] += 1
                    recorded["seconds"] += time.perf_counter() - start
                for entry in waiting:
                    record = result[entry.name]
                    record["ran"][area] += 1
                    difference = differences[entry.name]
                    if reads is not None and difference is not None and difference.proves(reads):
                        record["proven"] += 1
                        continue
                    start = time.perf_counter()
                    finding = judge_case(worlds[entry.name], case, profile, judge)
                    record["seconds"] += time.perf_counter() - start
                    if finding is not None:
                        record["failures"].append({"area": area, "where": f"case {case.id} "
                                                   f"({case.clause} {case.side}, {case.product} "
                                                   f"ep={case.ep})", "finding": finding,
                                                   "case": item["case"]})
                        killed.add((entry.name, area))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return {name: {**r, "ran": dict(r["ran"])} for name, r in result.items()}, recorded


def replay_names(operator: str, names: list[str], cases: list[dict], profile_name: str,
                 judge: str, timeout: float, label: str = ""
                 ) -> tuple[dict[str, dict], dict[str, float]]:
    """`replay` by operator and catalog names: what a worker process is handed
    (modes.replay_seed). A mutant's arithmetic on unwritten or stale memory (NaN) is what it is
    there for: numpy's warnings about it would only bury the progress lines (the tier's pytest
    runs capture them)."""
    warnings.simplefilter("ignore", RuntimeWarning)
    op = ops.get(operator)
    return replay([catalog(op).get(n) for n in names], cases, op.profile(profile_name), judge,
                  timeout, label)


def judge_case(world: SharedPoolWorld, case: object, profile, judge: str) -> str | None:
    """None when the entry passes the case, else the suite's first finding (as the failure
    message of the tier words it)."""
    probe = world.backends[0]
    exp, plan, why = plan_case(case, profile, protocol.capabilities(probe), judge, repeat=True,
                               two_stage=bool(getattr(probe, "two_stage", True)))
    if plan is None:
        return f"[{case.clause}] not applicable: {why}"
    start = time.perf_counter()
    # In this thread (no hand-off: fifty entries meet every case); None: it needs a world.
    reports = None if plan.run_stage2 else world.first_stage_alone(plan)
    if reports is None:
        reports = world.run(plan)
    result = summarise(case, exp, reports, plan, time.perf_counter() - start)
    if result.outcome == "passed":
        return None
    if result.outcome == "not_applicable":
        return f"[{case.clause}] not applicable: {result.reason}"
    f = result.findings[0]
    return f.line()[:300]
