"""The pool on the NPU host the doubles model (tests/fakes/npu_host.py): a device fault, the
devices' recovery, HCCL hangs on the device, the rank environment, and worlds too large for the
host. The backend is tests/support/npu_backend.py (the sim, setting devices as the runtime does).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import devices
from fixtures.backends import BackendSpec
from fixtures.pool import DEVICE_FAULT, DEVICE_UNHEALTHY, ProcessWorld
from fixtures.pool.rank import HCCL_CONNECT, HCCL_EXEC, hccl_timeouts, rank_env_problem
from tests.support import leaks
from tests.support.pool_cases import any_world_plan, result_of

ROOT = Path(__file__).resolve().parent.parent
NPU = BackendSpec("tests.support.npu_backend:factory", {"behavior": "doc"})
UNPROBED = BackendSpec("tests.support.npu_backend_unprobed:factory", {"behavior": "doc"})
# Seconds the modelled devices take to recover from a fault or a killed owner: longer than a
# teardown and a probe take on a loaded runner, so that the probe after a fault meets it.
RECOVERY = 10.0


def host(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A modelled NPU host with device health, and a planted fault not yet armed."""
    (tmp_path / "setup").mkdir(exist_ok=True)
    return {"FAKE_NPU_STATE_DIR": str(tmp_path / "state"),
            "FAKE_NPU_FAULT_ONCE": str(tmp_path / "fault-once"),
            "FAKE_NPU_RECOVERY_SECONDS": str(RECOVERY), "POOL_SETUP_DIR": str(tmp_path / "setup"),
            **extra}


def plant_fault(tmp_path: Path) -> None:
    (tmp_path / "fault-once").touch()


def messages(result) -> list[str]:
    return [f"{f.kind}: {f.message}" for f in result.findings]


def test_hardware_a_device_fault_is_named_and_the_next_cases_wait_and_pass(tmp_path: Path) -> None:
    world = ProcessWorld(2, NPU, timeout=6, leaser=None, grace=2, env=host(tmp_path),
                         backoff=(0.3,), recovery_timeout=30)
    try:
        first = any_world_plan(2, 31)
        assert result_of(first, world.run(first)).passed
        plant_fault(tmp_path)
        faulty = any_world_plan(2, 32)
        fault = result_of(faulty, world.run(faulty))
        # The faulting case is a device fault naming itself (its first finding: its category).
        assert fault.outcome == "failed" and fault.findings[0].kind == DEVICE_FAULT, messages(fault)
        assert f"device fault in case {faulty.case.id}" in fault.findings[0].message
        assert "507033" in fault.findings[0].message  # what the probe saw
        assert any("507015" in m for m in messages(fault))  # and the rank's own error
        results = []
        for seed in (33, 34, 35):
            plan = any_world_plan(2, seed)
            results.append(result_of(plan, world.run(plan)))
            if seed == 33:
                restarted = time.time()
        assert [r.outcome for r in results] == ["passed"] * 3, [messages(r) for r in results]
        # The restart waited until the devices had recovered, and needed no failed start for it.
        until = [float(p.read_text()) for p in (tmp_path / "state").glob("*.poisoned")]
        assert until and max(until) <= restarted
        assert world.generation == 2 and world.restarts == 1
        # The faulting rank, idle when the world was torn down, closed its backend first.
        assert list((tmp_path / "setup").glob("closed1-*.json"))
    finally:
        world.close()
    assert not any(leaks.alive(p) for p in world.all_pids)


def test_hardware_devices_still_unhealthy_after_the_window_name_the_fault(tmp_path: Path) -> None:
    env = host(tmp_path, FAKE_NPU_RECOVERY_SECONDS="120")
    world = ProcessWorld(2, NPU, timeout=6, leaser=None, grace=2, env=env, backoff=(0.3,),
                         recovery_timeout=1.5)
    try:
        assert result_of(any_world_plan(2, 41), world.run(any_world_plan(2, 41))).passed
        plant_fault(tmp_path)
        faulty = any_world_plan(2, 42)
        before_fault = time.monotonic()
        assert result_of(faulty, world.run(faulty)).findings[0].kind == DEVICE_FAULT
        later = []
        for seed in (43, 44):
            start = time.monotonic()
            later.append((result_of(any_world_plan(2, seed), world.run(any_world_plan(2, seed))),
                          time.monotonic() - start))
        window_waited = time.monotonic() - later[1][1] - before_fault
    finally:
        world.close()
    for result, _ in later:
        assert result.outcome == "failed"
        assert {f.kind for f in result.findings} == {DEVICE_UNHEALTHY}, messages(result)
        text = result.findings[0].message
        assert f"device unhealthy after the fault in case {faulty.case.id}" in text, text
        assert "did not start" not in text and "507033" in text
    # The first waited out the window (it opened at the fault, after `before_fault`), the next
    # only probed once; measured from the fault, so a slow teardown on a loaded runner holds too.
    assert window_waited >= 1.5
    assert later[1][1] < later[0][1] + 5


def test_hardware_without_a_probe_a_failed_start_is_the_probe(tmp_path: Path) -> None:
    # One rank: a failed start of a larger world kills the ranks that did set their devices, and
    # the model then poisons those afresh at the next try (a probe avoids that; see the report).
    leaser = devices.Leaser(range(4), tmp_path / "locks", timeout=5)
    # Longer than a rank's start-up (importing torch), so that the first restart meets it.
    env = host(tmp_path, FAKE_NPU_RECOVERY_SECONDS="20")
    world = ProcessWorld(1, UNPROBED, timeout=6, leaser=leaser, grace=2, env=env,
                         backoff=(0.3,), recovery_timeout=30)
    try:
        assert result_of(any_world_plan(1, 50), world.run(any_world_plan(1, 50))).passed
        plant_fault(tmp_path)
        fault = result_of(any_world_plan(1, 52), world.run(any_world_plan(1, 52)))
        assert fault.outcome == "failed" and fault.findings[0].kind == "crash"  # nothing probed it
        after = result_of(any_world_plan(1, 53), world.run(any_world_plan(1, 53)))
        assert after.passed, messages(after)
        assert world.generation >= 3  # at least one start failed on the recovering device
    finally:
        world.close()


def test_hardware_all_ranks_waiting_on_the_device_blame_no_rank(tmp_path: Path) -> None:
    env = host(tmp_path, NPU_TEST_DEVICE_HANG="0,1")
    with ProcessWorld(2, NPU, timeout=3, leaser=None, env=env, backoff=(0.2,)) as world:
        result = result_of(any_world_plan(2, 61), world.run(any_world_plan(2, 61)))
    timeouts = {f.rank: f.message for f in result.findings if f.kind == "timeout"}
    assert sorted(timeouts) == [0, 1], messages(result)
    for text in timeouts.values():
        assert "waiting on the device (stream sync)" in text, text
        assert "all ranks waiting on the device (HCCL/AICore)" in text
        assert "stuck outside any collective" not in text


def test_hardware_one_rank_on_the_device_is_the_culprit(tmp_path: Path) -> None:
    env = host(tmp_path, NPU_TEST_DEVICE_HANG="1")
    with ProcessWorld(2, NPU, timeout=3, leaser=None, env=env, backoff=(0.2,)) as world:
        result = result_of(any_world_plan(2, 62), world.run(any_world_plan(2, 62)))
    timeouts = {f.rank: f.message for f in result.findings if f.kind == "timeout"}
    assert "waiting on the device (stream sync)" in timeouts[1], timeouts
    assert "for rank(s) [1]" in timeouts[0], timeouts


def test_hardware_ranks_get_rank_env_hccl_timeouts_and_the_case_timeout(tmp_path: Path) -> None:
    env = host(tmp_path, NPU_TEST_QUEUE="2", NPU_TEST_COMPACT="1", HCCL_EXEC_TIMEOUT="1836")
    with (ProcessWorld(2, NPU, timeout=20, leaser=None, env=env) as world,
          pytest.warns(RuntimeWarning, match="HCCL_EXEC_TIMEOUT=1836 is not within the case")):
        assert result_of(any_world_plan(2, 71), world.run(any_world_plan(2, 71))).passed
    seen = [json.loads(p.read_text()) for p in (tmp_path / "setup").glob("open*.json")]
    assert len(seen) == 2
    for record in seen:
        assert record["env"]["NPU_TEST_QUEUE"] == "1" and record["env"]["NPU_TEST_COMPACT"] is None
        assert record["env"]["HCCL_EXEC_TIMEOUT"] == "10"  # half the case: the op runs twice
        assert record["env"]["HCCL_CONNECT_TIMEOUT"] == "120"
        assert record["case_timeout"] == 20.0


def test_hardware_hccl_timeouts_keep_a_user_setting_within_the_case() -> None:
    assert hccl_timeouts(180, {}) == ({HCCL_EXEC: "90", HCCL_CONNECT: "120"}, [])
    assert hccl_timeouts(180, {HCCL_EXEC: "60", HCCL_CONNECT: "150"}) == ({}, [])
    values, notes = hccl_timeouts(180, {HCCL_EXEC: "0", HCCL_CONNECT: "600"})
    assert values == {HCCL_EXEC: "90", HCCL_CONNECT: "120"} and len(notes) == 2
    assert notes[0].startswith("HCCL_EXEC_TIMEOUT=0 is not within the case timeout (180 s)")


def test_hardware_rank_env_problems_name_the_variable_and_the_fix() -> None:
    want = {"TASK_QUEUE_ENABLE": "1", "TORCH_NPU_COMPACT_ERROR_OUTPUT": None}
    assert rank_env_problem(want, {"TASK_QUEUE_ENABLE": "1"}, "torch_npu") is None
    text = rank_env_problem(want, {"TASK_QUEUE_ENABLE": "2", "TORCH_NPU_COMPACT_ERROR_OUTPUT": "1"},
                            "torch_npu")
    assert text is not None and "\n" not in text
    assert "TASK_QUEUE_ENABLE is '2' but must be 1 (export TASK_QUEUE_ENABLE=1)" in text
    assert "TORCH_NPU_COMPACT_ERROR_OUTPUT=1 is set but must be unset" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hardware_an_attached_rank_with_the_wrong_environment_is_refused(tmp_path: Path) -> None:
    port = _free_port()
    world = ProcessWorld(1, NPU, timeout=10, attach=f"127.0.0.1:{port}", leaser=None,
                         start_timeout=60)
    env = {**os.environ, **host(tmp_path), "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
           "NPU_TEST_QUEUE": "2", "CONFORMANCE_TOKEN": "", "PYTHONPATH": str(ROOT)}
    env.pop("NPU_TEST_COMPACT", None)
    rank = subprocess.Popen([sys.executable, "-m", "fixtures.pool", "--attach",
                             f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        world._listen()  # listen before the rank gives up connecting
        reports = world.run(any_world_plan(1, 81))
    finally:
        world.close()
        rank.wait(timeout=30)
    text = reports[0].findings[0].message
    assert "did not start" in text and "\n" not in text.split("failed to start: ")[1], text
    assert "NPU_TEST_QUEUE is '2' but must be 1 (export NPU_TEST_QUEUE=1)" in text, text


def test_hardware_a_first_start_on_devices_still_recovering_waits(tmp_path: Path) -> None:
    # A previous run was killed: its devices are still recovering when this run starts. They
    # recover a second after the pool's first look at them, however long the ranks took to
    # fail their start (a wall-clock window raced with the start on a loaded host).
    env = host(tmp_path)
    state = tmp_path / "state"
    state.mkdir()

    def recovering_for(seconds: float) -> None:
        for d in (0, 1):
            (state / f"device-{d}.poisoned").write_text(f"{time.time() + seconds:.3f}\n")

    recovering_for(600)
    looks: list[str | None] = []
    with ProcessWorld(2, NPU, timeout=6, leaser=None, env=env, backoff=(0.3,),
                      recovery_timeout=30) as world:
        probe = world._probe

        def first_look_then_recover() -> str | None:
            looks.append(probe())
            if len(looks) == 1:
                recovering_for(1)
            return looks[-1]

        world._probe = first_look_then_recover
        result = result_of(any_world_plan(2, 91), world.run(any_world_plan(2, 91)))
    assert result.passed, messages(result)
    assert looks[0] is not None and "507033" in looks[0], looks


def test_hardware_a_first_start_failing_on_healthy_devices_is_not_retried(tmp_path: Path) -> None:
    env = host(tmp_path, NPU_TEST_WRONG_SOC="1")
    with ProcessWorld(2, NPU, timeout=6, leaser=None, env=env, backoff=(0.3,),
                      recovery_timeout=30) as world:
        start = time.monotonic()
        first = world.run(any_world_plan(2, 92))[0].findings[0]
        second = world.run(any_world_plan(2, 93))[0].findings[0]
        seconds = time.monotonic() - start
        generations = world.generation
    assert first.kind == "crash" and "this host is Ascend910_9391, not" in first.message
    assert first.message.endswith("(the devices are healthy)"), first.message
    assert "not retried: its devices are healthy" in second.message
    assert generations == 1 and seconds < 25  # one start, no waiting out the window


def test_hardware_a_world_on_devices_waits_for_hccl_to_connect_its_ranks() -> None:
    # HcclCommInitRootInfo waits up to HCCL_CONNECT_TIMEOUT (at least 120 s, plus 20 s): the
    # driver must not give up on a world start before HCCL says which rank is missing.
    on_devices = ProcessWorld(2, NPU, leaser=None)
    on_cpu = ProcessWorld(2, BackendSpec("torch", {"behavior": "doc"}), leaser=None)
    try:
        assert on_devices.start_timeout > 140 and on_cpu.start_timeout == 70
    finally:
        on_devices.close()
        on_cpu.close()


@pytest.mark.parametrize("text", ["", "5,x", "-1", "5,,15"])
def test_hardware_a_bad_backoff_says_what_is_accepted(text: str) -> None:
    from fixtures.pool import WorldError, parse_backoff

    with pytest.raises(WorldError, match=r"--device-backoff .*: expected comma-separated seconds, "
                                         r"none negative \(e.g. 5,15,60\)"):
        parse_backoff(text)
    assert parse_backoff("5,15,60") == (5.0, 15.0, 60.0)


# -- the round trip with the real backends on their doubles --------------------------------------


def _double(kind: str, tmp_path: Path) -> tuple[BackendSpec, dict[str, str]]:
    """The torch_npu backend on the fake torch_npu, or the aclnn backend on the C fake, on a
    910_95 host with device health and a planted fault not yet armed."""
    env = host(tmp_path, FAKE_PRODUCT="910_95", FAKE_NPU_SOC="Ascend950PR_9599")
    if kind == "torch_npu":
        return BackendSpec("torch_npu", {}), {**env,
                                              "CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:torch_npu"}
    from tests.fakes.build import build, default_root

    lib_dir = str(build(default_root()))
    return BackendSpec("aclnn", {"lib_dir": lib_dir}), {
        **env, "CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:aclnn", "FAKE_ACL_LIB_DIR": lib_dir}


@pytest.mark.parametrize("kind", ["torch_npu", "aclnn"])
def test_hardware_a_planted_fault_on_the_real_backends_is_named_and_the_next_cases_pass(
        tmp_path: Path, kind: str) -> None:
    """The backend's own probe_devices (no lease here) makes the world wait for the devices the
    double poisoned: the faulting case is a device fault naming it, the next cases start once the
    devices recovered, and none of them is a world that did not start."""
    from ci.bench_pool import valid_cases
    from ops.alltoallv_gmm import load
    from tests.fakes import ranks

    spec, env = _double(kind, tmp_path)
    cases = valid_cases(4, "910_95", 4, load("cann-2025.12"), seed=7)
    profile, backend = load("cann-2025.12"), spec.make()
    world = ProcessWorld(4, spec, timeout=60, leaser=None, grace=2, env=env, backoff=(0.3,),
                         recovery_timeout=120)
    try:
        first = ranks.run_case(world, backend, cases[0], profile)
        assert first.passed, messages(first)
        plant_fault(tmp_path)
        fault = ranks.run_case(world, backend, cases[1], profile)
        assert fault.outcome == "failed" and fault.findings[0].kind == DEVICE_FAULT, messages(fault)
        assert f"device fault in case {cases[1].id}" in fault.findings[0].message
        assert "507033" in fault.findings[0].message  # what the probe saw right after
        assert any("507015" in m for m in messages(fault)), "the rank's own error"
        later = [ranks.run_case(world, backend, case, profile) for case in cases[2:]]
        assert [r.outcome for r in later] == ["passed"] * 2, [messages(r) for r in later]
        assert world.restarts == 1 and world.generation == 2, "waited, then one start"
    finally:
        world.close()
    every = [m for r in (first, fault, *later) for m in messages(r)]
    assert not [m for m in every if "did not start" in m], every
    assert not any(leaks.alive(p) for p in world.all_pids)
