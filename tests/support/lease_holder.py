"""Run by tests/test_devices.py inside separate pytest processes (not collected by `pytest tests`:
the file name does not start with test_). It leases devices through the plugin's configuration
(--devices, --device-lock-dir, --world-sizes) and logs when it held which device."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from fixtures import devices


def _meet(folder: Path, parties: int, timeout: float = 60) -> None:
    """Start together with the other processes of the test (so that they really compete)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("ready-*"))) < parties:
        assert time.monotonic() < deadline, "the other lease holders never started"
        time.sleep(0.01)


def test_hold_devices_repeatedly() -> None:
    leaser = devices.leaser()
    assert leaser is not None and leaser.reserve == 4
    rounds = int(os.environ.get("LEASE_ROUNDS", "10"))
    _meet(Path(os.environ["LEASE_SYNC_DIR"]), int(os.environ.get("LEASE_PARTIES", "1")))
    with open(os.environ["LEASE_LOG"], "a", encoding="utf-8") as log:
        for _ in range(rounds):
            held = leaser.take(4)
            start = time.monotonic()
            time.sleep(0.03)
            end = time.monotonic()
            leaser.give_back()
            log.write(json.dumps({"pid": os.getpid(), "devices": list(held), "start": start,
                                  "end": end}) + "\n")
            log.flush()
            time.sleep(0.12)  # a window for the other process (leasing polls, it does not queue)


def test_worker_count() -> None:
    path = os.environ.get("WORKER_COUNT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "none") + "\n")
