"""Benchmark: the persistent rank pool against a fresh set of processes per case.

    python -m ci.bench_pool --cases 200 --ep 4 [--product 910_95] [--backend torch] [--min-ratio 20]

The same N valid cases (drawn deterministically from a seed) run twice: through one persistent
`fixtures.pool.ProcessWorld` (started once; its start-up is counted), and the way the vendor's
own test runs its ranks: for every case a fresh set of `spawn` processes that each call
`init_process_group`, run the case, `destroy_process_group` and exit, with results through a
queue. Prints both totals, the per-case times and their ratio; exits 1 when the pool is less than
`--min-ratio` times faster per case, or when a case does not pass on both paths.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import socket
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import ops
from fixtures.backends import BackendSpec
from fixtures.harness import RankPlan, RankReport, run_rank
from fixtures.pool import ProcessWorld
from fixtures.pool.comm import TorchComm
from fixtures.protocol import RankContext, capabilities
from fixtures.runner import plan_case, summarise
from spec.profiles import Profile
from strategies import intended
from strategies.choices import Seeded, Unreachable

T = TypeVar("T")


def valid_cases(count: int, product: str, ep: int, profile: Profile, seed: int = 0
                ) -> list[object]:
    """`count` distinct valid cases of `ep` ranks of the profile's operator (its first computed
    clause's valid worlds, strategies.choices.Seeded), the same for the same arguments."""
    op = profile.operator
    build = op.part("strategies").VALID[op.clauses_for(product, "numerics")[0].id]
    cases: list[object] = []
    attempt = 0
    while len(cases) < count:
        attempt += 1
        if attempt > 50 * count + 100:
            raise ValueError(f"no valid {product} world of ep={ep} could be drawn "
                             f"(check --product and --ep)")
        try:
            case = build(Seeded(seed * 1_000_003 + attempt), product, ep, profile)
        except Unreachable:
            continue
        if intended(case, profile) is None:
            cases.append(case)
    return cases


@dataclass
class Timing:
    name: str
    seconds: float
    cases: int
    failed: int

    @property
    def per_case(self) -> float:
        return self.seconds / max(1, self.cases)


def _plans(cases: list[object], spec: BackendSpec, profile: Profile) -> list[RankPlan]:
    caps = capabilities(spec.make())
    plans = []
    for case in cases:
        _, plan, why = plan_case(case, profile, caps, "mixed", True)
        if plan is None:
            raise ValueError(f"case {case.id} is not runnable: {why}")
        plans.append(plan)
    return plans


def run_pool(plans: list[RankPlan], spec: BackendSpec, ep: int, timeout: float) -> Timing:
    start = time.perf_counter()
    failed = 0
    with ProcessWorld(ep, spec, timeout, leaser=None) as world:
        for plan in plans:
            reports = world.run(plan)
            failed += not summarise(plan.case, plan.expectation, reports, plan, 0).passed
    return Timing("persistent pool", time.perf_counter() - start, len(plans), failed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_rank(rank: int, size: int, port: int, spec: dict, plan_json: str,
                results: mp.Queue) -> None:
    """One rank the vendor's way: init the process group, run, destroy, exit."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=size, timeout=timedelta(seconds=120))
    plan = RankPlan.from_json(plan_json)
    backend = BackendSpec(**spec).make()
    ctx = RankContext(rank, size, plan.case.product, TorchComm(rank, size), group_name="fresh")
    report = run_rank(plan, rank, backend, ctx)
    dist.destroy_process_group()
    results.put(report.to_dict())


def run_fresh(plans: list[RankPlan], spec: BackendSpec, ep: int) -> Timing:
    ctx = mp.get_context("spawn")
    start = time.perf_counter()
    failed = 0
    for plan in plans:
        results = ctx.Queue()
        port = _free_port()
        procs = [ctx.Process(target=_fresh_rank, args=(r, ep, port, dataclasses.asdict(spec),
                                                       plan.to_json(), results))
                 for r in range(ep)]
        for p in procs:
            p.start()
        reports = []
        for _ in range(ep):
            try:
                reports.append(RankReport.from_dict(results.get(timeout=300)))
            except Exception:
                break
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
                p.join()
        reports.sort(key=lambda r: r.rank)
        ok = len(reports) == ep and summarise(plan.case, plan.expectation, reports, plan, 0).passed
        failed += not ok
    return Timing("fresh processes per case", time.perf_counter() - start, len(plans), failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.bench_pool", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--ep", type=int, default=4)
    parser.add_argument("--operator", default=None,
                        help="the operator whose cases to run (default: the first registered)")
    parser.add_argument("--product", default="910_95")
    parser.add_argument("--profile", default="doc")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--min-ratio", type=float, default=20.0)
    args = parser.parse_args(argv)
    if args.cases < 1 or args.ep < 1:
        parser.error("--cases and --ep must be positive")
    try:
        profile = ops.select(args.operator)[0].profile(args.profile)
        spec = BackendSpec.for_profile(args.backend, {}, profile)
        plans = _plans(valid_cases(args.cases, args.product, args.ep, profile, args.seed),
                       spec, profile)
    except (ValueError, KeyError) as err:
        parser.error(str(err))
    print(f"{len(plans)} valid cases, product {args.product}, ep {args.ep}, backend {args.backend}",
          flush=True)
    pool = run_pool(plans, spec, args.ep, args.timeout)
    print(f"{pool.name}: {pool.seconds:.2f} s total, {pool.per_case * 1000:.1f} ms per case "
          f"(world start-up included), {pool.failed} failed", flush=True)
    fresh = run_fresh(plans, spec, args.ep)
    print(f"{fresh.name}: {fresh.seconds:.2f} s total, {fresh.per_case * 1000:.1f} ms per case, "
          f"{fresh.failed} failed", flush=True)
    ratio = fresh.per_case / pool.per_case
    print(f"ratio (fresh / pool, per case): {ratio:.1f}x (required: {args.min_ratio:g}x)")
    return verdict(pool, fresh, args.min_ratio)


def verdict(pool: Timing, fresh: Timing, min_ratio: float) -> int:
    """0 when both paths passed every case and the pool is fast enough, else 1."""
    if pool.failed or fresh.failed:
        print(f"FAIL: cases failed (pool {pool.failed}, fresh {fresh.failed})")
        return 1
    if fresh.per_case / pool.per_case < min_ratio:
        print("FAIL: the pool is not fast enough")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
