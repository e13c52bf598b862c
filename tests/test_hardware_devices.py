"""Device ids as the runtime reads them: logical, ascending, below the host's count; and worlds
larger than the host reported as not applicable instead of crashing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import devices, plugin, pool
from fixtures.backends import BackendSpec
from fixtures.runner import Worlds
from ops.alltoallv_gmm import load
from reports.results import cases_path, read_cases
from tests.fakes import npu_host
from tests.support.pool_cases import any_world_plan

ROOT = Path(__file__).resolve().parent.parent


def test_hardware_an_unsorted_device_list_is_sorted_and_said_so() -> None:
    assert devices.parse_devices("8-15,0-7") == tuple(range(16))
    note = devices.order_note("8-15,0-7")
    assert note is not None and "ascending" in note and note.endswith("0,1,2,3,4,5,6,7,8,9,10,"
                                                                      "11,12,13,14,15")
    assert devices.order_note("0-7,8-15") is None and devices.order_note("16") is None


def test_hardware_every_lease_is_ascending_so_the_runtime_sees_all_of_it(tmp_path: Path) -> None:
    leaser = devices.Leaser(devices.parse_devices("4-7,0-3"), tmp_path, timeout=1)
    lease = leaser.take(8)
    visible = devices.format_devices(lease)
    assert visible == "0,1,2,3,4,5,6,7"
    # What the runtime (as the doubles model it) makes of it: every leased device, none dropped.
    assert len(npu_host.visible_devices({devices.VISIBLE: visible})) == 8
    assert devices.format_devices((5, 1, 3)) == "1,3,5"
    leaser.give_back()


def test_hardware_devices_in_a_container_are_logical_ids(tmp_path: Path) -> None:
    for name in ("davinci4", "davinci5", "davinci6", "davinci7", "davinci_manager"):
        (tmp_path / name).touch()  # the physical numbers the Ascend docker runtime keeps
    found = devices.discover(None, {}, hardware=True, dev_dir=tmp_path)
    assert found == (0, 1, 2, 3)
    env = {"FAKE_NPU_DEVICES": "4-7", devices.VISIBLE: devices.format_devices(found)}
    assert npu_host.visible_devices(env) == (4, 5, 6, 7)  # each logical id reaches its device
    assert devices.host_count(tmp_path) == 4
    # The pytest process's own ASCEND_RT_VISIBLE_DEVICES narrows the pool (logical, sorted).
    assert devices.discover(None, {devices.VISIBLE: "3,1"}, hardware=True, dev_dir=tmp_path) == (1, 3)


def test_hardware_a_device_beyond_the_host_is_refused(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(devices.DeviceSpecError, match=r"device\(s\) 4,5 are not below this "
                                                      r"host's 4 devices.*logical ids 0-3"):
        devices.check_visible((0, 4, 5), 4)
    for n in range(4):
        (tmp_path / f"davinci{n + 8}").touch()
    monkeypatch.setattr(devices, "DEV_DIR", tmp_path)
    config = _Config({"devices": "0-7", "backend": "torch_npu"})
    with pytest.raises(pytest.UsageError, match=r"--devices: device.s. 4,5,6,7 are not below"):
        plugin.host_devices(config)
    assert plugin.host_devices(_Config({"devices": "2-3", "backend": "torch_npu"})) == (2, 3)


class _Config:
    def __init__(self, options: dict) -> None:
        self.options = options

    def getoption(self, name: str, default=None):
        return self.options.get(name, default)


def test_hardware_a_world_larger_than_the_host_is_not_applicable(tmp_path: Path) -> None:
    devices.configure(tuple(range(16)), tmp_path)
    try:
        assert pool.world_too_large(16) is None
        why = pool.world_too_large(32)
        assert why == ("a world of 32 ranks needs 32 devices; this host has 16: run it with "
                       "--world-attach and torchrun (see fixtures/pool/__main__.py)")
        worlds = Worlds(BackendSpec("tests.support.npu_backend:factory", {"behavior": "doc"}))
        plan = any_world_plan(32, 1)
        result = worlds.run(plan.case, load("doc"))
        assert result.outcome == "not_applicable" and result.reason == why
        assert worlds.unfit(8) is None
        worlds.close()
        pool.configure(attach="127.0.0.1:29400")
        assert pool.world_too_large(32) is None  # torchrun brings the devices
    finally:
        pool.configure()
        devices.configure(None)


def test_hardware_a_default_a3_run_skips_worlds_beyond_the_host(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_numerics.py", "-k", "CALC.gmm and ep32",
         "-q", "-p", "no:cacheprovider", "-rs", "--backend", "tests.support.npu_backend:factory",
         "--backend-option", "behavior=doc", "--product", "A3", "--devices", "16",
         "--device-lock-dir", str(tmp_path / "locks"), "--output-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = proc.stdout[-3000:]
    assert proc.returncode == 0, tail
    last = tail.strip().splitlines()[-1]
    assert "skipped" in last and "failed" not in last and "passed" not in last, tail
    assert "a world of 32 ranks needs 32 devices; this host has 16" in proc.stdout, tail
    records = cases_path(out)
    assert not records.exists() or not list(read_cases(records))


def test_hardware_the_run_says_it_sorted_the_devices() -> None:
    notes = plugin.device_notes(_Config({"devices": "8-15,0-7", "backend": "torch_npu"}))
    assert len(notes) == 1 and notes[0].startswith("--devices '8-15,0-7': ASCEND_RT_VISIBLE_DEVICES")
    assert plugin.device_notes(_Config({"devices": "0-15", "backend": "torch_npu"})) == []
