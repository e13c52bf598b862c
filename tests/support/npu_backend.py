"""A backend for the pool's hardware tests: the sim, run on the NPU host the doubles model
(tests/fakes/npu_host.py), so that the pool meets what a real runtime does to it.

- `prepare_process` sets the rank's device (`LOCAL_RANK` among ASCEND_RT_VISIBLE_DEVICES) as
  aclrtSetDevice would: 107001 for an id the runtime does not see, 507033 while the device
  recovers from a fault or from a killed owner; it claims the device, `close_rank` releases it.
- A planted fault (FAKE_NPU_FAULT_ONCE) at a second stage poisons the rank's device for
  FAKE_NPU_RECOVERY_SECONDS and fails that call and every later one of the process (507015).
- `probe_devices` asks the same model whether the world's devices can be set.
- NPU_TEST_DEVICE_HANG="0,2": those ranks hang in their second stage inside
  `waiting_on_device("stream sync")`, as a rank stuck in aclrtSynchronizeStream.
- NPU_TEST_WRONG_SOC=1: open_rank resets its device and refuses the host, as a backend that
  finds another SoC than the product's does (every start fails, on healthy devices).
- POOL_SETUP_DIR: each rank writes what it saw at open_rank (its RANK_ENV variables, HCCL
  timeouts, case timeout) and a note when close_rank ran.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from fixtures.protocol import RankContext, waiting_on_device
from tests.fakes import npu_host
from tests.support.pool_backends import AnyWorld

WORLD = "processes"
DIST_BACKEND = "gloo"
RANK_ENV: dict[str, str | None] = {"NPU_TEST_QUEUE": "1", "NPU_TEST_COMPACT": None}
SEEN = ("NPU_TEST_QUEUE", "NPU_TEST_COMPACT", "HCCL_EXEC_TIMEOUT", "HCCL_CONNECT_TIMEOUT",
        "ASCEND_RT_VISIBLE_DEVICES")
DEVICE_FAULT = f"aclrtSynchronizeStreamWithTimeout returned {npu_host.AICORE_EXCEPTION}"


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def prepare_process(rank: int, world_size: int, local_rank: int) -> None:
    code = npu_host.set_device_error(local_rank)
    if code:
        raise RuntimeError(f"rank {rank}: aclrtSetDevice({local_rank}) returned {code}")
    npu_host.claim(local_rank)


def probe_devices(env: dict[str, str]) -> str | None:
    """None when every device of the world can be set, else which cannot and the code."""
    size = int(env.get("WORLD_SIZE", "1"))
    bad = [f"aclrtSetDevice({d}) returned {code}" for d in range(size)
           if (code := npu_host.set_device_error(d, env))]
    return "; ".join(bad) or None


def _record(name: str, data: dict) -> None:
    folder = os.environ.get("POOL_SETUP_DIR")
    if folder:
        (Path(folder) / f"{name}-{os.getpid()}.json").write_text(json.dumps(data))


class NpuSim(AnyWorld):
    faulted = False

    def open_rank(self, ctx: RankContext) -> None:
        if os.environ.get("NPU_TEST_WRONG_SOC"):
            npu_host.release(_local_rank())
            raise RuntimeError(f"this host is {npu_host.soc()}, not the product's SoC")
        _record(f"open{ctx.rank}", {"env": {k: os.environ.get(k) for k in SEEN},
                                    "case_timeout": ctx.case_timeout})

    def execute(self, ctx: RankContext, workspace, workspace_size, executor, stream) -> int:
        if self.faulted:
            raise RuntimeError(f"{DEVICE_FAULT} (the device faulted earlier in this process)")
        if npu_host.take_planted_fault():
            self.faulted = True
            npu_host.poison((npu_host.visible_devices()[_local_rank()],))
            raise RuntimeError(f"{DEVICE_FAULT} (AICore exception)")
        hang = os.environ.get("NPU_TEST_DEVICE_HANG", "")
        if str(ctx.rank) in hang.split(","):
            with waiting_on_device("stream sync"):
                time.sleep(3600)
        return super().execute(ctx, workspace, workspace_size, executor, stream)

    def close_rank(self, ctx: RankContext) -> None:
        npu_host.release(_local_rank())
        _record(f"closed{ctx.rank}", {"rank": ctx.rank})


def factory(**options) -> NpuSim:
    return NpuSim(**options)
