"""The `aclnn` backend end to end in rank processes (fixtures/pool/), with the fake CANN
libraries injected by CONFORMANCE_RANK_SETUP: the HCCL communicator made through the root-info
exchange, its name passed as `group`, exact statuses from both stages, outputs judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.backends import BackendSpec
from fixtures.pool import ProcessWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Fault
from tests.fakes import ranks
from tests.fakes.build import build, default_root
from tests.fakes.cases import BASE

CANN = load("cann-2025.12")


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("acl-logs")


@pytest.fixture(scope="module")
def world(logs):
    lib_dir = build(default_root())
    spec = BackendSpec("aclnn", {"lib_dir": str(lib_dir)})
    env = {"CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:aclnn", "FAKE_ACL_LIB_DIR": str(lib_dir),
           "FAKE_ACL_LOG_DIR": str(logs), "FAKE_PRODUCT": "910_95", "FAKE_BEHAVIOR": "cann-2025.12",
           "FAKE_NPU_SOC": "Ascend950PR_9599", "FAKE_NPU_FAULT_ONCE": str(logs / "fault")}
    w = ProcessWorld(4, spec, timeout=60, leaser=None, env=env)
    yield w
    w.close()


def records(logs: Path) -> dict[int, list[dict]]:
    """Every rank process's log of calls into the fake, by pid."""
    return {int(p.name.split(".")[1]): [json.loads(line) for line in p.read_text().splitlines()]
            for p in sorted(logs.glob("acl.*.jsonl"))}


def test_cases_run_in_rank_processes_on_the_hccl_communicator(world, logs):
    spec_backend = BackendSpec("aclnn", world.spec.options).make()
    result = ranks.run_case(world, spec_backend, BASE, CANN)
    assert result.passed, [f.message for f in result.findings]
    assert result.plan.data_mode
    by_pid = records(logs)
    assert sorted(by_pid) == sorted(world.pids), "one log per rank process"
    inits = {pid: next(r for r in recs if r["fn"] == "HcclCommInitRootInfo")
             for pid, recs in by_pid.items()}
    assert sorted(r["rank"] for r in inits.values()) == [0, 1, 2, 3]
    assert {r["name"] for r in inits.values()} == {world.group_name}
    assert world.group_name.startswith("fake_hccl_")
    for recs in by_pid.values():
        calls = [r for r in recs if r["fn"] == "aclnnAlltoAllvGroupedMatMulGetWorkspaceSize"]
        assert len(calls) == 2 and all(c["group"] == world.group_name for c in calls)
        assert not [r for r in recs if "error" in r]


@pytest.mark.parametrize("fault, statuses", [
    (Fault("null", "stage2.workspace"), (0, 161001)),
    (Fault("value", "group", ""), (161001, None)),
    (Fault("null", "executor"), (161001, None)),
])
def test_exact_statuses_from_both_stages(world, fault, statuses):
    backend = BackendSpec("aclnn", world.spec.options).make()
    case = BASE.with_(faults=(fault,), side="invalid", clause="X")
    result = ranks.run_case(world, backend, case, CANN)
    assert result.passed, [f.message for f in result.findings]
    assert [(r.status1, r.status2) for r in result.reports] == [statuses] * 4
    assert world.restarts == 0, "a rejected call never costs the world"


def test_hardware_a_device_fault_in_a_rank_process_restarts_the_world(world, logs):
    """The fault surfaces at one rank's stream sync with the runtime's text; that process is
    abandoned (its device memory never freed), the world restarts and the next case passes."""
    backend = BackendSpec("aclnn", world.spec.options).make()
    (logs / "fault").write_text("")  # FAKE_NPU_FAULT_ONCE: the next second stage faults
    before = world.restarts
    result = ranks.run_case(world, backend, BASE, CANN)
    faults = [f for f in result.findings if "returned 507015" in f.message]
    assert len(faults) == 1 and "EZ9999" in faults[0].message, [f.message for f in result.findings]
    assert "aclrtSynchronizeStreamWithTimeout after aclnnAlltoAllvGroupedMatMul" in faults[0].message
    assert not (logs / "fault").exists()
    again = ranks.run_case(world, backend, BASE, CANN)
    assert again.passed, [f.message for f in again.findings]
    assert world.restarts == before + 1
    faulted = [recs for recs in records(logs).values()
               if any(r["fn"] == "aclrtSynchronizeStreamWithTimeout" and r.get("ret") == 507015
                      for r in recs)]
    assert len(faulted) == 1
    after = faulted[0][next(i for i, r in enumerate(faulted[0]) if r.get("ret") == 507015):]
    assert not [r for r in after if r["fn"] in ("aclrtFree", "aclrtFreeWithDevSync")], "nothing freed"
