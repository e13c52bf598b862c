"""Benchmark: what one case costs on the simulator, and where the time goes.

    python -m ci.bench_cases [--product 910_95] [--ep 4,8,64] [--cases 60] [--computed-cases 6]
                             [--spec-profile doc] [--max-first-stage-ms MS]

For first-stage-only cases (invalid calls the first stage rejects, from every area's builders)
and computed cases (valid calls run through both stages on real data), drawn deterministically
from seeds, it times each step the suite takes per case, outside pytest: draw (the builder and
the strategy's own check), expectation (the profile's verdict, computed once), plan, inputs
(materialise, digests), backend (the simulator's own calls: the limit), judge (guards, poison,
oracle), world (hand-offs and collectives: the rest of the world's wall time) and records (the
result and its JSON record). Inputs, backend and judge are CPU seconds of the rank threads,
summed over ranks. One line per (kind, ep), then the split:

    first stage, ep 8: 2.1 ms per case (backend 0.4 ms, harness 1.7 ms) over 60 cases; ...

The line ends with the process's CPU time per case from plan to record (draw and expectation
excluded): on a machine shared with other work, wall time includes waiting for a core and CPU
time does not.

Exit status 1 when `--max-first-stage-ms` is given and a first-stage line at ep 8 exceeds it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import ops
from ci import _cli
from fixtures.backends import BackendSpec
from fixtures.runner import Worlds, plan_case, summarise
from spec.expect import expect_case, forget_expectations
from spec.outcome import Cell
from spec.profiles import Profile
from strategies import intended
from strategies.choices import Seeded, Unreachable
from suites._conformance import case_record

PHASES = ("draw", "expectation", "plan", "inputs", "backend", "judge", "world", "records")
RANK_PHASES = ("inputs", "backend", "judge")


@dataclass
class Tally:
    """Seconds per phase summed over the cases of one (kind, ep)."""

    kind: str
    ep: int
    cases: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    cpu: float = 0.0  # the process's CPU seconds over the same steps (every thread)

    def ms(self, phase: str) -> float:
        return 1000 * self.seconds[phase] / max(1, self.cases)

    @property
    def total_ms(self) -> float:
        return sum(self.ms(p) for p in PHASES)

    def line(self) -> str:
        backend = self.ms("backend")
        return (f"{self.kind}, ep {self.ep}: {self.total_ms:.1f} ms per case (backend "
                f"{backend:.1f} ms, harness {self.total_ms - backend:.1f} ms) over {self.cases} "
                f"cases; {1000 * self.cpu / max(1, self.cases):.1f} ms of CPU")

    def split(self) -> str:
        return "  " + ", ".join(f"{p} {self.ms(p):.2f}" for p in PHASES) + " (ms per case)"


def _drawn(builders: dict, clause_ids: list[str], product: str, ep: int, profile: Profile,
           wanted, count: int) -> Iterator[tuple[object, float, float]]:
    """Up to `count` cases the strategies would accept and `wanted(case)` selects, each with
    the seconds of its draw (the builder and the strategy's check) and of its expectation (the
    strategy's check computes it, the runner's plan finds it remembered); round robin over the
    clauses."""
    found, seed, misses = 0, 0, 0
    while found < count and misses < 50 * max(1, len(clause_ids)):
        for cid in clause_ids:
            start = time.perf_counter()
            try:
                case = builders[cid](Seeded(seed), product, ep, profile)
            except Unreachable:
                misses += 1
                continue
            built = time.perf_counter()
            forget_expectations()
            expect_case(case, profile)
            expected = time.perf_counter()
            if intended(case, profile) is not None or not wanted(case):
                misses += 1
                continue
            yield case, (built - start) + (time.perf_counter() - expected), expected - built
            found += 1
            if found == count:
                return
        seed += 1


def measure(worlds: Worlds, profile: Profile, kind: str, product: str, ep: int, count: int,
            judge: str = "mixed") -> Tally:
    """Run `count` cases of `kind` ("first stage" or "computed") at `ep` ranks and tally them."""
    caps, two = worlds.capabilities, worlds.two_stage

    op = profile.operator
    part = op.part("strategies")

    def plan_of(case):
        return plan_case(case, profile, caps, judge, True, two)[1]

    if kind == "first stage":
        ids = [c.id for area in ("null", "params", "boundaries", "optional")
               for c in op.clauses_for(product, area) if c.has_invalid_side and c.id in part.INVALID]
        builders = part.INVALID

        def wanted(case) -> bool:
            plan = plan_of(case)
            return plan is not None and not plan.run_stage2
    else:
        ids = [c.id for c in op.clauses_for(product, "numerics") if c.id in part.VALID]
        builders = part.VALID

        def wanted(case) -> bool:
            plan = plan_of(case)
            return plan is not None and plan.data_mode

    world = worlds.world(ep)
    tally = Tally(kind, ep)
    warm = True
    for case, draw, expectation in _drawn(builders, ids, product, ep, profile, wanted, count + 1):
        s = dict.fromkeys(PHASES, 0.0)
        s["draw"], s["expectation"] = draw, expectation
        t0 = t1 = time.perf_counter()
        cpu0 = time.process_time()
        exp, plan, _ = plan_case(case, profile, caps, judge, True, two)
        t2 = time.perf_counter()
        reports = world.run(plan)
        t3 = time.perf_counter()
        result = summarise(case, exp, reports, plan, t3 - t1)
        cell = Cell(op.name, case.clause, case.side, product, ep, case.dtype)
        json.dumps(case_record(cell, result, t3 - t0))
        t4 = time.perf_counter()
        cpu = time.process_time() - cpu0
        s["plan"], s["records"] = t2 - t1, t4 - t3
        for phase in RANK_PHASES:
            s[phase] = sum(r.timings.get(phase, 0.0) for r in reports)
        s["world"] = max(0.0, (t3 - t2) - sum(s[p] for p in RANK_PHASES))
        if result.outcome != "passed":
            raise RuntimeError(f"the reference simulator did not pass case {case.id} "
                               f"({case.clause} {case.side}): {result.failing_clauses()}")
        if warm:  # the first case of a world size pays for its world: not a per-case cost
            warm = False
            continue
        tally.cases += 1
        tally.cpu += cpu
        for phase in PHASES:
            tally.seconds[phase] += s[phase]
    return tally


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _cli.Parser(prog="python -m ci.bench_cases", command="bench_cases",
                    description=__doc__.splitlines()[0])
    p.add_argument("--operator", default=None,
                   help="the operator whose cases to time (default: the first registered)")
    p.add_argument("--product", default="910_95", choices=("A3", "910_95"))
    p.add_argument("--ep", default="4,8,64", help="world sizes, comma-separated")
    p.add_argument("--cases", type=int, default=60, help="first-stage cases per world size")
    p.add_argument("--computed-cases", type=int, default=6, help="computed cases per world size")
    p.add_argument("--spec-profile", default="doc")
    p.add_argument("--max-first-stage-ms", type=float, default=None,
                   help="exit 1 when a first-stage case at ep 8 costs more than this")
    args = p.parse_args(argv)
    try:
        args.op = ops.select(args.operator)[0]
    except ValueError as err:
        p.error(str(err))
    try:
        args.eps = [int(x) for x in args.ep.split(",") if x]
    except ValueError:
        p.error(f"--ep: expected comma-separated integers, got {args.ep!r}")
    sizes = args.op.world_sizes(args.product)
    bad = [ep for ep in args.eps if ep not in sizes]
    if bad or not args.eps:
        p.error(f"--ep: {args.ep!r} is not a world size of {args.product}; accepted: "
                f"{', '.join(map(str, sizes))}")
    if args.cases < 1 or args.computed_cases < 0:
        p.error("--cases must be at least 1 and --computed-cases at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = args.op.profile(args.spec_profile)
    worlds = Worlds(BackendSpec.for_profile("sim", {}, profile))
    slow = []
    try:
        for ep in args.eps:
            for kind, count in (("first stage", args.cases), ("computed", args.computed_cases)):
                if count == 0:
                    continue
                tally = measure(worlds, profile, kind, args.product, ep, count)
                print(tally.line())
                print(tally.split(), flush=True)
                if (kind == "first stage" and ep == 8 and args.max_first_stage_ms is not None
                        and tally.total_ms > args.max_first_stage_ms):
                    slow.append(tally.line())
    finally:
        worlds.close()
    for line in slow:
        print(f"over --max-first-stage-ms {args.max_first_stage_ms:g}: {line}", file=sys.stderr)
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
