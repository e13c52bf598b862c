"""The NPU host the doubles pretend to be: its devices, which of them a process sees, and their
health after a fault. Both doubles (the fake torch_npu here, the C fake of tests/fakes/acl) read
the same environment and state files, so a test plants one host for either backend.

- `FAKE_NPU_DEVICES`: the host's physical device ids (a count `16`, a range `0-15` or a list
  `4,5,6,7`; default 16 devices, 0-15). Logical id i is the i-th of them, as inside a container
  made by the Ascend docker runtime, where /dev/davinci<N> keep their physical numbers.
- `ASCEND_RT_VISIBLE_DEVICES`: logical ids, ascending only. The runtime keeps the ids before the
  first invalid one (out of range, repeated or not ascending) and silently drops the rest
  (envref_07_0028). Unset: every device is visible.
- `FAKE_NPU_SOC`: the SoC name the runtime reports (default: Ascend910_9391, an Atlas A3 die;
  Ascend950PR_9599 stands for Ascend 950, Ascend910B1 for an Atlas A2 host).
- `FAKE_NPU_STATE_DIR`: where device health lives (unset: devices never fail). A file
  `device-<physical id>.poisoned` holds the unix time until which a fresh process cannot set that
  device (507033, "tsd client wait response fail"): the recovery delay after a device fault.
  A process that sets a device claims it (`device-<physical id>.owner`, its pid) and releases it
  when it resets the device; a device still claimed by a process that died without releasing it
  (SIGKILL) turns poisoned for the recovery delay when the next process tries it.
- `FAKE_NPU_FAULT_ONCE`: a flag file. When it exists at a second stage, the double removes it,
  raises a device fault (AICore exception 507015 at the next stream sync), marks every device of
  the process poisoned for `FAKE_NPU_RECOVERY_SECONDS` (default 4) and fails every later runtime
  call of that process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

DEFAULT_DEVICES = 16
DEFAULT_SOC = "Ascend910_9391"
DEFAULT_RECOVERY = 4.0
SET_DEVICE_INVALID = 107001  # ACL_ERROR_RT_INVALID_DEVICEID
TSD_WAIT_FAIL = 507033  # a device still releasing a killed process's resources
AICORE_EXCEPTION = 507015


def physical_devices(env: Mapping[str, str] | None = None) -> tuple[int, ...]:
    env = os.environ if env is None else env
    raw = env.get("FAKE_NPU_DEVICES", "").strip()
    if not raw:
        return tuple(range(DEFAULT_DEVICES))
    if raw.isdigit():
        return tuple(range(int(raw)))
    out: list[int] = []
    for part in raw.split(","):
        lo, _, hi = part.strip().partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def visible_devices(env: Mapping[str, str] | None = None) -> tuple[int, ...]:
    """The physical ids this process sees, in logical order (the runtime's silent truncation)."""
    env = os.environ if env is None else env
    phys = physical_devices(env)
    raw = env.get("ASCEND_RT_VISIBLE_DEVICES")
    if raw is None:
        return phys
    seen: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit():
            break
        logical = int(part)
        if logical >= len(phys) or (seen and logical <= seen[-1]):
            break
        seen.append(logical)
    return tuple(phys[i] for i in seen)


def soc(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("FAKE_NPU_SOC", DEFAULT_SOC)


def _state(env: Mapping[str, str]) -> Path | None:
    raw = env.get("FAKE_NPU_STATE_DIR", "").strip()
    return Path(raw) if raw else None


def set_device_error(device: int, env: Mapping[str, str] | None = None) -> int:
    """0 when this process may set logical device `device`, else the runtime's error code."""
    env = os.environ if env is None else env
    visible = visible_devices(env)
    if not 0 <= device < len(visible):
        return SET_DEVICE_INVALID
    state = _state(env)
    if state is not None:
        mark = state / f"device-{visible[device]}.poisoned"
        try:
            until = float(mark.read_text().strip() or 0)
        except (OSError, ValueError):
            until = 0.0
        if until > time.time():
            return TSD_WAIT_FAIL
        owner = state / f"device-{visible[device]}.owner"
        try:
            pid = int(owner.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and not _alive(pid):
            owner.unlink(missing_ok=True)
            poison((visible[device],), env)
            return TSD_WAIT_FAIL
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(device: int, env: Mapping[str, str] | None = None) -> None:
    """This process now holds logical `device` (set-device succeeded)."""
    env = os.environ if env is None else env
    state, visible = _state(env), visible_devices(env)
    if state is not None and 0 <= device < len(visible):
        state.mkdir(parents=True, exist_ok=True)
        (state / f"device-{visible[device]}.owner").write_text(f"{os.getpid()}\n")


def release(device: int, env: Mapping[str, str] | None = None) -> None:
    """This process reset logical `device`: its resources are released at once."""
    env = os.environ if env is None else env
    state, visible = _state(env), visible_devices(env)
    if state is not None and 0 <= device < len(visible):
        (state / f"device-{visible[device]}.owner").unlink(missing_ok=True)


def take_planted_fault(env: Mapping[str, str] | None = None) -> bool:
    """True once per planted fault: the flag file is removed by the process that takes it."""
    env = os.environ if env is None else env
    flag = env.get("FAKE_NPU_FAULT_ONCE", "").strip()
    if not flag:
        return False
    try:
        os.unlink(flag)
    except FileNotFoundError:
        return False
    return True


def poison(devices: tuple[int, ...], env: Mapping[str, str] | None = None) -> None:
    """Mark physical `devices` unusable for fresh processes for the recovery delay."""
    env = os.environ if env is None else env
    state = _state(env)
    if state is None:
        return
    state.mkdir(parents=True, exist_ok=True)
    until = time.time() + float(env.get("FAKE_NPU_RECOVERY_SECONDS", DEFAULT_RECOVERY))
    for d in devices:
        (state / f"device-{d}.poisoned").write_text(f"{until:.3f}\n")
