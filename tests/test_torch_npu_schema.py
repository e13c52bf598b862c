"""The `torch_npu` backends' calls against the schemas shipped in the real torch_npu wheel: the
dispatch's `npu_alltoallv_gmm` and the combine's `npu_gmm_alltoallv` (ops/gmm_alltoallv).

The wheel (torch_npu 2.14.0) comes from TORCH_NPU_WHEEL, else the cache .cache/wheels/ in the
checkout, else `pip download` into that cache (PyPI; CI pre-fetches it). Without it the schema
tests skip, or fail when REQUIRE_WHEEL=1. The adapter's calls are recorded by the fake torch_npu
and must bind to the wheel's schema of their entry point exactly: positional arguments in order
and type, keywords only for keyword-only parameters, no unknown names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

import fixtures.torch_npu_backend as T
import ops.gmm_alltoallv.torch_npu_backend as CT
from fixtures.world import ThreadWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Fault
from ops.gmm_alltoallv import load as load_combine
from tests.fakes import rank_setup, ranks
from tests.fakes.cases import BASE, COMBINE_BASE, COMBINE_PLAIN
from tests.fakes.schema import Schema, binding_errors, parse

VERSION = "2.14.0"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "wheels"
MEMBER = "torch_npu/csrc/aten/npu_native_functions_by_codegen.yaml"
CANN = load("cann-2025.12")


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_WHEEL") == "1":
        pytest.fail(f"REQUIRE_WHEEL=1 but the torch_npu {VERSION} wheel is unavailable: {reason}")
    pytest.skip(f"torch_npu {VERSION} wheel unavailable ({reason}); set TORCH_NPU_WHEEL=PATH or put it "
                f"in {CACHE}")


def find_wheel() -> Path:
    """The wheel's path: TORCH_NPU_WHEEL, the cache, or a fresh `pip download` into the cache."""
    named = os.environ.get("TORCH_NPU_WHEEL")
    if named:
        if not Path(named).is_file():
            _unavailable(f"TORCH_NPU_WHEEL={named} is not a file")
        return Path(named)
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / ".torch_npu.lock")):
        cached = sorted(CACHE.glob(f"torch_npu-{VERSION}-*.whl"))
        if not cached:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                                   ":all:", "--quiet", f"torch-npu=={VERSION}", "-d", str(CACHE)],
                                  capture_output=True, text=True, timeout=300, check=False)
            cached = sorted(CACHE.glob(f"torch_npu-{VERSION}-*.whl"))
            if not cached:
                _unavailable(f"pip download failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return cached[0]


@pytest.fixture(scope="module")
def wheel_functions() -> str:
    """The wheel's native functions yaml."""
    path = find_wheel()
    try:
        with zipfile.ZipFile(path) as whl:
            return whl.read(MEMBER).decode()
    except (zipfile.BadZipFile, KeyError) as err:
        pytest.fail(f"{path}: no {MEMBER} ({err})")


def declared(text: str, function: str) -> Schema:
    """The one schema the yaml declares for `function`."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(f"func: {function}(")]
    assert len(lines) == 1, f"{MEMBER} declares {function} {len(lines)} times"
    return parse(lines[0].removeprefix("func:").strip())


def record(make: Callable[[], object], cases: tuple, profile: object) -> list[dict]:
    """The fake's records of an adapter's calls for `cases`, four ranks each, every case passing."""
    rank_setup.torch_npu(0, 1)
    import torch_npu

    start = len(torch_npu.CALLS)
    world = ThreadWorld(4, lambda: ranks.Bound(make()), timeout=30)
    try:
        for case in cases:
            result = ranks.run_case(world, world.backends[0], case, profile)
            assert result.passed, [f.message for f in result.findings]
    finally:
        world.close()
    return torch_npu.CALLS[start:]


def recorded_dispatch() -> list[dict]:
    """A rich case (shared expert, both count tensors, permuteOut, both transposes) and a minimal
    one (nothing optional)."""
    rich = BASE.with_(permute_out_flag=True, trans_mm_weight=True, side="invalid", clause="X",
                      faults=(Fault("present", "sendCountsTensor"), Fault("present", "recvCountsTensor")))
    minimal = BASE.with_(shared=None, trans_gmm_weight=False, clause="CALC.gmm")
    return record(T.TorchNpuBackend, (rich, minimal), CANN)


def recorded_combine() -> list[dict]:
    """The combine's: a rich case (shared expert, its weight transposed, both count tensors) and
    a minimal one."""
    rich = COMBINE_BASE.with_(trans_mm_weight=True, side="invalid", clause="X",
                              faults=(Fault("present", "sendCountsTensor"),
                                      Fault("present", "recvCountsTensor")))
    return record(CT.factory, (rich, COMBINE_PLAIN), load_combine("cann-2026.07"))


# entry point: its backend module, the fake's schema attribute, how its calls are recorded
ENTRIES = {"npu_alltoallv_gmm": (T, "SCHEMA", recorded_dispatch),
           CT.FUNCTION: (CT, "COMBINE_SCHEMA", recorded_combine)}


@pytest.fixture(scope="module", params=list(ENTRIES))
def entry(request, wheel_functions) -> tuple[str, Schema, object]:
    """(entry point, its schema in the wheel, its adapter's module)."""
    return request.param, declared(wheel_functions, request.param), ENTRIES[request.param][0]


@pytest.fixture(scope="module")
def recorded_calls(entry) -> list[dict]:
    calls = ENTRIES[entry[0]][2]()
    assert len(calls) == 4 + 8
    return calls


def test_the_wheels_schema_is_the_one_the_adapter_was_written_for(entry):
    name, s, adapter = entry
    assert s.name == name
    assert tuple(p.name for p in s.positional) == adapter.POSITIONAL
    assert all(p.required for p in s.positional)
    keyword_only = [p.name for p in s.params if p.keyword_only]
    assert keyword_only == [*adapter.KEYWORDS, "comm_mode"]
    assert not any(p.required for p in s.params if p.keyword_only)
    assert s.returns == ("Tensor",) * len(adapter.RETURNS)


def test_every_recorded_call_binds_to_the_wheels_schema_exactly(entry, recorded_calls):
    schema = entry[1]
    rich, minimal = recorded_calls[0], recorded_calls[-1]
    assert rich["keyword"]["send_counts_tensor"]["type"] == "Tensor"
    assert minimal["keyword"]["mm_x"]["type"] == "None"
    for call in recorded_calls:
        positional = [p["type"] for p in call["positional"]]
        keywords = {k: v["type"] for k, v in call["keyword"].items()}
        assert binding_errors(schema, positional, keywords) == [], call
        assert "comm_mode" not in keywords, "comm_mode routes to the V2 entry point"


def test_the_fake_enforces_the_wheels_schema(entry):
    rank_setup.torch_npu(0, 1)
    import torch_npu

    assert parse(getattr(torch_npu, ENTRIES[entry[0]][1])) == entry[1]


def test_the_binding_check_rejects_calls_that_do_not_fit():
    """Without the wheel: the checker itself, on the schema of OPERATOR.md section 3."""
    rank_setup.torch_npu(0, 1)
    import torch_npu

    s = parse(torch_npu.SCHEMA)
    good = ["Tensor", "Tensor", "str", "int", "int[]", "int[]"]
    assert binding_errors(s, good, {"mm_x": "None", "permute_out_flag": "bool"}) == []
    cases = {
        "keyword 'group' is not in the schema": (good[:2], {"group": "str", "ep_world_size": "int",
                                                            "send_counts": "int[]",
                                                            "recv_counts": "int[]"}),
        "positional argument 3 (ep_world_size) is bool": ([*good[:3], "bool", *good[4:]], {}),
        "7 positional arguments, the schema takes 6": ([*good, "None"], {}),
        "gmm_x is passed by keyword but is positional": ([], dict(zip(T.POSITIONAL, good, strict=True))),
        "keyword trans_gmm_weight is int, the schema says bool": (good, {"trans_gmm_weight": "int"}),
        "required argument recv_counts (int[]) is missing": (good[:5], {}),
        "positional argument 0 (gmm_x) is None, the schema says Tensor": (["None", *good[1:]], {}),
    }
    for message, (positional, keywords) in cases.items():
        errors = binding_errors(s, positional, keywords)
        assert any(message in e for e in errors), (message, errors)
    assert binding_errors(s, [], dict(zip(T.POSITIONAL, good, strict=True)), exact=False) == []
