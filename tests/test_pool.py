"""The persistent multi-process world: reuse, the wire, hooks, device pinning, start failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures import devices
from fixtures.backends import BackendSpec
from fixtures.pool import ProcessWorld
from fixtures.pool.wire import Channel, WorldError, parse_address
from tests.support import leaks
from tests.support.pool_cases import any_world_plan, result_of, valid_plan

PROBE = BackendSpec("tests.support.pool_backends:probe", {"behavior": "doc"})


@pytest.fixture(scope="module")
def probe_world():
    world = ProcessWorld(3, PROBE, timeout=60, leaser=None)
    yield world
    world.close()


def test_a_world_is_started_once_and_reused(probe_world: ProcessWorld) -> None:
    results = [result_of(plan, probe_world.run(plan))
               for plan in (any_world_plan(3, seed) for seed in (1, 2, 3))]
    assert [r.outcome for r in results] == ["passed"] * 3, [r.findings for r in results]
    pids = list(probe_world.pids)
    assert len(set(pids)) == 3 and probe_world.generation == 1 and probe_world.restarts == 0
    result_of(any_world_plan(3, 4), probe_world.run(any_world_plan(3, 4)))
    assert probe_world.pids == pids  # the same processes served every case


def test_the_communicator_carries_every_dtype_and_shape(probe_world: ProcessWorld) -> None:
    # The probe backend exchanges arrays of every wire dtype (bfloat16, float8, bool, 0-d, empty,
    # non-contiguous, per-pair sizes) and raises if one arrives changed: a crash finding here.
    plan = any_world_plan(3, 5)
    reports = probe_world.run(plan)
    assert [r.rank for r in reports] == [0, 1, 2]
    assert result_of(plan, reports).passed, [f.message for r in reports for f in r.findings]


def test_open_rank_names_the_group_every_case_receives(probe_world: ProcessWorld) -> None:
    assert probe_world.group_name == "probe_group_3"
    plan = any_world_plan(3, 6)
    assert result_of(plan, probe_world.run(plan)).passed  # the probe insists on that group


def test_only_plans_and_reports_travel(probe_world: ProcessWorld, monkeypatch) -> None:
    moved = []
    original = Channel._exact

    def counting(self: Channel, n: int) -> bytes:
        moved.append(n)
        return original(self, n)

    monkeypatch.setattr(Channel, "_exact", counting)
    plan = any_world_plan(3, 7, h1=4096, n1=64, bsk=128)
    tensor_bytes = sum(2 * plan.case.h1 * (plan.case.bsk(r) + plan.case.a(r)) for r in range(3))
    assert result_of(plan, probe_world.run(plan)).passed
    assert tensor_bytes > 1_000_000
    assert sum(moved) < 50_000, f"{sum(moved)} bytes came back for {tensor_bytes} of tensors"


def test_a_torch_world_runs_suite_cases() -> None:
    with ProcessWorld(4, BackendSpec("torch", {"behavior": "doc"}), timeout=60, leaser=None) as w:
        for seed in (0, 1):
            plan = valid_plan(4, seed)
            result = result_of(plan, w.run(plan))
            assert result.passed, [f.message for f in result.findings]
        pids = w.pids
    assert not any(leaks.alive(p) for p in pids)


def test_ranks_are_pinned_to_leased_devices_before_any_runtime(tmp_path: Path) -> None:
    setup = tmp_path / "setup"
    setup.mkdir()
    leaser = devices.Leaser(range(8), tmp_path / "locks", timeout=5)
    env = {"CONFORMANCE_RANK_SETUP": "tests.support.pool_backends:record_setup",
           "POOL_SETUP_DIR": str(setup)}
    world = ProcessWorld(3, PROBE, timeout=60, leaser=leaser, env=env)
    plan = any_world_plan(3, 8)
    assert result_of(plan, world.run(plan)).passed
    seen = sorted((json.loads(p.read_text()) for p in setup.glob("rank*.json")),
                  key=lambda d: d["rank"])
    prepared = sorted((json.loads(p.read_text()) for p in setup.glob("prepare*.json")),
                      key=lambda d: d["rank"])
    assert [(d["rank"], d["local_rank"], d["dist_initialized"]) for d in prepared] == [
        (0, 0, False), (1, 1, False), (2, 2, False)]
    assert [d["rank"] for d in seen] == [0, 1, 2]
    assert all(d["world_size"] == 3 and not d["torch_imported"] for d in seen)
    assert {d["visible"] for d in seen} == {"0,1,2"}
    assert [d["local_rank"] for d in seen] == ["0", "1", "2"]
    assert devices.holders(tmp_path / "locks", range(8)).startswith("held: 0")
    world.close()
    assert devices.holders(tmp_path / "locks", range(8)) == "none held now"


def test_a_world_that_cannot_start_reports_every_rank_and_leaves_nothing() -> None:
    before = set(leaks.children())
    spec = BackendSpec("tests.support.pool_backends:broken_factory")
    world = ProcessWorld(2, spec, timeout=30, leaser=None)
    plan = any_world_plan(2, 1)
    reports = world.run(plan)
    assert [r.rank for r in reports] == [0, 1]
    messages = [f.message for r in reports for f in r.findings]
    assert all(f.kind == "crash" for r in reports for f in r.findings)
    assert "did not start" in messages[0] and "cannot be built in a rank process" in messages[0]
    assert len(world.all_pids) == 2 and not any(leaks.alive(p) for p in world.all_pids)
    assert set(leaks.children()) <= before
    # No devices to recover: a broken backend is not retried, so it does not cost every case.
    second = world.run(plan)[1].findings[0].message
    assert "not retried: the world is not on devices" in second and len(world.all_pids) == 2
    world.close()


def test_a_bad_setup_hook_is_named(monkeypatch) -> None:
    monkeypatch.setenv("CONFORMANCE_RANK_SETUP", "no_colon_here")
    world = ProcessWorld(2, PROBE, timeout=30, leaser=None)
    reports = world.run(any_world_plan(2, 1))
    world.close()
    assert "CONFORMANCE_RANK_SETUP='no_colon_here': expected package.module:function" in (
        reports[0].findings[0].message)


@pytest.mark.parametrize("text", ["localhost", "host:", ":80", "host:99999", "host:port"])
def test_a_bad_attach_address_says_what_is_accepted(text: str) -> None:
    with pytest.raises(WorldError, match=r"expected HOST:PORT"):
        parse_address(text, "--world-attach")
