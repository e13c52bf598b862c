"""The combine's hardware paths against the test doubles, as the dispatch's are tested
(tests/test_torch_npu.py, tests/test_aclnn.py): its `torch_npu` backend against the fake
torch_npu's npu_gmm_alltoallv, its `aclnn` backend against the fake CANN libraries'
aclnnGroupedMatMulAlltoAllv[V2]; both fakes compute with the combine's simulator (behaviour
cann-2026.07), so statuses and outputs are real. Ranks are threads of this process.

What is checked: the call and its argument order (the schema's positional and keyword arguments;
the C prototype of contracts/gmm_alltoallv.md section 3, written out here as the reference, and
what reached the library, by name, from its log), the outputs torch_npu builds (shapes and
dtypes as GmmAllToAllvNpuOpApi.cpp allocates them), a valid world passing and known rejections
giving their exact codes through each backend, the V2 entry points found (or not) and used, and
a planted argument-order bug being caught by each backend's run.
"""

from __future__ import annotations

import ctypes
import dataclasses

import pytest

import ops.gmm_alltoallv.aclnn as A
import ops.gmm_alltoallv.torch_npu_backend as T
from fixtures.harness import materialise
from fixtures.protocol import NotApplicable, RankContext
from fixtures.world import ThreadWorld
from ops.gmm_alltoallv import OPERATOR as OP
from ops.gmm_alltoallv import load
from ops.gmm_alltoallv.case import Case, Fault
from tests.fakes import ranks
from tests.fakes.build import build, default_root
from tests.fakes.cases import COMBINE_BASE as BASE
from tests.fakes.cases import COMBINE_PLAIN as PLAIN
from tests.fakes.worlds import WORLD_TIMEOUT, acl_world

CANN = load("cann-2026.07")  # what the fakes' combine honours by default (ranks.BEHAVIOR_ENV)
V2 = BASE.with_(entry="v2", comm_mode="ai_cpu")
REJECTIONS = [  # (fault, the code of the shipped code, contracts/gmm_alltoallv.md section 5)
    (Fault("null", "gmmX"), 161001),
    (Fault("value", "group", ""), 161001),
    (Fault("present", "sendCountsTensor"), 161001),
    (Fault("dtype", "gmmX", "float32"), 161002),
    (Fault("rank", "gmmX", 1), 561002),
]


def run(world: ThreadWorld, case: Case):
    return ranks.run_case(world, world.backends[0], case, CANN)


def invalid(fault: Fault) -> Case:
    return BASE.with_(faults=(fault,), side="invalid", clause="X")


def swap_counts(a: dict) -> dict:
    """The planted bug: sendCounts and recvCounts passed in each other's place."""
    return {**a, "send_counts": a["recv_counts"], "recv_counts": a["send_counts"]}


# -- torch_npu ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tworld(tnpu):  # tnpu, calls, fake, log: tests/conftest.py
    w = ThreadWorld(4, lambda: ranks.Bound(T.factory()), timeout=WORLD_TIMEOUT)
    yield w
    w.close()


def test_torch_npu_is_registered_and_takes_no_options():
    assert OP.backends["torch_npu"] == "ops.gmm_alltoallv.torch_npu_backend:factory"
    with pytest.raises(ValueError, match=r"unknown option\(s\) lib_dir; it takes none"):
        T.factory(lib_dir="/x")
    backend = T.factory()
    assert backend.two_stage is False and backend.operator == OP.name
    assert (backend.function, backend.returns) == ("npu_gmm_alltoallv", ("y", "mm_y"))


@pytest.mark.parametrize("case", [BASE, PLAIN, BASE.with_(dtype="bfloat16", trans_mm_weight=True)],
                         ids=["shared", "plain", "bf16-trans-mm"])
def test_torch_npu_valid_worlds_pass_with_the_schemas_call(tworld, calls, case):
    result = run(tworld, case)
    assert result.passed, [f.message for f in result.findings]
    assert result.plan.data_mode and all(r.status2 == 0 for r in result.reports)
    made = calls()
    assert len(made) == 8  # 4 ranks, run twice (repeatability)
    for rec in made:
        assert [p["type"] for p in rec["positional"]] == ["Tensor", "Tensor", "str", "int", "int[]",
                                                          "int[]"]
        assert list(rec["keyword"]) == list(T.KEYWORDS) and "permute_out_flag" not in rec["keyword"]
        assert (rec["positional"][2]["value"], rec["positional"][3]["value"]) == (tworld.group_name, 4)
        assert rec["keyword"]["trans_gmm_weight"]["value"] == case.trans_gmm_weight
        assert (rec["keyword"]["mm_x"]["type"] == "Tensor") == (case.shared is not None)
    for rec in made:
        r = rec["rank"]
        assert rec["positional"][4]["value"] == list(case.send_counts(r))
        assert rec["positional"][5]["value"] == list(case.recv_counts(r))
        assert rec["positional"][0]["value"]["shape"] == [case.a(r), case.h1]


@pytest.mark.parametrize("case", [BASE, PLAIN.with_(dtype="bfloat16")], ids=["shared", "plain"])
def test_torch_npu_outputs_are_the_ones_its_adapter_builds(tworld, tnpu, monkeypatch, case):
    """y (sum(recv_counts), N1) in gmm_x's dtype, mm_y (BS, N2) in mm_x's only with a shared
    expert (None otherwise), as GmmAllToAllvNpuOpApi.cpp allocates them."""
    seen: dict[int, tuple] = {}
    real = tnpu.npu_gmm_alltoallv

    def spy(*a, **k):
        out = real(*a, **k)
        seen[ranks.current().rank] = tuple(None if t is None else (tuple(t.shape), str(t.dtype))
                                           for t in out)
        return out
    monkeypatch.setattr(tnpu, "npu_gmm_alltoallv", spy)
    assert run(tworld, case).passed
    dtype = f"torch.{case.dtype}"
    for r in range(4):
        y, mm_y = seen[r]
        assert y == ((case.bsk(r), case.n1), dtype)
        assert mm_y == (None if case.shared is None else ((case.shared.bs[r], case.shared.n2), dtype))


@pytest.mark.parametrize("fault, status", REJECTIONS)
def test_torch_npu_rejections_return_the_code_in_torch_npus_message(tworld, calls, fault, status):
    case = invalid(fault)
    if fault.op == "null":  # torch_npu cannot pass a null gmm_x: not applicable, never passed
        with pytest.raises(NotApplicable, match="gmm_x is a non-optional Tensor"):
            T.factory().get_workspace_size(CTX, **_args(case))
        return
    result = run(tworld, case)
    assert result.passed, [f.message for f in result.findings]
    assert [(r.status1, r.status2) for r in result.reports] == [(0, status)] * 4
    assert len(calls()) == 4
    assert T.STATUS_PATTERN.search("call aclnnGroupedMatMulAlltoAllv failed, error code is 7")
    assert not T.STATUS_PATTERN.search("call aclnnAlltoAllvGroupedMatMul failed, error code is 7")


CTX = RankContext(0, 4, "910_95", None, "g")


def _args(case: Case, rank: int = 0) -> dict:
    return materialise(case, rank, case.call(rank, "g"), data_mode=False).kwargs


@pytest.mark.parametrize("case, fault, reason", [
    (BASE, Fault("null", "y"), "torch_npu always builds: a call with y null"),
    (BASE, Fault("null", "mmWeight"), "builds mm_y only when mm_x and mm_weight are both given"),
    (BASE, Fault("null", "recvCounts"), "recv_counts is a non-optional argument"),
    (PLAIN, Fault("rank", "gmmWeight", -1), "gmm_weight.size(2) and gmm_weight has 2"),
])
def test_torch_npu_calls_it_cannot_express_are_not_applicable(case, fault, reason):
    with pytest.raises(NotApplicable) as why:
        T.factory().get_workspace_size(CTX, **_args(case.with_(faults=(fault,), side="invalid",
                                                               clause="X")))
    assert reason in str(why.value)


def test_torch_npu_v2_goes_by_comm_mode_and_an_old_cann_is_not_applicable(tworld, calls,
                                                                          monkeypatch):
    result = run(tworld, V2)
    assert result.passed, [f.message for f in result.findings]
    assert {rec["keyword"]["comm_mode"]["value"] for rec in calls()} == {"ai_cpu"}
    monkeypatch.setenv("FAKE_TORCH_NPU_NO_V2", "1")
    result = run(tworld, V2)
    assert result.outcome == "not_applicable", [f.message for f in result.findings]
    assert "no V2 entry point: Current CANN version do not support this api" in result.reason


def test_torch_npu_a_planted_argument_order_bug_fails_the_run(tworld, calls, monkeypatch):
    """The counts swapped on the way to torch_npu: the recorded call no longer holds the case's
    sendCounts first, and the run fails (here every rank's A equals its BSK, so the operator
    accepts the call and routes the rows wrongly: y is judged wrong)."""
    real = T.CombineTorchNpuBackend.call_arguments
    monkeypatch.setattr(T.CombineTorchNpuBackend, "call_arguments",
                        lambda self, a: real(self, swap_counts(a)))
    result = run(tworld, BASE)
    assert result.outcome == "failed"
    assert {(f.kind, f.clause) for f in result.findings} == {("numeric", "CALC.transGmmWeight")}
    rec = calls()[0]
    assert rec["positional"][4]["value"] != list(BASE.send_counts(rec["rank"]))


# -- aclnn ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aworld(fake):
    yield from acl_world(lambda lib_dir: A.factory(lib_dir=lib_dir), fake)


FIRST = "aclnnGroupedMatMulAlltoAllvGetWorkspaceSize"


def first_stages(records: list[dict], fn: str = FIRST) -> dict[tuple[int, ...], dict]:
    """Each first stage by the sendCounts it received, its tensors and arrays resolved."""
    by_id = {r["id"]: r for r in records if "id" in r}
    found = {}
    for r in records:
        if r["fn"] == fn:
            arrays = [by_id.get(r["send_counts"]), by_id.get(r["recv_counts"])]
            found[tuple(arrays[0]["values"])] = {
                **r, "tensor": {k: by_id.get(v) for k, v in r["tensors"].items()},
                "arrays": [a["values"] for a in arrays]}
    return found


def test_the_argument_table_builds_the_contracts_prototypes():
    """contracts/gmm_alltoallv.md section 3, written out once: the table must build it."""
    vp, s, i64, b = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_bool
    head = [vp] * 6 + [s]  # gmmX, gmmWeight, send/recvCountsTensorOptional, mmX, mmWeight, group
    rest = [i64, vp, vp, b, b, vp, vp]  # epWorldSize, sendCounts, recvCounts, 2 flags, y, mmY
    tail = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(vp)]
    second = (ctypes.c_int32, [vp, ctypes.c_uint64, vp, vp])
    assert A.OPERATOR.prototypes == {
        "opapi": {FIRST: (ctypes.c_int32, head + rest + tail), "aclnnGroupedMatMulAlltoAllv": second},
        "opapi_v2": {"aclnnGroupedMatMulAlltoAllvV2GetWorkspaceSize": (ctypes.c_int32,
                                                                       [*head, s, *rest, *tail]),
                     "aclnnGroupedMatMulAlltoAllvV2": second}}
    assert [a.c_name for a in A.ARGS] == [
        "gmmX", "gmmWeight", "sendCountsTensor", "recvCountsTensor", "mmX", "mmWeight", "group",
        "commMode", "epWorldSize", "sendCounts", "recvCounts", "transGmmWeight", "transMmWeight",
        "y", "mmY"]
    assert OP.backends["aclnn"] == "ops.gmm_alltoallv.aclnn:factory"


def test_the_fake_kernel_package_lists_the_combine_for_the_host_check(fake):
    kernels = list((fake[0].parent / "opp").rglob("binary_info_config.json"))
    assert kernels and all(A.OP_TYPE in k.read_text() for k in kernels)
    checks = {c.name: c for c in A.preflight("910_95", {"ASCEND_OPP_PATH": str(fake[0].parent / "opp")},
                                             lib_dir=fake[0])}
    assert checks["kernel binaries"].ok and checks["operator library"].ok, checks
    assert checks["V2 entry point"].ok, checks


def test_aclnn_a_valid_world_passes_with_the_exact_arguments(aworld, fake, log):
    result = run(aworld, BASE)
    assert result.passed, [f.message for f in result.findings]
    assert all((r.status1, r.status2) == (0, 0) for r in result.reports)
    calls = first_stages(log())
    for r in range(4):
        call = calls[BASE.send_counts(r)]
        t = call["tensor"]
        assert set(t) == {"gmmX", "gmmWeight", "sendCountsTensor", "recvCountsTensor", "mmX",
                          "mmWeight", "y", "mmY"}
        assert t["sendCountsTensor"] is None and t["recvCountsTensor"] is None
        views = {k: v["view"] for k, v in t.items() if v is not None}
        assert views == {"gmmX": [BASE.a(r), 16], "gmmWeight": [2, 8, 16], "mmX": [4, 16],
                         "mmWeight": [16, 4], "y": [BASE.bsk(r), 8], "mmY": [4, 4]}
        assert call["arrays"] == [list(BASE.send_counts(r)), list(BASE.recv_counts(r))]
        assert (call["group"], call["ep_world_size"]) == (aworld.group_name, 4)
        assert (call["trans_gmm_weight"], call["trans_mm_weight"]) == (True, False)
        assert "permute_out_flag" not in call and "comm_mode" not in call
    stage2 = [r for r in log() if r["fn"] == "aclnnGroupedMatMulAlltoAllv"]
    assert len(stage2) == 8 and not any(r["workspace_null"] for r in stage2)
    assert fake[1].fake_live_allocations() == 0


@pytest.mark.parametrize("fault, status", [
    *[(f, (s, None)) for f, s in REJECTIONS],
    (Fault("null", "y"), (161001, None)),
    (Fault("null", "mmY"), (161001, None)),
    (Fault("stage2", "workspace_short", 64), (0, 161002)),
])
def test_aclnn_rejections_return_their_exact_codes(aworld, fault, status):
    result = run(aworld, invalid(fault))
    assert result.passed, [f.message for f in result.findings]
    assert [(r.status1, r.status2) for r in result.reports] == [status] * 4


def test_aclnn_v2_symbols_are_found_and_used_and_an_old_cann_lacks_them(aworld, fake, log,
                                                                       tmp_path):
    backend = aworld.backends[0]
    assert backend.paths["opapi_v2"] == backend.paths["opapi"] == fake[0] / "libopapi.so"
    assert "entry_v2" in backend.capabilities
    assert backend.provenance()["op_library_v2"] == str(fake[0] / "libopapi.so")
    result = run(aworld, V2)
    assert result.passed, [f.message for f in result.findings]
    calls = first_stages(log(), "aclnnGroupedMatMulAlltoAllvV2GetWorkspaceSize")
    assert len(calls) == 4 and {c["comm_mode"] for c in calls.values()} == {"ai_cpu"}
    assert not [r for r in log() if r["fn"] == FIRST]
    old = A.factory(lib_dir=str(build(default_root(), v2=False)))
    assert "opapi_v2" not in old.paths and "entry_v2" not in old.capabilities
    with pytest.raises(NotApplicable, match="this CANN has no aclnnGroupedMatMulAlltoAllvV2"):
        old.get_workspace_size(CTX, comm_mode="ai_cpu", **_args(BASE))


def test_aclnn_a_planted_argument_order_bug_fails_the_run(aworld, log, monkeypatch):
    """A binding with sendCounts and recvCounts in each other's place (both aclIntArray*, so
    the prototypes still load): the library receives the case's recvCounts as sendCounts, and
    the run fails (the rows go back to the wrong ranks)."""
    args = list(A.OPERATOR.args)
    i, j = (next(k for k, a in enumerate(args) if a.c_name == n) for n in ("sendCounts", "recvCounts"))
    args[i], args[j] = args[j], args[i]
    monkeypatch.setattr(A.AclnnBackend, "operator", dataclasses.replace(A.OPERATOR, args=tuple(args)))
    result = run(aworld, BASE)
    assert result.outcome == "failed"
    assert {(f.kind, f.clause) for f in result.findings} == {("numeric", "CALC.transGmmWeight")}
    assert BASE.send_counts(0) not in first_stages(log())


# -- both backends in rank processes (fixtures/pool/), as the suite runs them --------------------


@pytest.mark.parametrize("name, setup", [("torch_npu", "torch_npu"), ("aclnn", "aclnn")])
def test_in_rank_processes_a_valid_world_passes_and_a_rejection_keeps_its_code(fake, tmp_path,
                                                                               name, setup):
    """The registered name resolves to the combine's module, whose WORLD, DIST_BACKEND,
    RANK_ENV and prepare_process the pool reads; the fakes are injected into each rank."""
    from fixtures.backends import BackendSpec
    from fixtures.pool import ProcessWorld

    lib_dir = str(fake[0])
    options = {"lib_dir": lib_dir} if name == "aclnn" else {}
    spec = BackendSpec(name, options, OP.name, OP.home)
    assert spec.target.startswith("ops.gmm_alltoallv.")
    env = {"CONFORMANCE_RANK_SETUP": f"tests.fakes.rank_setup:{setup}", "FAKE_PRODUCT": "910_95",
           "FAKE_ACL_LIB_DIR": lib_dir, "FAKE_NPU_SOC": "Ascend950PR_9599",
           "ASCEND_OPP_PATH": str(fake[0].parent / "opp"), "FAKE_TORCH_NPU_LOG": str(tmp_path)}
    world = ProcessWorld(4, spec, timeout=60, leaser=None, env=env)
    try:
        backend = spec.make()
        result = ranks.run_case(world, backend, BASE, CANN)
        assert result.passed, [f.message for f in result.findings]
        rejected = ranks.run_case(world, backend, invalid(Fault("value", "group", "")), CANN)
        assert rejected.passed, [f.message for f in rejected.findings]
        assert {(r.status1, r.status2) for r in rejected.reports} == \
            ({(0, 161001)} if name == "torch_npu" else {(161001, None)})
        assert world.restarts == 0
    finally:
        world.close()
