"""The `torch_npu` backend against the fake torch_npu (tests/fakes/site/torch_npu), ranks as threads.

The fake records every call and computes the operator with the simulator, so statuses and outputs
are real. Importing it into this test process renames torch's privateuse1 device to "npu" and
adds Tensor.npu, as the real torch_npu does (harmless to the other tests of the process). The
multi-process path is tests/test_torch_npu_pool.py; the schema check tests/test_torch_npu_schema.py.
"""

from __future__ import annotations

import sys
import types

import ml_dtypes
import numpy as np
import pytest
import torch

import fixtures.torch_npu_backend as T
from fixtures.harness import materialise
from fixtures.protocol import NotApplicable, RankContext
from fixtures.world import ThreadWorld
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Fault
from ops.alltoallv_gmm.worlds import Pins, build_world
from strategies import intended
from strategies.choices import Seeded
from tests.fakes import ranks
from tests.fakes.cases import BASE

CANN = load("cann-2025.12")


@pytest.fixture(scope="module")
def world(tnpu):  # tnpu, calls: tests/conftest.py
    w = ThreadWorld(4, lambda: ranks.Bound(T.TorchNpuBackend()), timeout=30)
    yield w
    w.close()


def run(world, case):
    return ranks.run_case(world, world.backends[0], case, CANN)


def test_bad_options_fail_with_one_line():
    with pytest.raises(ValueError, match=r"unknown option\(s\) device, lib_dir; it takes none"):
        T.factory(lib_dir="/x", device=1)
    backend = T.factory()
    assert backend.two_stage is False and backend.capabilities == {"entry_v2"}


@pytest.mark.parametrize("seed, pins", [
    (1, Pins(dtype="float16", shared=True, trans_mm=True, flag=True)),
    (2, Pins(dtype="bfloat16", trans_gmm=True, shared=False, flag=False)),
    (3, Pins(dtype="bfloat16", shared=True, flag=True, e=3)),
])
def test_valid_worlds_pass_with_the_schemas_call(world, calls, seed, pins):
    case = build_world(Seeded(seed), "910_95", 4, CANN, pins, "CALC.gmm")
    assert intended(case, CANN) is None
    result = run(world, case)
    assert result.passed, [f.message for f in result.findings]
    assert result.plan.data_mode and all(r.status2 == 0 for r in result.reports)
    made = calls()
    assert len(made) == 8  # 4 ranks, the case run twice (repeatability)
    for rec in made:
        assert [p["type"] for p in rec["positional"]] == ["Tensor", "Tensor", "str", "int", "int[]",
                                                          "int[]"]
        assert list(rec["keyword"]) == list(T.KEYWORDS)
        assert rec["positional"][2]["value"] == world.group_name
        assert rec["positional"][3]["value"] == 4
        tensors = [p["value"] for p in rec["positional"][:2]] + [
            k["value"] for k in rec["keyword"].values() if k["type"] == "Tensor"]
        assert all(t["device"] == "npu" for t in tensors)
        assert rec["keyword"]["permute_out_flag"]["value"] == case.permute_out_flag
        assert (rec["keyword"]["mm_x"]["type"] == "Tensor") == (case.shared is not None)
    by_rank = {rec["rank"]: rec for rec in made}
    assert sorted(by_rank) == [0, 1, 2, 3]
    for r, rec in by_rank.items():
        assert rec["positional"][4]["value"] == list(case.send_counts(r))
        assert rec["positional"][5]["value"] == list(case.recv_counts(r))


@pytest.mark.parametrize("fault, status", [
    (Fault("value", "group", ""), 161001),
    (Fault("present", "sendCountsTensor"), 161001),
    (Fault("rank", "gmmX", 1), 561002),
    (Fault("dtype", "gmmX", "float32"), 161002),
])
def test_rejected_calls_return_the_status_of_torch_npus_message(world, calls, fault, status):
    result = run(world, BASE.with_(faults=(fault,), side="invalid", clause="X"))
    assert result.passed, [f.message for f in result.findings]
    assert [(r.status1, r.status2) for r in result.reports] == [(0, status)] * 4
    assert len(calls()) == 4


def _args(case, rank=0):
    return materialise(case, rank, case.call(rank, "g"), data_mode=False).kwargs


CTX = RankContext(0, 4, "910_95", None, "g")
NO_SHARED_PLAIN = BASE.with_(trans_gmm_weight=False)


@pytest.mark.parametrize("case, fault, reason", [
    (BASE, Fault("null", "gmmX"), "gmm_x is a non-optional Tensor"),
    (BASE, Fault("null", "group"), "hcom is a non-optional argument"),
    (BASE, Fault("null", "recvCounts"), "recv_counts is a non-optional argument"),
    (BASE, Fault("format", "gmmWeight", "FRACTAL_NZ"), "gmm_weight in format FRACTAL_NZ"),
    (BASE, Fault("null", "gmmY"), "torch_npu always builds: a call with gmm_y null"),
    (BASE, Fault("present", "permuteOut"), "builds permute_out exactly when permute_out_flag"),
    (BASE, Fault("null", "mmWeight"), "builds mm_y only when mm_x and mm_weight are both given"),
    (NO_SHARED_PLAIN, Fault("rank", "gmmWeight", -1), "gmm_weight.size(2) and gmm_weight has 2"),
    (BASE.with_(permute_out_flag=True), Fault("rank", "gmmX", -1), "gmm_x.size(1) and gmm_x has 1"),
])
def test_calls_torch_npu_cannot_express_are_not_applicable(case, fault, reason):
    with pytest.raises(NotApplicable) as why:
        T.TorchNpuBackend().get_workspace_size(CTX, **_args(case.with_(faults=(fault,))))
    assert reason in str(why.value)


def test_null_out_pointers_and_foreign_executors_are_not_applicable():
    backend = T.TorchNpuBackend()
    with pytest.raises(NotApplicable, match="null executor pointers"):
        backend.get_workspace_size(CTX, null_outputs=frozenset({"executor"}), **_args(BASE))
    with pytest.raises(NotApplicable, match="both stages in one call"):
        backend.execute(CTX, None, 0, None, None)
    assert backend.get_workspace_size(CTX, **_args(BASE))[:2] == (0, 0)


def test_other_errors_are_crashes_and_late_errors_are_statuses(world, tnpu, monkeypatch):
    def oom(*args, **kwargs):
        raise RuntimeError("NPU out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(tnpu, "npu_alltoallv_gmm", oom)
    result = run(world, BASE)
    assert result.outcome == "failed"
    assert all(f.kind == "crash" for f in result.findings)  # the first one aborts the others
    assert any("second stage raised RuntimeError('NPU out of memory" in f.message
               for f in result.findings)
    monkeypatch.undo()

    def late(*args, **kwargs):
        raise RuntimeError("ACL stream synchronize failed.\n"
                           "call aclnnAlltoAllvGroupedMatMul failed, error code is 507035")
    monkeypatch.setattr(tnpu.npu, "synchronize", late)
    result = run(world, BASE)
    assert [r.status2 for r in result.reports] == [507035] * 4
    assert all("call returned 507035, expected 0" in f.message for f in result.findings)
    with pytest.raises(RuntimeError, match="no code here"):
        T.parse_status(RuntimeError("no code here"))
    assert T.parse_status(RuntimeError("x\ncall aclnnAlltoAllvGroupedMatMul failed, error code is "
                                       "161002\n[ERROR] EZ1001 ...")) == 161002


@pytest.mark.parametrize("change, text", [
    (lambda out: (out[0][:, :-1], out[1], out[2]), "gmm_y: shape (8, 7), the caller's is (8, 8)"),
    (lambda out: (out[0].float(), out[1], out[2]), "gmm_y: dtype torch.float32, the caller's is float16"),
    (lambda out: (out[0], out[1], out[0]), "permute_out: returned a (8, 8) tensor although the call"),
    (lambda out: (out[0], None, out[2]), "mm_y: not returned although the call requested it"),
])
def test_outputs_that_do_not_fit_are_shape_findings(world, tnpu, monkeypatch, change, text):
    real = tnpu.npu_alltoallv_gmm
    monkeypatch.setattr(tnpu, "npu_alltoallv_gmm", lambda *a, **k: change(real(*a, **k)))
    result = run(world, BASE)
    shape = [f for f in result.findings if f.clause == "OUT.shape"]
    assert result.outcome == "failed" and shape, [f.message for f in result.findings]
    assert any(text in f.message for f in shape), [f.message for f in shape]


def test_unrequested_outputs_may_come_back_absent_or_empty():
    T.store("mm_y", None, None)
    T.store("permute_out", torch.empty(0), None)
    out = np.zeros((2, 3), np.float16)
    T.store("gmm_y", torch.arange(6, dtype=torch.float16).reshape(2, 3), out)
    assert out.tolist() == [[0, 1, 2], [3, 4, 5]]
    frozen = np.broadcast_to(np.zeros(1, np.float16).reshape(1, 1), (2, 3))
    T.store("gmm_y", torch.ones(2, 3, dtype=torch.float16), frozen)  # a placeholder stays as it is


def test_placeholders_cross_as_one_element_and_views_keep_their_values(tnpu):
    before = tnpu.npu.transferred_elements()
    ph = np.broadcast_to(np.full(1, 1.5, np.float16).reshape(1, 1), (4096, 512))
    t = T.to_device(ph)
    assert tnpu.npu.transferred_elements() - before == 1
    assert isinstance(t, tnpu.NpuTensor) and t.shape == (4096, 512) and t.stride() == (0, 0)
    assert bool((t.cpu() == 1.5).all())
    w = np.arange(24, dtype=np.float16).reshape(2, 3, 4).transpose(0, 2, 1)
    assert np.array_equal(T.to_numpy(T.to_device(w).cpu()), w)
    rev = np.arange(6, dtype=np.float32)[::-1]
    assert np.array_equal(T.to_numpy(T.to_device(rev).cpu()), rev)


def test_bfloat16_crosses_bit_exact():
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(ml_dtypes.bfloat16)
    t = T.host_tensor(x)
    assert t.dtype == torch.bfloat16
    assert np.array_equal(T.to_numpy(t).view(np.uint16), x.view(np.uint16))


def test_the_comm_name_comes_from_the_npu_backend_or_the_old_group_api():
    class Backend:
        def get_hccl_comm_name(self, rank):
            return f"comm-from-backend-{rank}"

    class NewGroup:
        def _get_backend(self, device):
            assert device == "npu-device"
            return Backend()

    class OldGroup:
        def get_hccl_comm_name(self, rank):
            return f"comm-from-group-{rank}"

    assert T.comm_name_of(NewGroup(), 3, "npu-device") == "comm-from-backend-3"
    assert T.comm_name_of(OldGroup(), 2, "npu-device") == "comm-from-group-2"


def test_the_device_is_pinned_from_local_rank_before_the_process_group(tnpu, monkeypatch):
    monkeypatch.setattr(T, "_PINNED", {})
    monkeypatch.setenv("LOCAL_RANK", "3")
    T.TorchNpuBackend()._ensure(RankContext(7, 8, "A3", None))  # no pool: pinned on first use
    assert tnpu.npu.pinned_device() == 3
    monkeypatch.delenv("LOCAL_RANK")
    T.TorchNpuBackend()._ensure(RankContext(6, 8, "A3", None))
    assert tnpu.npu.pinned_device() == 6
    T.prepare_process(rank=9, world_size=16, local_rank=1)  # the pool's hook, before hccl starts
    assert tnpu.npu.pinned_device() == 1
    T.TorchNpuBackend()._ensure(RankContext(9, 16, "A3", None))
    assert tnpu.npu.pinned_device() == 1, "the backend keeps the device the hook pinned"


def test_a_missing_torch_npu_or_operator_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_npu", None)
    with pytest.raises(RuntimeError, match=r"cannot import torch_npu .*install the torch_npu wheel"):
        T.TorchNpuBackend()._ensure(CTX)
    monkeypatch.setitem(sys.modules, "torch_npu", types.SimpleNamespace(__version__="2.1.0"))
    with pytest.raises(RuntimeError, match=r"torch_npu 2.1.0 has no npu_alltoallv_gmm"):
        T.TorchNpuBackend()._ensure(CTX)
