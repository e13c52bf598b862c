"""Device leasing: disjoint device sets across processes, released on death, `-n auto`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures import devices, plugin
from fixtures.devices import DeviceSpecError, Leaser, LeaseTimeout, acquire, discover, parse_devices

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "want"), [
    ("4", (0, 1, 2, 3)), ("0-3", (0, 1, 2, 3)), ("8-11", (8, 9, 10, 11)),
    ("0,1,4-6", (0, 1, 4, 5, 6)), (" 2 , 5 ", (2, 5)),
])
def test_device_specs(text: str, want: tuple[int, ...]) -> None:
    assert parse_devices(text) == want


@pytest.mark.parametrize("text", ["0", "a-b", "3-1", "0,,1", "1,1", "-2", "0-3,x"])
def test_a_bad_device_spec_says_what_is_accepted(text: str) -> None:
    with pytest.raises(DeviceSpecError) as err:
        parse_devices(text)
    assert str(err.value).startswith(f"--devices {text!r}:")
    assert "accepted: a count (16), a range (0-15)" in str(err.value)


def test_where_the_devices_come_from(tmp_path: Path) -> None:
    for name in ("davinci0", "davinci1", "davinci3", "davinci_manager", "devmm_svm"):
        (tmp_path / name).touch()
    assert discover("0-1", {"ASCEND_DEVICE_COUNT": "8"}, True, tmp_path) == (0, 1)
    assert discover(None, {"ASCEND_DEVICE_COUNT": "3"}, True, tmp_path) == (0, 1, 2)
    # hardware only: as many logical ids as /dev/davinci<N> files, never their (physical) numbers
    assert discover(None, {}, True, tmp_path) == (0, 1, 2)
    assert discover(None, {}, False, tmp_path) is None  # a CPU backend: no leasing
    with pytest.raises(DeviceSpecError, match="ASCEND_DEVICE_COUNT 'x'"):
        discover(None, {"ASCEND_DEVICE_COUNT": "x"})


def test_leases_in_one_process_are_disjoint_and_time_out_with_the_holders(tmp_path: Path) -> None:
    first = acquire(range(8), 4, tmp_path, timeout=1)
    second = acquire(range(8), 4, tmp_path, timeout=1)
    assert first.devices == (0, 1, 2, 3) and second.devices == (4, 5, 6, 7)  # aligned blocks
    with pytest.raises(LeaseTimeout, match=r"could not lease 2 of devices 0,1,2,3,4,5,6,7 within "
                                           r"0.2 s .*held: 0 \(pid "):
        acquire(range(8), 2, tmp_path, timeout=0.2)
    first.release()
    assert acquire(range(8), 2, tmp_path, timeout=1).devices == (0, 1)
    second.release()


def test_a_fragmented_host_still_leases_free_devices(tmp_path: Path) -> None:
    held = [acquire([d], 1, tmp_path, timeout=1) for d in (1, 3, 5)]
    assert acquire(range(6), 3, tmp_path, timeout=1).devices == (0, 2, 4)
    for lease in held:
        lease.release()


def test_a_world_too_large_for_the_host_is_named(tmp_path: Path) -> None:
    with pytest.raises(DeviceSpecError, match=r"a world of 16 ranks needs 16 devices but this host "
                                              r"has 8 .* torchrun"):
        acquire(range(8), 16, tmp_path)


def test_the_leaser_shares_one_lease_among_a_processes_worlds(tmp_path: Path) -> None:
    leaser = Leaser(range(16), tmp_path, timeout=1, reserve=8)
    assert leaser.take(4) == (0, 1, 2, 3) and leaser.take(8) == tuple(range(8))
    assert leaser.held == tuple(range(8))
    leaser.give_back()
    assert leaser.held  # one world still uses it
    leaser.give_back()
    assert leaser.held == () and devices.holders(tmp_path, range(16)) == "none held now"


def test_the_kernel_releases_a_dead_workers_devices(tmp_path: Path) -> None:
    code = ("import os, signal, sys; from fixtures.devices import acquire; "
            f"lease = acquire(range(4), 4, {str(tmp_path)!r}, timeout=5); print('held', flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL and "held" in proc.stdout
    assert acquire(range(4), 4, tmp_path, timeout=2).devices == (0, 1, 2, 3)


def test_two_pytest_processes_never_hold_the_same_device_at_once(tmp_path: Path) -> None:
    log = tmp_path / "holds.jsonl"
    env = {**os.environ, "LEASE_LOG": str(log), "LEASE_ROUNDS": "10", "LEASE_PARTIES": "2",
           "LEASE_SYNC_DIR": str(tmp_path / "sync")}
    cmd = [sys.executable, "-m", "pytest", "tests/support/lease_holder.py::test_hold_devices_repeatedly",
           "-q", "-p", "no:cacheprovider", "--devices", "0-5", "--world-sizes", "4",
           "--device-lock-dir", str(tmp_path / "locks"), "--lease-timeout", "60"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    holds = [json.loads(line) for line in log.read_text().splitlines()]
    pids = {h["pid"] for h in holds}
    assert len(pids) == 2 and len(holds) == 20
    # 6 devices, 4 per lease: any two holds of different processes share a device, so they
    # must never overlap in time.
    for a in holds:
        for b in holds:
            if a["pid"] < b["pid"] and set(a["devices"]) & set(b["devices"]):
                assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    first_end = {p: max(h["end"] for h in holds if h["pid"] == p) for p in pids}
    first_start = {p: min(h["start"] for h in holds if h["pid"] == p) for p in pids}
    assert max(first_start.values()) < min(first_end.values())  # they did run concurrently


def _config(**options) -> SimpleNamespace:
    defaults = {"backend": "torch", "devices": None, "world_sizes": "", "product": "910_95"}
    values = {**defaults, **options}
    return SimpleNamespace(getoption=lambda name, default=None: values.get(name, default))


def test_n_auto_is_devices_over_the_largest_world(monkeypatch) -> None:
    monkeypatch.delenv("ASCEND_DEVICE_COUNT", raising=False)
    auto = plugin.pytest_xdist_auto_num_workers
    assert auto(_config(devices="16", world_sizes="4,8")) == 2
    assert auto(_config(devices="0-15", world_sizes="4")) == 4
    assert auto(_config(devices="16")) == 1  # 910_95's largest world is 64: one worker
    assert auto(_config(devices="4", world_sizes="8")) == 1
    assert auto(_config(devices="16", backend="sim")) is None  # in-process: xdist's default
    assert auto(_config(world_sizes="4,8")) is None  # a CPU run without devices
    monkeypatch.setenv("ASCEND_DEVICE_COUNT", "16")
    assert auto(_config(world_sizes="8")) == 2


def test_n_auto_reaches_xdist(tmp_path: Path) -> None:
    log = tmp_path / "workers"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/support/lease_holder.py::test_worker_count", "-q",
         "-p", "no:cacheprovider", "-n", "auto", "--backend", "torch", "--devices", "0-23",
         "--world-sizes", "4,8"],
        cwd=ROOT, env={**os.environ, "WORKER_COUNT_LOG": str(log)}, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert log.read_text().split() == ["3"]  # 24 devices // 8 ranks


def test_a_bad_devices_option_stops_pytest_with_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/support/lease_holder.py",
                           "--devices", "0-x", "-p", "no:cacheprovider"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4
    assert "ERROR: --devices '0-x': cannot read '0-x'; accepted: a count (16)" in proc.stderr


def test_leasing_waits_while_another_process_holds_the_devices(tmp_path: Path) -> None:
    code = ("import time; from fixtures.devices import acquire; "
            f"lease = acquire(range(2), 2, {str(tmp_path)!r}, timeout=5); print('held', flush=True); "
            "time.sleep(2.0)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    lease = acquire(range(2), 2, tmp_path, timeout=30)
    waited = time.monotonic() - start
    holder.wait(timeout=30)
    lease.release()
    assert 0.3 < waited < 10
