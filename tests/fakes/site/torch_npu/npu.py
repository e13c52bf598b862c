"""torch_npu.npu on the fake device: which device this process pinned, and a no-op sync."""

from __future__ import annotations

import os

_state = {"device": None, "synchronized": 0, "transferred": 0}
DEVICE_COUNT = int(os.environ.get("FAKE_NPU_COUNT", "16"))


def set_device(device: int) -> None:
    index = int(getattr(device, "index", device))
    if not 0 <= index < DEVICE_COUNT:
        raise RuntimeError(f"fake torch_npu: invalid device {device!r} (0..{DEVICE_COUNT - 1})")
    _state["device"] = index


def current_device() -> int:
    return 0 if _state["device"] is None else _state["device"]


def device_count() -> int:
    return DEVICE_COUNT


def is_available() -> bool:
    return True


def synchronize(device: int | None = None) -> None:
    _state["synchronized"] += 1


def pinned_device() -> int | None:
    """The device set_device pinned (None if never called): what the tests check."""
    return _state["device"]


def count_transfer(elements: int) -> None:
    _state["transferred"] += elements


def transferred_elements() -> int:
    """How many elements crossed host to device through Tensor.npu() so far."""
    return _state["transferred"]
