"""Fixtures the backends' tests share: the fake torch_npu (tests/fakes/site) and the fake CANN
libraries (tests/fakes/acl), each loaded once per process, and their call logs. A module that
needs its own variant defines a fixture of the same name, which takes precedence."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import rank_setup
from tests.fakes.acl import callbacks
from tests.fakes.build import build, default_root

SOC_910_95 = "Ascend950PR_9599"  # what the cases' product (910_95) reports


@pytest.fixture(scope="module")
def tnpu() -> Any:
    """The fake torch_npu, imported (first on sys.path) as the real one would be."""
    rank_setup.torch_npu(0, 1)
    import torch_npu

    return torch_npu


@pytest.fixture
def calls(tnpu: Any) -> Callable[[], list[dict]]:
    """The fake torch_npu's records of the calls made during this test."""
    start = len(tnpu.CALLS)
    return lambda: tnpu.CALLS[start:]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[Path, Any]]:
    """The fake CANN libraries' lib64 and their handle, the simulators registered as operators,
    the host a 910_95 with the kernel package installed."""
    lib_dir = build(default_root())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKE_NPU_SOC", SOC_910_95)
        mp.setenv("ASCEND_OPP_PATH", str(lib_dir.parent / "opp"))
        yield lib_dir, callbacks.install(lib_dir)


@pytest.fixture
def log(fake: tuple[Path, Any], tmp_path: Path) -> Iterator[Callable[[], list[dict]]]:
    """The fake's call log for this test only: a function returning the records so far."""
    lib = fake[1]
    path = tmp_path / "acl.jsonl"
    assert lib.fake_set_log(str(path).encode()) == 0
    yield lambda: [json.loads(line) for line in path.read_text().splitlines()]
    lib.fake_set_log(None)
