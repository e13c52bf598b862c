"""torch_npu.npu on the fake device: the host of tests/fakes/npu_host.py, and the task queue.

Devices are logical ids among ASCEND_RT_VISIBLE_DEVICES (truncated as the runtime does):
`set_device` fails with 107001 beyond them and with 507033 on a device still recovering from a
fault or from a killed owner; a device set is claimed for this process and released by
`reset_device` (npu_host's owner files). `get_device_name` is FAKE_NPU_SOC.

The task queue follows torch_npu (OptionsManager.cpp, NPUQueue.cpp, OpParamMaker.cpp):
TASK_QUEUE_ENABLE is read once, on first use (unset: 1; ASCEND_LAUNCH_BLOCKING=1 forces 0; any
value but 0, 1, 2 is an error). A failure inside the queue is written to stderr as ExecFuncOpApi's
LOG(ERROR) does and parks the queue in ERROR_EXIT; the next `synchronize` or enqueue raises the
code-less "The Inner error is reported as above..." once (CAN_EXIT), after which the consumer
thread is gone and every later enqueue is dropped ("Task queue thread is exit, can't call
Enqueue()"). The queue is per thread here: one thread is one rank's host thread.

The aclnn cache opbase keeps for torch_npu (`pta_cache`, `pta_cache_limit`) is per process, as
opbase's cache manager is.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import Any

from tests.fakes import npu_host

_state = {"device": None, "synchronized": 0, "transferred": 0}
_queue = threading.local()  # status: "RUN", "ERROR_EXIT" or "CAN_EXIT"; repo: what failed
_options: dict[str, int] = {}
_claimed: set[int] = set()  # the devices this process set
_process: dict[str, Any] = {"fault": None}  # the device fault of this process, once one happened
PTA_CACHE_LIMIT, PTA_CACHE_MAX = 10000, 10000000  # opbase op_cache.h K_CACHE_LIMIT, K_MAX_CACHE_LIMIT
ERR_SUFFIX = "\n[ERROR] {ts} (PID:{pid}, Device:{dev}, RankID:-1) ERR00100 PTA call acl api failed"


def pta_error() -> str:
    """PTA_ERROR(ErrCode::ACL) of NPUException.cpp; empty under TORCH_NPU_COMPACT_ERROR_OUTPUT."""
    if compact_errors():
        return ""
    return ERR_SUFFIX.format(ts=time.strftime("%Y-%m-%d-%H:%M:%S"), pid=os.getpid(),
                             dev=current_device())


def task_queue_enable() -> int:
    """OptionsManager::GetTaskQueueEnable: read once per process."""
    if "task_queue" not in _options:
        if os.environ.get("ASCEND_LAUNCH_BLOCKING", "") == "1":
            _options["task_queue"] = 0
        else:
            raw = os.environ.get("TASK_QUEUE_ENABLE")
            try:
                value = 1 if raw is None else int(raw.strip() or "0")
            except ValueError:
                value = -1
            if value not in (0, 1, 2):
                raise RuntimeError("TASK_QUEUE_ENABLE should be 0, 1 or 2" + pta_error())
            _options["task_queue"] = value
    return _options["task_queue"]


def pta_cache_limit() -> int:
    """How many executors opbase's aclnn cache keeps (op_cache.cpp), read once per process: 0
    (nothing cached) when DISABLE_L2_CACHE is set to any value (CheckCacheable), else
    ACLNN_CACHE_LIMIT (10000 when unset or not a number, at most 10000000)."""
    if "pta_cache" not in _options:
        if os.environ.get("DISABLE_L2_CACHE") is not None:
            _options["pta_cache"] = 0
        else:
            raw = os.environ.get("ACLNN_CACHE_LIMIT", "")
            limit = int(raw) if raw.strip().isdigit() else PTA_CACHE_LIMIT
            _options["pta_cache"] = min(limit, PTA_CACHE_MAX)
    return _options["pta_cache"]


def compact_errors() -> bool:
    """OptionsManager::IsCompactErrorOutput: read once per process."""
    if "compact" not in _options:
        _options["compact"] = int(os.environ.get("TORCH_NPU_COMPACT_ERROR_OUTPUT", "0") or 0)
    return bool(_options["compact"])


def queue_status() -> str:
    return getattr(_queue, "status", "RUN")


def queue_failed(what: str, op_name: str) -> None:
    """A task failed in the consumer thread: ExecFuncOpApi logs it, the queue parks the error."""
    sys.stderr.write(f"[E{time.strftime('%m%d %H:%M:%S')} {os.getpid()} OpParamMaker.cpp:553] "
                     f"{what}\n")
    sys.stderr.flush()
    _queue.status = "ERROR_EXIT"
    _queue.repo = f"the current working operator name is {op_name}"


def raise_parked() -> None:
    """The parked error, once (NPUQueue.cpp): the code-less text, then CAN_EXIT for good."""
    if queue_status() == "ERROR_EXIT":
        _queue.status = "CAN_EXIT"
        raise RuntimeError(
            "The Inner error is reported as above. The process exits for this inner error, and "
            f"{_queue.repo}.\nSince the operator is called asynchronously, the stacktrace may be "
            "inaccurate. If you want to get the accurate stacktrace, please set the environment "
            "variable ASCEND_LAUNCH_BLOCKING=1.\nNote: ASCEND_LAUNCH_BLOCKING=1 will force ops to "
            "run in synchronous mode, resulting in performance degradation. Please unset "
            "ASCEND_LAUNCH_BLOCKING in time after debugging." + pta_error() + ".\n")


def enqueue_dropped(op_name: str) -> bool:
    """True when the consumer thread has exited: the task is dropped (only logged)."""
    raise_parked()
    if queue_status() == "CAN_EXIT":
        sys.stderr.write(f"[ERROR] Task queue thread is exit, can't call Enqueue() for executing "
                         f"and op name is={op_name}.\n")
        return True
    return False


def pta_cache() -> dict:
    """This process's aclnn cache: key -> workspace size (fresh with `_process`)."""
    return _process.setdefault("pta_cache", {})


def device_fault(code: int) -> None:
    """A device exception (AICore, HCCL): every later runtime call of this process fails."""
    _process["fault"] = code


def check_device(what: str) -> None:
    if _process["fault"] is not None:
        raise RuntimeError(f"{what}:torch_npu/csrc/core/npu/NPUStream.cpp NPU function error: "
                           f"{what}, error code is {_process['fault']}" + pta_error())


def set_device(device: Any) -> None:
    index = int(getattr(device, "index", device))
    check_device("aclrtSetDevice")
    code = npu_host.set_device_error(index)
    if code:
        raise RuntimeError(f"set_device:torch_npu/csrc/npu/Module.cpp NPU function error: "
                           f"c10_npu::SetDevice({index}), error code is {code}" + pta_error())
    npu_host.claim(index)
    _claimed.add(index)
    _state["device"] = index


@atexit.register
def _release_all() -> None:
    """A process that exits normally releases every device it set (SIGKILL skips this)."""
    for index in sorted(_claimed):
        npu_host.release(index)


def reset_device(device: int | None = None) -> None:
    index = current_device() if device is None else int(device)
    npu_host.release(index)
    _claimed.discard(index)
    if _state["device"] == index:
        _state["device"] = None


def current_device() -> int:
    return 0 if _state["device"] is None else _state["device"]


def device_count() -> int:
    return len(npu_host.visible_devices())


def get_device_name(device: Any = None) -> str:
    return npu_host.soc()


def is_available() -> bool:
    return device_count() > 0


def synchronize(device: int | None = None) -> None:
    """Waits for the queue and the device: a parked queue error or a device fault raises here."""
    _state["synchronized"] += 1
    raise_parked()
    check_device("c10_npu::npuSynchronizeDevice")


def pinned_device() -> int | None:
    """The device set_device pinned (None if never called): what the tests check."""
    return _state["device"]


def count_transfer(elements: int) -> None:
    _state["transferred"] += elements


def transferred_elements() -> int:
    """How many elements crossed host to device through Tensor.npu() so far."""
    return _state["transferred"]
