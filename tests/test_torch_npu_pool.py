"""The `torch_npu` backend end to end in rank processes (fixtures/pool/) joined by "hccl", with
the fake torch_npu injected by CONFORMANCE_RANK_SETUP: the device pinned from LOCAL_RANK, the
communicator name from `get_hccl_comm_name` passed as `hcom`, statuses parsed, outputs judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.backends import BackendSpec
from fixtures.pool import ProcessWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Fault
from tests.fakes import ranks
from tests.fakes.cases import BASE

CANN = load("cann-2025.12")


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("torch-npu-logs")


@pytest.fixture(scope="module")
def world(logs):
    env = {"CONFORMANCE_RANK_SETUP": "tests.fakes.rank_setup:torch_npu",
           "FAKE_TORCH_NPU_LOG": str(logs), "FAKE_PRODUCT": "910_95", "FAKE_BEHAVIOR": "cann-2025.12"}
    w = ProcessWorld(4, BackendSpec("torch_npu", {}), timeout=60, leaser=None, env=env)
    yield w
    w.close()


def records(logs: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(logs.glob("torch_npu.*.jsonl"))
            for line in p.read_text().splitlines()]


def test_cases_run_over_hccl_with_the_comm_name_as_hcom(world, logs):
    backend = BackendSpec("torch_npu", {}).make()
    result = ranks.run_case(world, backend, BASE, CANN)
    assert result.passed, [f.message for f in result.findings]
    assert result.plan.data_mode
    assert world.group_name == "fake_hccl_4_0", "the name get_hccl_comm_name gave every rank"
    made = records(logs)
    assert len(made) == 8 and {r["pid"] for r in made} == set(world.pids)
    for rec in made:
        assert rec["positional"][2] == {"type": "str", "value": world.group_name}
        assert rec["pinned_device"] == rec["rank"], "torch_npu.npu.set_device(LOCAL_RANK)"
        assert rec["positional"][0]["value"]["device"] == "npu"


def test_a_rejected_call_returns_its_status_and_keeps_the_world(world):
    backend = BackendSpec("torch_npu", {}).make()
    case = BASE.with_(faults=(Fault("value", "group", ""),), side="invalid", clause="GROUP.empty")
    result = ranks.run_case(world, backend, case, CANN)
    assert result.passed, [f.message for f in result.findings]
    assert [(r.status1, r.status2) for r in result.reports] == [(0, 161001)] * 4
    assert ranks.run_case(world, backend, BASE, CANN).passed
    assert world.restarts == 0
