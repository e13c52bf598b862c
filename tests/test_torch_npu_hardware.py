"""The torch_npu path as the real runtime behaves (HARDWARE-REVIEW.md sections 1, 2 and 5), against
the fake torch_npu: how its errors reach the caller (the task queue, compact errors), the NPU host
(logical visible devices, the SoC, device faults and their recovery), the autoload on
`import torch`, and what the backend and the runner make of each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fixtures.torch_npu_backend as T
from fixtures import runner
from fixtures.backends import BackendSpec
from fixtures.harness import materialise
from fixtures.pool import ProcessWorld
from fixtures.protocol import ALL_CAPABILITIES, AsyncFailure, NotApplicable, RankContext
from fixtures.world import ThreadWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Fault
from spec.expect import Expectation
from tests.fakes import npu_host, rank_setup, ranks
from tests.fakes.cases import BASE, V2_AI_CPU, V2_CCU_ON_A3

ROOT = Path(__file__).resolve().parents[1]
CANN, DOC, V2_CANN = load("cann-2025.12"), load("doc"), load("cann-2026.07")
CTX = RankContext(0, 4, "910_95", None, "g")
GROUP_EMPTY = BASE.with_(faults=(Fault("value", "group", ""),), side="invalid", clause="GROUP.empty")


@pytest.fixture(scope="module")
def tnpu():
    rank_setup.torch_npu(0, 1)
    import torch_npu

    return torch_npu


@pytest.fixture
def queue(tnpu, monkeypatch):
    """The fake's per-process options and this thread's task queue, fresh; set the level with
    `queue(level, compact=False)` (torch_npu reads both once, on first use)."""
    monkeypatch.setattr(tnpu.npu, "_options", {})
    monkeypatch.setattr(tnpu.npu, "_process", {"fault": None})
    tnpu.npu._queue.status = "RUN"

    def set_level(level: int | None, compact: bool = False) -> None:
        tnpu.npu._options.clear()
        if level is None:
            monkeypatch.delenv("TASK_QUEUE_ENABLE", raising=False)
        else:
            monkeypatch.setenv("TASK_QUEUE_ENABLE", str(level))
        if compact:
            monkeypatch.setenv("TORCH_NPU_COMPACT_ERROR_OUTPUT", "1")
        else:
            monkeypatch.delenv("TORCH_NPU_COMPACT_ERROR_OUTPUT", raising=False)
        monkeypatch.delenv("ASCEND_LAUNCH_BLOCKING", raising=False)
    yield set_level
    tnpu.npu._queue.status = "RUN"


@pytest.fixture
def second_stage_fails(monkeypatch):
    """The simulator's second stage returns 561000 (a failure only the device sees)."""
    monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 561000)


def call(tnpu, case=BASE, **extra):
    """The fake's npu_alltoallv_gmm with the backend's own arguments for rank 0 of `case`."""
    backend = T.TorchNpuBackend()
    with ranks.bound(CTX):
        _, _, pending = backend.get_workspace_size(CTX, **_args(case), **extra)
        a = pending.args
        positional = (T.to_device(a["gmm_x"]), T.to_device(a["gmm_weight"]), a["group"],
                      a["ep_world_size"], list(a["send_counts"]), list(a["recv_counts"]))
        keywords = {k: T._maybe_device(a[k]) for k in ("mm_x", "mm_weight")}
        keywords["trans_gmm_weight"] = a["trans_gmm_weight"]
        return tnpu.npu_alltoallv_gmm(*positional, **keywords, **extra)


def _args(case, rank=0):
    return materialise(case, rank, case.call(rank, "g"), data_mode=False).kwargs


def execute(case=BASE, **extra):
    backend = T.TorchNpuBackend()
    with ranks.bound(CTX):
        _, size, pending = backend.get_workspace_size(CTX, **_args(case), **extra)
        return backend, backend.execute(CTX, None, size, pending, None)


# -- review 5.4: the task queue --------------------------------------------------------------
def test_hardware_queue_level1_second_stage_error_is_codeless_and_kills_the_queue(
        tnpu, queue, second_stage_fails, capfd):
    queue(None)  # unset: level 1
    call(tnpu)  # returns: the failure is in the queue
    assert "error code is 561000" in capfd.readouterr().err, "ExecFuncOpApi's LOG(ERROR)"
    with pytest.raises(RuntimeError) as err:
        tnpu.npu.synchronize()
    text = str(err.value)
    assert text.startswith("The Inner error is reported as above. The process exits for this "
                           "inner error, and the current working operator name is "
                           "aclnnAlltoAllvGroupedMatMul")
    assert "error code is" not in text
    tnpu.npu.synchronize()  # raised once: CAN_EXIT
    out = call(tnpu)  # later work is dropped, only logged
    assert "Task queue thread is exit, can't call Enqueue()" in capfd.readouterr().err
    assert out[0] is not None


def test_hardware_queue_level1_first_stage_rejection_is_synchronous_with_its_code(tnpu, queue):
    queue(1)
    with pytest.raises(RuntimeError, match="call aclnnAlltoAllvGroupedMatMul failed, error code "
                       r"is 161001\n\[ERROR\] .*ERR00100 PTA call acl api failed\nEZ9999"):
        call(tnpu, GROUP_EMPTY)


def test_hardware_queue_level2_moves_the_first_stage_into_the_queue(tnpu, queue, capfd):
    queue(2)
    call(tnpu, GROUP_EMPTY)  # no exception here
    assert "call aclnnAlltoAllvGroupedMatMul failed, error code is 161001" in capfd.readouterr().err
    with pytest.raises(RuntimeError, match="The Inner error is reported as above") as err:
        tnpu.npu.synchronize()
    assert "error code is" not in str(err.value)


def test_hardware_queue_level0_is_synchronous(tnpu, queue, second_stage_fails):
    queue(0)
    with pytest.raises(RuntimeError, match="call aclnnAlltoAllvGroupedMatMul failed, error code "
                       "is 561000"):
        call(tnpu)


def test_hardware_compact_errors_drop_the_code_and_bad_levels_are_refused(tnpu, queue):
    queue(1, compact=True)
    with pytest.raises(RuntimeError) as err:
        call(tnpu, GROUP_EMPTY)
    assert "EZ9999" in str(err.value) and "error code is" not in str(err.value)
    queue(3)
    with pytest.raises(RuntimeError, match="TASK_QUEUE_ENABLE should be 0, 1 or 2"):
        call(tnpu)


# -- review C2, C7: what the backend makes of it ---------------------------------------------
def test_hardware_rank_env_pins_the_task_queue_and_turns_the_aclnn_cache_off():
    assert T.RANK_ENV == {"TASK_QUEUE_ENABLE": "1", "TORCH_NPU_COMPACT_ERROR_OUTPUT": None,
                          "DISABLE_L2_CACHE": "1"}


# -- review 5.4: torch_npu's aclnn cache (op-plugin hit_cache) ------------------------------------
def _fresh_process(tnpu, monkeypatch, **env):
    """What a new rank process would read: torch_npu's options and opbase's cache, empty."""
    tnpu.npu._options.clear()
    monkeypatch.setattr(tnpu.npu, "_process", {"fault": None})
    tnpu.npu._queue.status = "RUN"
    for name in ("DISABLE_L2_CACHE", "ACLNN_CACHE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _counting_first_stage(monkeypatch, status=None):
    """Every first stage the fake runs, counted; `status`: what it returns instead of the sim."""
    seen = []
    real = ranks.first_stage

    def first_stage(args, null=frozenset()):
        seen.append(args["send_counts"])
        return (status, 0, None) if status is not None else real(args, null)
    monkeypatch.setattr(ranks, "first_stage", first_stage)
    return seen


def test_hardware_aclnn_cache_skips_the_first_stage_of_a_call_identical_to_a_success(
        tnpu, queue, monkeypatch):
    queue(1)
    _fresh_process(tnpu, monkeypatch)
    monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 0)  # CTX has no peers to move data
    seen = _counting_first_stage(monkeypatch)
    assert execute()[1] == 0 and execute()[1] == 0
    assert len(seen) == 1, "the second call's key (no data, no addresses) hit the first's entry"
    other = BASE.with_(trans_gmm_weight=not BASE.trans_gmm_weight)
    assert execute(other)[1] == 0 and len(seen) == 2, "another key: a miss"
    for _ in range(2):
        assert execute(GROUP_EMPTY)[1] == 161001
    assert len(seen) == 4, "a rejection is never cached: its first stage runs every time"
    seen = _counting_first_stage(monkeypatch, status=161002)
    assert execute()[1] == 0 and not seen, "a cached call never asks the first stage"
    _fresh_process(tnpu, monkeypatch, ACLNN_CACHE_LIMIT="0")
    assert [execute()[1], execute()[1]] == [161002, 161002] and len(seen) == 2


def test_hardware_aclnn_cache_off_runs_every_first_stage_and_keeps_the_code(tnpu, queue, monkeypatch):
    """With RANK_ENV's DISABLE_L2_CACHE=1 every call is checked, and a second-stage failure keeps
    the code it has in the rank's log; with the cache, a cached launch's failure names no
    operator ("call failed"), so its code cannot be read back."""
    queue(1)
    _fresh_process(tnpu, monkeypatch)
    monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 0)  # CTX has no peers to move data
    assert execute()[1] == 0
    monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 561000)
    with pytest.raises(AsyncFailure) as err:
        execute()
    assert err.value.status is None, "cached: 'call failed, error code is 561000' in the log"
    seen = _counting_first_stage(monkeypatch)
    for _ in range(2):
        _fresh_process(tnpu, monkeypatch, **{k: v for k, v in T.RANK_ENV.items() if v is not None})
        monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 0)
        assert execute()[1] == 0
        monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 561000)
        with pytest.raises(AsyncFailure) as err:
            execute()
        assert err.value.status == 561000
    assert len(seen) == 4, "every call ran its first stage"


def test_hardware_queue_failure_status_is_read_from_the_log(tnpu, queue, second_stage_fails):
    queue(1)
    with pytest.raises(AsyncFailure) as err:
        execute()
    assert err.value.status == 561000


def test_hardware_queue_failure_without_a_log_is_a_codeless_status(tnpu, queue, second_stage_fails,
                                                                    monkeypatch):
    queue(1)
    monkeypatch.setattr(T, "stderr_mark", lambda: None)  # stderr is a terminal, not a file
    with pytest.raises(AsyncFailure) as err:
        execute()
    assert err.value.status is None
    assert str(err.value).startswith("second stage failed (code not reported by torch_npu): "
                                     "The Inner error is reported as above")


def test_hardware_level2_rejection_keeps_its_exact_status(tnpu, queue):
    queue(2)
    with pytest.raises(AsyncFailure) as err:
        execute(GROUP_EMPTY)
    assert err.value.status == 161001


def test_hardware_codeless_failures_are_status_findings_not_crashes(tnpu, queue, monkeypatch,
                                                                     second_stage_fails):
    queue(1)
    monkeypatch.setattr(T, "stderr_mark", lambda: None)
    world = ThreadWorld(4, lambda: ranks.Bound(T.TorchNpuBackend()), timeout=30)
    aborted: list[str] = []
    real_run = world._rank

    def rank(plan, r, exchange):
        real_abort = exchange.abort
        exchange.abort = lambda reason: (aborted.append(reason), real_abort(reason))
        return real_run(plan, r, exchange)
    world._rank = rank
    try:
        result = ranks.run_case(world, world.backends[0], BASE, CANN)
    finally:
        world.close()
    assert result.outcome == "failed"
    assert {f.kind for f in result.findings} == {"status"}, [f.message for f in result.findings]
    assert all("second stage failed (code not reported by torch_npu)" in f.message
               and "expected 0" in f.message for f in result.findings)
    assert aborted and "the world restarts" in aborted[0], "the restart invariant"


def test_hardware_status_message_is_the_runtimes_first_lines(tnpu, queue):
    queue(1)
    backend, status = execute(GROUP_EMPTY)
    assert status == 161001
    message = backend.status_message()
    assert "error code is 161001" in message and "EZ9999" in message
    assert len(message.splitlines()) <= T.MESSAGE_LINES


def test_hardware_a_device_fault_at_sync_is_an_async_status(tnpu, queue, tmp_path, monkeypatch):
    queue(1)
    flag = tmp_path / "fault"
    flag.write_text("")
    monkeypatch.setenv("FAKE_NPU_FAULT_ONCE", str(flag))
    monkeypatch.setattr(ranks, "second_stage", lambda *a, **k: 0)
    with pytest.raises(AsyncFailure) as err:
        execute()
    assert err.value.status == npu_host.AICORE_EXCEPTION and not flag.exists()
    with pytest.raises(RuntimeError, match="error code is 507015"):
        call(tnpu)  # every later runtime call of the process fails


def test_hardware_rejections_under_queue_level2_pass_in_rank_processes(tmp_path):
    """The world spawned with TASK_QUEUE_ENABLE=2 (what launch scripts export): the exact status
    either way, synchronously when the pool pins RANK_ENV, else read back from the rank's log
    with a world restart (the queue thread is gone)."""
    env = {"CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:torch_npu", "TASK_QUEUE_ENABLE": "2",
           "FAKE_TORCH_NPU_LOG": str(tmp_path), "FAKE_PRODUCT": "910_95"}
    world = ProcessWorld(4, BackendSpec("torch_npu", {}), timeout=60, leaser=None, env=env)
    try:
        backend = BackendSpec("torch_npu", {}).make()
        result = ranks.run_case(world, backend, GROUP_EMPTY, CANN)
        assert result.passed, [f.message for f in result.findings]
        assert [r.status2 for r in result.reports] == [161001] * 4
        levels = {json.loads(line)["task_queue"] for p in tmp_path.glob("*.jsonl")
                  for line in p.read_text().splitlines()}
        assert len(levels) == 1
        assert world.restarts == (1 if levels == {2} else 0)
        assert ranks.run_case(world, backend, BASE, CANN).passed, "the restarted world works"
        calls = [json.loads(line) for p in tmp_path.glob("*.jsonl") for line in p.read_text().splitlines()]
        assert {c["aclnn_cache_limit"] for c in calls} == {0}, "spawned ranks run every first stage"
    finally:
        world.close()


# -- review L6, W2, V2 ----------------------------------------------------------------------
def test_hardware_placeholders_stay_stride0_views_on_the_device(tnpu, queue):
    queue(1)
    ph = np.broadcast_to(np.ones(1, np.float16).reshape(1, 1), (1 << 20, 4096))
    t = T.to_device(ph)
    assert t.stride() == (0, 0) and t.untyped_storage().nbytes() == 2


def test_hardware_empty_count_lists_reach_the_operator(tnpu, queue):
    queue(1)
    world = ThreadWorld(4, lambda: ranks.Bound(T.TorchNpuBackend()), timeout=30)
    try:
        case = BASE.with_(faults=(Fault("counts", "recvCounts", "empty"),), side="invalid",
                          clause="NULL.recvCounts")
        start = len(tnpu.CALLS)
        result = ranks.run_case(world, world.backends[0], case, CANN)
    finally:
        world.close()
    assert result.passed, (result.reason, [f.message for f in result.findings])
    assert [r.status2 for r in result.reports] == [161002] * 4
    assert all(rec["positional"][5]["value"] == [] for rec in tnpu.CALLS[start:])


def test_hardware_v2_comm_mode_is_passed_or_not_applicable(tnpu, queue, monkeypatch):
    queue(1)
    with pytest.raises(NotApplicable, match="cannot pass a null commMode"):
        execute(comm_mode=None)
    monkeypatch.setenv("FAKE_TORCH_NPU_NO_V2", "1")
    with pytest.raises(NotApplicable, match="this runtime has no V2 entry point: Current CANN "
                       "version do not support this api"):
        execute(comm_mode="ai_cpu")


def _v2_world_run(case, profile=V2_CANN):
    world = ThreadWorld(case.ep, lambda: ranks.Bound(T.TorchNpuBackend()), timeout=30)
    try:
        return ranks.run_case(world, world.backends[0], case, profile)
    finally:
        world.close()


@pytest.mark.parametrize("case, status", [(V2_AI_CPU, 0), (V2_CCU_ON_A3, 161002)],
                         ids=["ai_cpu on 910_95", "ccu on A3"])
def test_hardware_v2_cases_reach_the_simulator_through_the_fake(tnpu, queue, monkeypatch, case,
                                                                status):
    """A V2 case flows to the sim's V2 entry point: ai_cpu computes and is judged, ccu on A3 is
    the contract's 161002 on every rank (PRODUCT.A3.commMode)."""
    queue(1)
    monkeypatch.setenv("FAKE_BEHAVIOR", "cann-2026.07")
    start = len(tnpu.CALLS)
    result = _v2_world_run(case)
    assert result.passed, (result.reason, [f.message for f in result.findings])
    assert [r.status2 for r in result.reports] == [status] * case.ep
    assert {json.dumps(c["keyword"]["comm_mode"]) for c in tnpu.CALLS[start:]} == {
        json.dumps({"type": "str", "value": case.comm_mode})}
    if status == 0:
        assert result.plan.data_mode, "the outputs were computed and judged"


def test_hardware_v2_on_a_runtime_without_it_is_not_applicable(tnpu, queue, monkeypatch):
    queue(1)
    monkeypatch.setenv("FAKE_BEHAVIOR", "cann-2026.07")
    monkeypatch.setenv("FAKE_TORCH_NPU_NO_V2", "1")
    result = _v2_world_run(V2_AI_CPU)
    assert result.outcome == "not_applicable", [f.message for f in result.findings]
    assert "this runtime has no V2 entry point" in result.reason


# -- review L1: the runner ------------------------------------------------------------------
NEGATIVE = BASE.with_(faults=(Fault("counts", "sendCounts", "negative"),), side="invalid",
                      clause="COUNTS.send_nonneg")


def test_hardware_rejections_the_real_first_stage_may_not_check_do_not_run():
    exp, plan, why = runner.plan_case(NEGATIVE, DOC, ALL_CAPABILITIES, "mixed", False, False)
    assert exp.outcome == "reject" and plan is None
    assert why == ("the real first stage may not check COUNTS.send_nonneg, and the one call would "
                   "run the kernel on undefined arguments")
    assert runner.plan_case(NEGATIVE, DOC, ALL_CAPABILITIES, "mixed", False, True)[1] is not None
    for profile in (DOC, CANN):  # rejected by the shipped first stage: runs
        assert runner.plan_case(GROUP_EMPTY, profile, ALL_CAPABILITIES, "mixed", False, False)[1]


def test_hardware_a_rejection_on_some_ranks_only_does_not_run(monkeypatch):
    partial = Expectation("reject", (161002, 0, 0, 0), None, "X.clause", frozenset({"X.clause"}))
    monkeypatch.setattr(runner, "expect_case", lambda case, profile: partial)
    _, plan, why = runner.plan_case(GROUP_EMPTY, CANN, ALL_CAPABILITIES, "mixed", False, False)
    assert plan is None and "accepts the call on rank(s) [1, 2, 3]" in why


# -- review 5.9, 5.2, 5.11: the NPU host and the autoload --------------------------------------
def test_hardware_visible_devices_are_logical_and_truncated(tnpu, monkeypatch):
    monkeypatch.setenv("FAKE_NPU_DEVICES", "8-15")
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1,5,3,4")
    monkeypatch.setenv("FAKE_NPU_SOC", "Ascend910B1")
    monkeypatch.setattr(tnpu.npu, "_state", {"device": None, "synchronized": 0, "transferred": 0})
    assert tnpu.npu.device_count() == 3  # 0, 1, 5: the runtime stops at the unsorted 3
    assert tnpu.npu.get_device_name(0) == "Ascend910B1"
    tnpu.npu.set_device(2)
    with pytest.raises(RuntimeError, match="error code is 107001"):
        tnpu.npu.set_device(3)


def _set_device_in_fresh_process(env: dict, hold: bool = False) -> subprocess.Popen:
    code = ("import sys, time; sys.path.insert(0, 'tests/fakes/site'); import torch_npu\n"
            "try:\n    torch_npu.npu.set_device(0); print('ok', flush=True)\n"
            "except RuntimeError as e:\n    print(str(e).splitlines()[0], flush=True)\n"
            + ("time.sleep(60)\n" if hold else ""))
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, env={**os.environ, **env,
                                                         "PYTHONPATH": str(ROOT)})


def test_hardware_a_killed_owner_poisons_its_device_until_recovery(tmp_path):
    env = {"FAKE_NPU_STATE_DIR": str(tmp_path), "FAKE_NPU_RECOVERY_SECONDS": "1.5"}
    owner = _set_device_in_fresh_process(env, hold=True)
    assert owner.stdout.readline().strip() == "ok"
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    out, _ = _set_device_in_fresh_process(env).communicate(timeout=60)
    assert "error code is 507033" in out
    time.sleep(1.6)
    out, _ = _set_device_in_fresh_process(env).communicate(timeout=60)
    assert out.strip() == "ok"


def test_hardware_import_torch_autoloads_torch_npu(tmp_path):
    site = ROOT / "tests" / "fakes" / "site"
    code = "import sys, torch; print('torch_npu' in sys.modules, torch.device('npu:0'))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("TORCH_DEVICE_BACKEND_AUTOLOAD", None)
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                        timeout=120, check=False)
    assert on.stdout.strip() == "True npu:0", on.stderr[-500:]
    off = subprocess.run([sys.executable, "-c", "import sys, torch; print('torch_npu' in "
                          "sys.modules)"], env={**env, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"},
                         capture_output=True, text=True, timeout=120, check=False)
    assert off.stdout.strip() == "False", off.stderr[-500:]


def test_hardware_compact_errors_in_a_rank_are_named(tnpu, queue):
    queue(1, compact=True)
    with pytest.raises(RuntimeError, match="no status code: TORCH_NPU_COMPACT_ERROR_OUTPUT is set "
                       "in this rank"):
        execute(GROUP_EMPTY)


def test_hardware_provenance_names_torch_npu_and_the_library_op_plugin_takes_the_op_from(
        tnpu, monkeypatch):
    """Read in the driver without importing torch_npu: the wheel's version and package, and
    the libraries op-plugin takes the V1 and V2 entry points from under ASCEND_HOME_PATH; left
    out when there is no CANN to read."""
    from tests.fakes.build import build, default_root

    lib_dir = build(default_root())
    for var in ("ASCEND_CUSTOM_OPP_PATH", "ASCEND_OPP_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASCEND_HOME_PATH", str(lib_dir.parent))
    found = T.TorchNpuBackend().provenance()
    assert found == {"torch_npu": "2.14.0+fake", "torch_npu_package": str(rank_setup.SITE / "torch_npu"),
                     "op_library": str(lib_dir / "libopapi.so"),
                     "op_library_v2": str(lib_dir / "libopapi.so")}
    monkeypatch.delenv("ASCEND_HOME_PATH")
    assert set(T.TorchNpuBackend().provenance()) == {"torch_npu", "torch_npu_package"}
