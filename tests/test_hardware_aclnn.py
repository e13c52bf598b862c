"""The `aclnn` backend against the C fake where the real runtime is unforgiving
(HARDWARE-REVIEW.md sections 1-3 and 5): asynchronous device faults and sync time-outs, device
poisoning and recovery, the kernel package, op-plugin's library order, aclrtMalloc's padding, the
SoC, logical devices, the V2 entry point, preflight. Each test fails on the code the review read.

A device fault poisons the whole fake (one process, like the real runtime), so every test here
ends with fake_reset(): the next test starts as a fresh process would.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fixtures.aclnn as A
from fixtures import oplib
from fixtures.acl import backend as B
from fixtures.acl import memory as M
from fixtures.acl import runtime as R
from fixtures.protocol import ENTRY_V2, WORKSPACE_POISON_BYTE, NotApplicable, RankContext
from fixtures.world import ThreadComm, ThreadExchange, ThreadWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Fault
from tests.fakes import npu_host, ranks
from tests.fakes.acl import callbacks
from tests.fakes.build import build, default_root
from tests.fakes.cases import BASE, V2_AI_CPU, V2_CCU_ON_A3
from tests.fakes.worlds import WORLD_TIMEOUT

CANN, V2_CANN = load("cann-2025.12"), load("cann-2026.07")
SOC_910_95 = "Ascend950PR_9599"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lib_dir() -> Path:
    return build(default_root())


@pytest.fixture
def fake(lib_dir, tmp_path, monkeypatch):
    """The fake with the host of a 910_95 run, a call log, and a fresh process state afterwards."""
    lib = callbacks.install(lib_dir)
    monkeypatch.setenv("FAKE_NPU_SOC", SOC_910_95)
    monkeypatch.setenv("ASCEND_OPP_PATH", str(lib_dir.parent / "opp"))
    for var in ("ASCEND_RT_VISIBLE_DEVICES", "FAKE_NPU_DEVICES", "FAKE_NPU_FAULT_ONCE",
                "FAKE_ACL_KERNEL_MS", "FAKE_ACL_STRICT", "ASCEND_CUSTOM_OPP_PATH", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FAKE_NPU_STATE_DIR", str(tmp_path / "npu"))
    path = tmp_path / "acl.jsonl"
    assert lib.fake_set_log(str(path).encode()) == 0
    lib.records = lambda: [json.loads(line) for line in path.read_text().splitlines()]
    yield lib
    lib.fake_set_log(None)
    lib.fake_reset()


def thread_world(lib_dir: Path, **options) -> ThreadWorld:
    return ThreadWorld(4, lambda: ranks.Bound(A.AclnnBackend(str(lib_dir), **options)),
                       timeout=WORLD_TIMEOUT)


def close(world: ThreadWorld) -> None:
    world.close()
    for bound in world.backends:
        bound.inner.close()


def run_once(lib_dir: Path, case=BASE):
    """`case` on a fresh thread world of the aclnn backend, closed after it."""
    world = thread_world(lib_dir)
    try:
        return ranks.run_case(world, world.backends[0], case, CANN)
    finally:
        close(world)


def backends(world: ThreadWorld) -> list[A.AclnnBackend]:
    return [b.inner for b in world.backends]


def one_rank(product: str = "910_95") -> RankContext:
    return RankContext(0, 1, product, ThreadComm(ThreadExchange(1, 5), 0), "g")


def single_call_args() -> dict:
    """A one-rank call (the sim rejects ep=1 after the arguments reached the library)."""
    return dict(gmm_x=np.ones((4, 5), np.float16), gmm_weight=np.ones((2, 5, 3), np.float16),
                send_counts_tensor=None, recv_counts_tensor=None, mm_x=None, mm_weight=None, group="g",
                ep_world_size=1, send_counts=[2, 2], recv_counts=[2, 2], trans_gmm_weight=False,
                trans_mm_weight=False, permute_out_flag=False, gmm_y=np.zeros((4, 3), np.float16),
                mm_y=None, permute_out=None)


# -- C1, W4, L10: the second stage is asynchronous ----------------------------------------------


@pytest.mark.skip(reason="races in its thread world: the ranks share one faked process, so a rank "
                  "that finished before another rank's fault surfaced may free its memory; seen "
                  "failing 1 run in 3. The process worlds of tests/test_aclnn_pool.py and "
                  "tests/test_hardware_pool.py cover the device fault meanwhile")
@pytest.mark.parametrize("planted, code, text", [("", 507015, "aicore error exception"),
                                                  ("507018", 507018, "aicpu exception")])
def test_hardware_device_fault_is_reported_from_the_sync_and_nothing_touches_the_device(
        fake, lib_dir, tmp_path, monkeypatch, planted, code, text):
    flag = tmp_path / "fault"
    flag.write_text(planted)
    monkeypatch.setenv("FAKE_NPU_FAULT_ONCE", str(flag))
    world = thread_world(lib_dir)
    try:
        result = ranks.run_case(world, world.backends[0], BASE, CANN)
        sync = "aclrtSynchronizeStreamWithTimeout after aclnnAlltoAllvGroupedMatMul returned"
        syncs = [f for f in result.findings if sync in f.message]
        assert result.outcome == "failed" and syncs, [f.message for f in result.findings]
        assert any(f"returned {code}: EZ9999" in f.message and text in f.message for f in syncs)
        assert all(str(code) in f.message for f in syncs), "the others carry the fault's own text"
        assert not any("aclrtFree" in f.message for f in result.findings), "the cause, not a free"
        assert fake.fake_releases_after_fault() == 0, "no free or destroy on the faulted device"
        # Every rank shares the one faulted process here: each is poisoned by its own sync, or
        # (a rank done before the fault was reported) by its next runtime call.
        again = ranks.run_case(world, world.backends[0], BASE, CANN)
        assert again.findings and all("unusable after a device fault" in f.message or "507899" in f.message
                                      for f in again.findings), [f.message for f in again.findings]
        assert all(b.poisoned is not None for b in backends(world))
        calls = fake.fake_calls_after_fault()
    finally:
        close(world)
    assert fake.fake_calls_after_fault() == calls, "closing a poisoned rank abandons its resources"
    assert fake.fake_releases_after_fault() == 0
    assert not flag.exists() and list((tmp_path / "npu").glob("device-*.poisoned"))


def test_hardware_sync_timeout_leaves_the_launch_running_and_its_memory_alone(fake, lib_dir,
                                                                              monkeypatch):
    monkeypatch.setenv("FAKE_ACL_KERNEL_MS", "1500")
    world = thread_world(lib_dir, sync_timeout_ms=100)
    try:
        result = ranks.run_case(world, world.backends[0], BASE, CANN)
    finally:
        close(world)
    texts = [f.message for f in result.findings]
    assert any("returned 507046" in t and "keeps running" in t for t in texts), texts
    assert fake.fake_freed_while_running() == 0, "nothing freed while the device still writes it"


def test_hardware_a_failed_second_stage_is_synced_and_its_executor_destroyed(fake, lib_dir):
    case = BASE.with_(faults=(Fault("stage2", "workspace_short", 64),), side="invalid", clause="X")
    result = run_once(lib_dir, case)
    assert result.passed and [r.status2 for r in result.reports] == [161002] * 4
    records = fake.records()
    stage2 = [i for i, r in enumerate(records) if r["fn"] == "aclnnAlltoAllvGroupedMatMul.return"]
    syncs = [i for i, r in enumerate(records) if r["fn"] == "aclrtSynchronizeStreamWithTimeout"]
    assert len(stage2) == 4 and len(syncs) == 4 and min(syncs) > min(stage2), "W4: synced anyway"
    destroyed = {r["executor"] for r in records if r["fn"] == "aclDestroyAclOpExecutor" and r["ret"] == 0}
    assert {records[i]["executor"] for i in stage2} <= destroyed, "L10: a failed launch's executor"


def test_hardware_a_cleanup_error_never_hides_the_primary_error(fake, lib_dir, monkeypatch):
    backend = A.AclnnBackend(str(lib_dir))
    ctx = one_rank()
    with ranks.bound(ctx):
        backend.open_rank(ctx)
        status, _, _ = backend.get_workspace_size(ctx, **single_call_args())
        assert status != 0  # the sim rejects ep=1; a call by hand for the second stage
        executor = B.Executor(B.PendingCall(backend.acl, A.OPERATOR.entry_points[0]), None)
        backend._pending = executor.call

        def launch(*_):
            raise RuntimeError("the primary error")

        def broken_free(self):
            raise R.AclError("aclrtFree returned 507899")
        monkeypatch.setattr(backend.acl, "aclnnAlltoAllvGroupedMatMul", launch)
        monkeypatch.setattr(M.DeviceBuffer, "free", broken_free)
        with pytest.raises(RuntimeError, match="the primary error") as err:
            backend.execute(ctx, np.zeros(64, np.uint8), 64, executor, None)
    assert any("aclrtFree returned 507899" in n for n in err.value.__notes__)
    monkeypatch.undo()
    backend.close()


# -- review 5.7: aclCreateTensor takes any descriptor ------------------------------------------


def test_hardware_aclcreatetensor_takes_what_opbase_takes_unless_strict(fake, lib_dir, monkeypatch):
    """opbase's aclCreateTensor refuses only null dims pointers, silently; FAKE_ACL_STRICT=1 makes
    the fake refuse every broken descriptor with a message (the sanitizer the adapter tests use)."""
    acl = A.OPERATOR.load(A.OPERATOR.find_libraries(str(lib_dir)))
    base = ctypes.c_void_p()
    assert acl.aclrtMalloc(ctypes.byref(base), 1024, 0) == 0
    i64 = ctypes.c_int64 * 2
    dims, contiguous = i64(4, 8), i64(8, 1)
    host = np.zeros(64, np.float16)  # not device memory
    broken = {"offset 3": (contiguous, 3, base.value),
              "strides past the storage": (i64(16, 1), 0, base.value),
              "unaligned data": (contiguous, 0, base.value + 16),
              "data outside every allocation": (contiguous, 0, host.ctypes.data),
              "null data": (contiguous, 0, None), "null strides": (None, 0, base.value)}

    def create(stride, offset, data):
        return acl.aclCreateTensor(dims, 2, 1, stride, offset, 2, dims, 2, data)  # FLOAT16, ND
    monkeypatch.delenv("FAKE_ACL_STRICT", raising=False)
    made = {what: create(*args) for what, args in broken.items()}
    assert all(made.values()), made
    assert acl.aclCreateTensor(None, 2, 1, contiguous, 0, 2, dims, 2, base.value) is None
    assert acl.message() == "", "opbase refuses null dims without a message"
    null_strides = [r for r in fake.records() if r["fn"] == "aclCreateTensor" and "id" in r][-1]
    assert null_strides["strides"] == [8, 1], "a null stride means contiguous strides"
    monkeypatch.setenv("FAKE_ACL_STRICT", "1")
    for what, args in broken.items():
        assert create(*args) is None, what
        assert acl.message(), what
    monkeypatch.setenv("FAKE_ACL_STRICT", "yes")
    assert create(contiguous, 0, base.value) is None
    assert acl.message() == ("FAKE_ACL_STRICT=yes: expected 1 (check every descriptor) or 0 / unset "
                             "(lenient, as opbase's aclCreateTensor)")
    for handle in made.values():
        assert acl.aclDestroyTensor(handle) == 0
    assert acl.aclrtFree(base) == 0


@pytest.mark.parametrize("where", ["host memory", "freed after the first stage"])
def test_hardware_a_descriptor_outside_device_memory_faults_at_the_sync(fake, lib_dir, monkeypatch,
                                                                        where):
    """The runtime takes a descriptor whose data is no live device memory (a host pointer, or
    memory freed behind the backend's back after the first stage); the first stage reads
    descriptors only and passes, and the launch faults on the device: AICore exception 507015 at
    the stream sync, the process poisoned, as a wild pointer does on hardware."""
    monkeypatch.delenv("FAKE_ACL_STRICT", raising=False)
    acl = A.OPERATOR.load(A.OPERATOR.find_libraries(str(lib_dir)))
    if where == "host memory":
        real = acl.aclCreateTensor
        host = np.zeros(1 << 16, np.uint8)
        monkeypatch.setattr(acl, "aclCreateTensor", lambda *a: real(*a[:8], host.ctypes.data))
    else:
        first = A.AclnnBackend.get_workspace_size

        def free_behind(self, ctx, **kw):
            status, size, executor = first(self, ctx, **kw)
            for t in executor.call.tensors.values():
                assert self.acl.aclrtFree(t.buffer.base) == 0
            return status, size, executor
        monkeypatch.setattr(A.AclnnBackend, "get_workspace_size", free_behind)
    world = thread_world(lib_dir)
    try:
        result = ranks.run_case(world, world.backends[0], BASE, CANN)
    finally:
        # The ranks share one faked process: a rank stopped before its own sync (its peers'
        # crash aborted the case) did not see the fault that poisoned that process.
        for backend in backends(world):
            if backend.poisoned is None:
                backend.poisoned = R.DeviceFault("a peer's sync", fake.fake_poisoned(), "")
        close(world)
    texts = [f.message for f in result.findings]
    assert result.outcome == "failed" and all(r.status1 == 0 for r in result.reports), texts
    assert any("returned 507015: EZ9999" in t and "aicore error exception" in t
               and "outside every device allocation" in t for t in texts), texts
    assert not any("999001" in t for t in texts), "nothing refused the descriptor"
    assert fake.fake_poisoned() == 507015


# -- C5, L9: aclrtMalloc's contract and the guards ---------------------------------------------


def test_hardware_a_write_into_malloc_padding_is_a_note_not_out_of_bounds(fake, lib_dir, monkeypatch):
    monkeypatch.setattr(callbacks, "MISCHIEF", {"pad": "gmm_y"})
    result = run_once(lib_dir)
    assert result.passed, [f.message for f in result.findings]
    notes = [n for r in result.reports for n in r.notes]
    assert len(notes) == 2 * 4, notes  # every rank, and the repeat run
    assert set(notes) == {"gmmY: wrote into aclrtMalloc padding (tolerated by the platform)"}


def test_hardware_buffers_follow_the_malloc_contract(fake, lib_dir):
    backend = A.AclnnBackend(str(lib_dir))
    ctx = one_rank()
    with ranks.bound(ctx):
        acl = backend._enter(ctx)
        buf = M.DeviceBuffer(acl, 70)
        short = M.DeviceBuffer(acl, 1000, tail=4096 + M.SHORT_WORKSPACE_SLACK)
        try:
            assert buf.base % 64 == 0, "the fake's aclrtMalloc is 64-byte aligned"
            assert buf.data % M.ALIGN == 0 and M.ALIGN == 512, "torch_npu's alignment"
            assert buf.guards[1][0] == buf.data + 96 + 32 and buf.padding == (buf.data + 70, 58)
            assert short.guards[1][1] >= 4096 + 512, "L9: the guard covers a 4 KiB shortfall"
        finally:
            buf.free()
            short.free()
    backend.close()


def test_hardware_a_short_workspace_gets_a_guard_beyond_its_shortfall(fake, lib_dir, monkeypatch):
    tails = []
    init = M.DeviceBuffer.__init__

    def spy(self, acl, nbytes, tail=M.GUARD_BYTES):
        tails.append((nbytes, tail))
        init(self, acl, nbytes, tail)
    monkeypatch.setattr(M.DeviceBuffer, "__init__", spy)
    case = BASE.with_(faults=(Fault("stage2", "workspace_short", 4096),), side="invalid", clause="X")
    result = run_once(lib_dir, case)
    assert result.passed
    workspace = [t for n, t in tails if t != M.GUARD_BYTES]
    assert len(workspace) == 4 and all(t >= 4096 + 512 for t in workspace)


def test_hardware_the_device_workspace_reaches_the_operator_poisoned(fake, lib_dir, monkeypatch):
    """As the harness's host workspace: every byte of the device workspace holds the protocol's
    poison when the second stage runs, so a stale read on the device gives NaNs too."""
    seen = []
    fill = M.DeviceBuffer.fill

    def looking(self, value, limit):
        fill(self, value, limit)
        seen.append((self.nbytes, bytes(np.unique(self.download()))))
    monkeypatch.setattr(M.DeviceBuffer, "fill", looking)
    result = run_once(lib_dir)
    assert result.passed, [f.message for f in result.findings]
    assert len(seen) == 2 * 4 and all(n > 0 for n, _ in seen)  # every rank, and the repeat run
    assert {b for _, b in seen} == {bytes([WORKSPACE_POISON_BYTE])}


def test_hardware_the_fake_malloc_reports_out_of_memory_with_el0004(fake, lib_dir):
    acl = A.OPERATOR.load(A.OPERATOR.find_libraries(str(lib_dir)))
    fake.fake_set_device_limit(1 << 20)
    try:
        ptr = ctypes.c_void_p()
        assert acl.aclrtMalloc(ctypes.byref(ptr), 2 << 20, 0) == 207001
        assert acl.message().startswith("EL0004")
    finally:
        fake.fake_set_device_limit(64 << 30)


# -- C4, L4, device ids ---------------------------------------------------------------------------


def test_hardware_device_option_is_a_base_offset_per_rank(fake, lib_dir, tmp_path, monkeypatch):
    world = thread_world(lib_dir, device=2)
    owners = {}
    try:
        result = ranks.run_case(world, world.backends[0], BASE, CANN)
        assert result.passed, [f.message for f in result.findings]
        owners = {p.name: int(p.read_text()) for p in (tmp_path / "npu").glob("device-*.owner")}
    finally:
        close(world)
    assert sorted(owners) == [f"device-{d}.owner" for d in (2, 3, 4, 5)]
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0,1,2,3")
    backend = A.AclnnBackend(str(lib_dir), device=3)
    ctx = RankContext(1, 4, "910_95", None, "g")
    with pytest.raises(R.AclError, match=r"rank 1 needs logical device 4 \(device=3 \+ LOCAL_RANK 1\) "
                                         r"but 4 are visible"):
        backend.open_rank(ctx)
    backend.close()


@pytest.mark.parametrize("soc, message", [
    ("Ascend910_9391", "this host's NPU is Ascend910_9391 (an A3 host), not 910_95: run with --product A3"),
    ("Ascend910B1", "this host's NPU is Ascend910B1 (not a product the suite knows"),
])
def test_hardware_a_soc_of_another_product_fails_with_one_line(fake, lib_dir, monkeypatch, soc, message):
    monkeypatch.setenv("FAKE_NPU_SOC", soc)
    backend = A.AclnnBackend(str(lib_dir))
    ctx = one_rank()
    with ranks.bound(ctx), pytest.raises(R.AclError) as err:
        backend.open_rank(ctx)
    assert message in str(err.value) and "\n" not in str(err.value)
    backend.close()


def test_hardware_logical_devices_truncate_like_the_runtime(fake, lib_dir, monkeypatch):
    acl = A.OPERATOR.load(A.OPERATOR.find_libraries(str(lib_dir)))
    count = ctypes.c_uint32()
    for physical, visible in [("4-7", None), ("4-7", "0,2,1,3"), ("8", "1,9,2"), ("16", "3, 5")]:
        monkeypatch.setenv("FAKE_NPU_DEVICES", physical)
        if visible is None:
            monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
        else:
            monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", visible)
        assert acl.aclrtGetDeviceCount(ctypes.byref(count)) == 0
        assert count.value == len(npu_host.visible_devices()), (physical, visible)
    assert count.value == 2
    assert acl.aclInit(None) in (0, R.ACL_ERROR_REPEAT_INITIALIZE)
    assert acl.aclrtSetDevice(2) == npu_host.SET_DEVICE_INVALID, "logical 2 of 2 visible"
    assert "2 device(s) visible (ASCEND_RT_VISIBLE_DEVICES=3, 5)" in acl.message()
    assert acl.aclrtSetDevice(1) == 0 and acl.aclrtResetDevice(1) == 0
    monkeypatch.setenv("FAKE_NPU_SOC", "Ascend910_9382")
    assert acl.aclrtGetSocName() == b"Ascend910_9382"


# -- device health across processes (npu_host's files) ------------------------------------------


def _acl_process(lib_dir: Path, body: str, env: dict) -> subprocess.CompletedProcess:
    script = ("import ctypes, os, sys\n"
              f"lib = ctypes.CDLL({str(lib_dir / 'libascendcl.so')!r})\n"
              "assert lib.aclInit(None) == 0\n" + body)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_hardware_a_faulted_or_killed_owner_keeps_the_device_until_recovery(fake, lib_dir, tmp_path):
    env = {**os.environ, "FAKE_NPU_STATE_DIR": str(tmp_path / "npu"), "FAKE_NPU_RECOVERY_SECONDS": "1.5"}
    killed = _acl_process(lib_dir, "assert lib.aclrtSetDevice(2) == 0\n"
                          "os.kill(os.getpid(), 9)\n", env)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "npu" / "device-2.owner").exists(), "a killed process never released it"
    probe = "print(lib.aclrtSetDevice(int(sys.argv[1])) if len(sys.argv) > 1 else lib.aclrtSetDevice(2))\n"
    first = _acl_process(lib_dir, probe, env)
    assert first.stdout.strip() == str(npu_host.TSD_WAIT_FAIL), first.stderr
    assert npu_host.set_device_error(2, env) == npu_host.TSD_WAIT_FAIL, "the same model as npu_host"
    exited = _acl_process(lib_dir, "", env)
    assert "exits after aclInit without aclFinalize" in exited.stderr
    import time
    time.sleep(1.6)
    assert _acl_process(lib_dir, probe, env).stdout.strip() == "0", "recovered after the delay"


# -- L3, C7: the kernel package, and the runtime's own text on a status ---------------------------


def test_hardware_missing_kernels_fail_once_with_the_fix_not_as_statuses(fake, lib_dir, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("ASCEND_OPP_PATH", str(tmp_path / "opp"))
    backend = A.AclnnBackend(str(lib_dir))
    ctx = one_rank()
    with ranks.bound(ctx), pytest.raises(R.AclError) as err:
        backend.open_rank(ctx)
    assert "no binary_info_config.json under ASCEND_OPP_PATH" in str(err.value)
    assert "set_env.sh" in str(err.value)
    backend.close()
    # Without that check (the code the review read) every success case became a status finding;
    # it now carries the runtime's own text.
    monkeypatch.setattr(B, "ensure_opp", lambda lib_dir: None)
    result = run_once(lib_dir)
    status = [f for f in result.findings if f.kind == "status"]
    assert len(status) == 4 and all(
        "first stage returned 561003" in f.message and "the runtime says: EZ1001" in f.message
        and "binary_info_config.json" in f.message for f in status), [f.message for f in status]


# -- C3: the operator library, in op-plugin's order ------------------------------------------------


def test_hardware_operator_library_is_resolved_in_op_plugin_order(lib_dir, tmp_path):
    home = tmp_path / "cann"
    lib64, opp = home / "lib64", home / "opp"
    lib64.mkdir(parents=True)
    for name in ("libascendcl.so", "libnnopbase.so", "libhccl.so", "libopapi.so"):
        (lib64 / name).symlink_to(lib_dir / name)
    env = {"ASCEND_HOME_PATH": str(home)}
    assert A.OPERATOR.find_libraries(None, env)["opapi"] == lib64 / "libopapi.so"
    (lib64 / "libopapi_math.so").write_bytes(b"not an ELF object")  # exports nothing: skipped
    (lib64 / "libopapi_transformer.so").symlink_to(lib_dir / "libopapi.so")
    assert A.OPERATOR.find_libraries(None, env)["opapi"] == lib64 / "libopapi_transformer.so"
    (opp / "vendors").mkdir(parents=True)
    (opp / "vendors" / "config.ini").write_text("[vendor]\nload_priority=customize,acme_transformer\n")
    vendor = opp / "vendors" / "acme_transformer" / "op_api" / "lib"
    vendor.mkdir(parents=True)
    (vendor / "libcust_opapi.so").symlink_to(lib_dir / "libopapi.so")
    assert A.OPERATOR.find_libraries(None, env)["opapi"] == vendor / "libcust_opapi.so"
    custom = tmp_path / "custom"
    (custom / "op_api" / "lib").mkdir(parents=True)
    (custom / "op_api" / "lib" / "libcust_opapi.so").symlink_to(lib_dir / "libopapi.so")
    env["ASCEND_CUSTOM_OPP_PATH"] = f"{tmp_path / 'nothing'}:{custom}"
    paths = A.OPERATOR.find_libraries(None, env)
    assert paths["opapi"] == paths["opapi_v2"] == custom / "op_api" / "lib" / "libcust_opapi.so"
    assert oplib.op_library_candidates(lib64, env)[1:] == [
        vendor / "libcust_opapi.so", lib64 / "libopapi_math.so", lib64 / "libopapi_transformer.so",
        lib64 / "libopapi.so"]


def test_hardware_the_backend_reports_which_library_provides_the_op(lib_dir, monkeypatch):
    monkeypatch.delenv("ASCEND_CUSTOM_OPP_PATH", raising=False)
    backend = A.AclnnBackend(str(lib_dir))
    assert backend.op_library == lib_dir / "libopapi.so"
    assert backend.provenance()["op_library"] == str(lib_dir / "libopapi.so")
    assert oplib.exported_symbols(lib_dir / "libopapi.so", oplib.entry_symbols(
        "aclnnAlltoAllvGroupedMatMulV2")) == set(oplib.entry_symbols("aclnnAlltoAllvGroupedMatMulV2"))


# -- the V2 entry point ------------------------------------------------------------------------------


def test_hardware_v2_is_called_with_comm_mode_only_when_the_library_has_it(fake, lib_dir, monkeypatch):
    seen = []
    real = ranks.first_stage
    monkeypatch.setattr(ranks, "first_stage", lambda args, null: (seen.append(args), real(args, null))[1])
    backend = A.AclnnBackend(str(lib_dir))
    assert ENTRY_V2 in backend.capabilities
    ctx = one_rank()
    try:
        with ranks.bound(ctx):
            for mode in ("ai_cpu", None):
                backend.get_workspace_size(ctx, comm_mode=mode, **single_call_args())
            backend.get_workspace_size(ctx, **single_call_args())
    finally:
        backend.close()
    calls = [r for r in fake.records() if r["fn"].startswith("aclnnAlltoAllvGroupedMatMul")
             and r["fn"].endswith("GetWorkspaceSize")]
    assert [(r["fn"], r.get("comm_mode", "absent")) for r in calls] == [
        ("aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize", "ai_cpu"),
        ("aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize", None),
        ("aclnnAlltoAllvGroupedMatMulGetWorkspaceSize", "absent")]
    assert [a.get("comm_mode", "absent") for a in seen] == ["ai_cpu", None, "absent"]

    older = A.AclnnBackend(str(build(default_root(), v2=False)))
    assert ENTRY_V2 not in older.capabilities and "opapi_v2" not in older.paths
    with pytest.raises(NotApplicable, match="this CANN has no aclnnAlltoAllvGroupedMatMulV2"):
        older.get_workspace_size(ctx, comm_mode="ai_cpu", **single_call_args())


@pytest.mark.parametrize("case, soc, status", [(V2_AI_CPU, SOC_910_95, 0),
                                               (V2_CCU_ON_A3, "Ascend910_9391", 161002)],
                         ids=["ai_cpu on 910_95", "ccu on A3"])
def test_hardware_v2_cases_reach_the_simulator_through_the_c_fake(fake, lib_dir, monkeypatch, case,
                                                                  soc, status):
    """A V2 case through V2's symbols to the sim: ai_cpu computes and is judged, ccu on A3 is the
    contract's 161002 from the first stage on every rank (PRODUCT.A3.commMode)."""
    monkeypatch.setenv("FAKE_BEHAVIOR", "cann-2026.07")
    monkeypatch.setenv("FAKE_NPU_SOC", soc)
    world = ThreadWorld(case.ep, lambda: ranks.Bound(A.AclnnBackend(str(lib_dir))),
                        timeout=WORLD_TIMEOUT)
    try:
        result = ranks.run_case(world, world.backends[0], case, V2_CANN)
    finally:
        close(world)
    assert result.passed, (result.reason, [f.message for f in result.findings])
    assert [r.status1 for r in result.reports] == [status] * case.ep
    stages = {(r["fn"], r.get("comm_mode")) for r in fake.records()
              if r["fn"].startswith("aclnnAlltoAllvGroupedMatMul") and "." not in r["fn"]}
    want = {("aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize", case.comm_mode)}
    if status == 0:
        want.add(("aclnnAlltoAllvGroupedMatMulV2", None))
        assert result.plan.data_mode, "the outputs were computed and judged"
    assert stages == want, "V2's symbols only, with the case's commMode"


def test_hardware_v2_on_a_cann_without_it_is_not_applicable(fake, monkeypatch):
    monkeypatch.setenv("FAKE_BEHAVIOR", "cann-2026.07")
    older = build(default_root(), v2=False)
    world = ThreadWorld(4, lambda: ranks.Bound(A.AclnnBackend(str(older))), timeout=WORLD_TIMEOUT)
    try:
        result = ranks.run_case(world, world.backends[0], V2_AI_CPU, V2_CANN)
    finally:
        close(world)
    assert result.outcome == "not_applicable", [f.message for f in result.findings]
    assert result.reason == "the backend cannot express this call (needs entry_v2)"


# -- L8, W8 -----------------------------------------------------------------------------------------


def test_hardware_rank_processes_keep_one_cann_runtime(tmp_path):
    assert A.RANK_ENV == {"TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    mine = tmp_path / "cann" / "lib64" / "libascendcl.so"
    maps = (f"7f00-7f10 r-xp 00000000 08:01 1 {mine}\n"
            "7f10-7f20 r-xp 00000000 08:01 2 /usr/local/Ascend/latest/lib64/libascendcl.so\n"
            "7f20-7f30 r--p 00000000 08:01 2 /usr/local/Ascend/latest/lib64/libascendcl.so\n"
            "7f30-7f40 rw-p 00000000 00:00 0 \n")
    assert R.foreign_runtimes(mine, maps) == ["/usr/local/Ascend/latest/lib64/libascendcl.so"]
    assert R.foreign_runtimes(mine, maps.splitlines()[0]) == []


def test_hardware_acl_config_reaches_acl_init(fake, lib_dir, tmp_path):
    config = tmp_path / "acl.json"
    config.write_text(json.dumps({"op_debug_config": {"enable_debug_kernel": "on"}}))
    fake.fake_reset()  # a fresh process: its first aclInit
    backend = A.factory(lib_dir=str(lib_dir), acl_config=str(config))
    ctx = one_rank()
    with ranks.bound(ctx):
        backend.open_rank(ctx)
    backend.close()
    init = [r for r in fake.records() if r["fn"] == "aclInit"]
    assert init and init[0] == {**init[0], "config": str(config), "ret": 0}
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ValueError, match="holds list, expected a JSON object"):
        A.factory(lib_dir=str(lib_dir), acl_config=str(tmp_path / "list.json"))


# -- preflight -----------------------------------------------------------------------------------------


def _preflight(lib_dir: Path, product: str | None = "910_95", **env: str) -> dict[str, object]:
    base = {"PATH": os.environ["PATH"], "ASCEND_HOME_PATH": str(lib_dir.parent),
            "FAKE_NPU_SOC": SOC_910_95, **env}
    return {c.name: c for c in A.preflight(product, {k: v for k, v in base.items() if v is not None})}


def test_hardware_preflight_says_what_this_host_has(lib_dir, tmp_path):
    checks = _preflight(lib_dir)
    assert all(c.ok for c in checks.values()), [c.line() for c in checks.values()]
    assert set(checks) == {"CANN lib64", "ASCEND_OPP_PATH", "kernel binaries", "operator library",
                           "V2 entry point", "driver libraries", "device count", "SoC"}
    assert str(lib_dir / "libopapi.so") in checks["operator library"].detail
    assert checks["device count"].detail.startswith("16 visible")

    wrong = _preflight(lib_dir, FAKE_NPU_SOC="Ascend910_9391")["SoC"]
    assert not wrong.ok and "is A3, --product is 910_95" in wrong.line()
    assert "or pass --product A3" in wrong.line()
    assert not _preflight(lib_dir, ASCEND_RT_VISIBLE_DEVICES="")["device count"].ok
    no_opp = _preflight(lib_dir, ASCEND_OPP_PATH=str(tmp_path))["ASCEND_OPP_PATH"]
    assert not no_opp.ok and "holds no binary_info_config.json" in no_opp.line()
    older = _preflight(build(default_root(), v2=False))["V2 entry point"]
    assert not older.ok and not older.blocking and older.line().startswith("[warn]")


def test_hardware_preflight_names_set_env_when_the_driver_libraries_are_missing(lib_dir, tmp_path):
    lib64 = tmp_path / "cann" / "lib64"
    lib64.mkdir(parents=True)
    (lib64 / "libascendcl.so").write_bytes(b"\x7fELF broken")  # what a missing dependency looks like
    for name in ("libnnopbase.so", "libhccl.so", "libopapi.so"):
        (lib64 / name).symlink_to(lib_dir / name)
    checks = _preflight(lib64)
    driver = checks["driver libraries"]
    assert not driver.ok and "does not load" in driver.detail and "set_env.sh" in driver.fix
    with pytest.raises(R.AclError, match=r"set_env\.sh"):
        R.Acl(A.OPERATOR.find_libraries(str(lib64)), A.OPERATOR.prototypes)
