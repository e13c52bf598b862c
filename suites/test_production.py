"""Production worlds (an operator's `production` part, e.g. ops/alltoallv_gmm/production.py): the
shapes real MoE models call the operator with.

`pytest suites --production NAME[,NAME|all]` adds one item per (operator, world, product, dtype)
where the world's ep is a world size of the product. On a hardware backend a world runs at full size; on
a backend whose ranks share this host (the simulator) tokens per rank are scaled down until the
world fits the memory budget and the tier's compute budget below, and the item's record and its skip
or pass line say what was scaled and why. Outputs past the float64 oracle's reach are judged by
the linear judge (golden/linear.py). Without --production the module adds no item.
"""

from __future__ import annotations

import time

import pytest

from fixtures.runner import Worlds
from spec.expect import expect_case
from strategies import tier as tiers
from strategies import world_bytes
from suites._conformance import OPTIONS, Cell, case_record

# Multiply-adds of every rank's products together that a host-side backend may spend on one
# world, per tier (the nightly tier spends more).
SIM_MACS = {"pr": 1 << 33, "nightly": 1 << 36}
MIN_TOKENS = 8  # below this a world is skipped rather than scaled further
HOST_TIMEOUT = 1800.0  # seconds a world of host-side ranks may take: its weights are full size


@pytest.fixture(scope="module")
def production_worlds(conformance):
    """Where production worlds run, per operator: on a host-side backend a world of its own with
    a timeout for full-size weights; on hardware the session's pool (raise --case-timeout there:
    a second pool would contend for the same devices)."""
    opts = conformance.opts
    if not opts.in_process:
        yield conformance.worlds
        return
    worlds = {name: Worlds(run.backend, max(opts.case_timeout, HOST_TIMEOUT))
              for name, run in opts.runs.items()}
    yield worlds
    for w in worlds.values():
        w.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "production_item" not in metafunc.fixturenames:
        return
    raw = metafunc.config.getoption("production")
    items = []
    if raw:
        opts = metafunc.config.stash[OPTIONS]
        for run in opts.runs.values():
            op = run.operator
            if "production" not in op.parts:
                continue
            part = op.part("production")
            try:
                chosen = part.names(raw)
            except ValueError:
                continue  # conftest has checked that some operator knows the names
            for name in chosen:
                world = part.WORLDS[name]
                for product in opts.products:
                    if product not in op.products or world.ep not in op.world_sizes(product):
                        continue
                    items += [(op.name, name, product, dtype) for dtype in world.dtypes]
    metafunc.parametrize("production_item", items, ids=["-".join(i) for i in items])


def host_macs(case) -> int:
    """Multiply-adds of every rank's grouped and shared products."""
    total = 0
    for r in range(case.ep):
        total += case.a(r) * case.h1 * case.n1
        if case.shared is not None:
            total += case.shared.bs[r] * case.shared.h2 * case.shared.n2
    return total


def scaled(part, world, product: str, dtype: str, memory: int, profile) -> tuple[object | None, str]:
    """The world at the most tokens per rank this host can compute (halving from the
    source's), and what was scaled and why; None when even MIN_TOKENS does not fit."""
    tokens, why, budget = world.tokens, "", SIM_MACS[tiers.current().name]
    while True:
        case = part.case(world, product, dtype, tokens)
        size, macs = world_bytes(case, profile), host_macs(case)
        if size <= memory and macs <= budget:
            return case, why
        why = (f"tokens per rank {tokens} -> {tokens // 2}: the world needs "
               f"{size / 2**30:.1f} GiB (budget {memory / 2**30:.1f}) and {macs / 1e9:.1f} G "
               f"multiply-adds (budget {budget / 1e9:.1f} G) on this host")
        tokens //= 2
        if tokens < MIN_TOKENS:
            return None, why


def test_production(production_item, conformance, production_worlds, request) -> None:
    operator, name, product, dtype = production_item
    opts = conformance.opts
    run = opts.runs[operator]
    part, profile = run.operator.part("production"), run.profile
    world = part.WORLDS[name]
    if opts.in_process:
        case, why = scaled(part, world, product, dtype, opts.memory_budget, profile)
        if case is None:
            pytest.skip(f"{name} on {product}: does not fit this host even at {MIN_TOKENS} "
                        f"tokens per rank (last step: {why}); a hardware runner runs it at "
                        "full size")
    else:
        case, why = part.case(world, product, dtype), ""
    exp = expect_case(case, profile)
    if exp.outcome != "success":
        full = expect_case(part.case(world, product, dtype), profile)
        at_full = ("valid at full size" if full.outcome == "success" else
                   f"at full size: {full.describe()}")
        pytest.skip(f"{name} on {product}: not a valid call under {profile.name} "
                    f"({exp.describe()}{' at the scaled size; ' + at_full if why else ''})")
    scale = {"world": name, "source": world.source, "tokens": part.tokens_per_rank(case, world),
             "source_tokens": world.tokens, "scaled": why or "no: full size"}
    request.node.user_properties.append(("production", scale))
    records: list[dict] = []
    request.node.user_properties.append(("conformance_cases", records))
    start = time.perf_counter()
    # Host-side ranks skip the determinism rerun: it doubles the cost of full-size weights, and
    # the tiers test it on every other valid world; hardware repeats at production size.
    worlds = production_worlds[operator]
    result = worlds.run(case, profile, opts.judge, repeat=not opts.in_process)
    record = case_record(Cell(operator, case.clause, "valid", product, case.ep, dtype), result,
                         time.perf_counter() - start)
    records.append({**record, "production": scale})
    print(f"{name} {product} {dtype}: tokens per rank {scale['tokens']} (source "
          f"{world.tokens}; scaled: {scale['scaled']})")
    if not result.passed:
        path = conformance.save_case(result.case, request.node.nodeid)
        conformance.fail(request.node, result, path)
