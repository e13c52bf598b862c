"""The `aclnn` backend against fake CANN libraries (tests/fakes/acl/fake_acl.c, built with gcc).

The fake checks every argument the adapter passes and logs it; its operator is the simulator,
so statuses and outputs are real. Ranks are threads of this process here (ThreadWorld); the
multi-process path is tests/test_aclnn_pool.py.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import fixtures.aclnn as A
from fixtures.acl import layout as L
from fixtures.acl import memory as M
from fixtures.acl import runtime as R
from fixtures.protocol import RankContext, with_format
from fixtures.world import ThreadComm, ThreadExchange
from ops.alltoallv_gmm import OPERATOR as OP
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Case, Fault
from ops.alltoallv_gmm.worlds import Pins, build_world
from strategies import intended
from strategies.choices import Seeded
from tests.fakes import ranks
from tests.fakes.acl import callbacks
from tests.fakes.cases import BASE
from tests.fakes.worlds import acl_world

CANN, DOC = load("cann-2025.12"), load("doc")
FAKE_MISUSE = 999001


# `fake` and `log`: tests/conftest.py.


@pytest.fixture(scope="module")
def world(fake):
    yield from acl_world(A.AclnnBackend, fake)


def run(world, case: Case, profile=CANN):
    return ranks.run_case(world, world.backends[0], case, profile)


def rank_call(records: list[dict], send_counts: tuple[int, ...]) -> dict:
    """The first-stage record of the rank whose sendCounts array holds `send_counts`, with its
    tensors, arrays and second stage resolved from the log."""
    by_id = {r["id"]: r for r in records if "id" in r}
    for r in records:
        if r["fn"] == "aclnnAlltoAllvGroupedMatMulGetWorkspaceSize" and r["send_counts"] and \
                tuple(by_id[r["send_counts"]]["values"]) == send_counts:
            ret = next(x for x in records if x["fn"].endswith("GetWorkspaceSize.return")
                       and x["call"] == r["call"])
            stage2 = next((x for x in records if x["fn"] == "aclnnAlltoAllvGroupedMatMul"
                           and x["executor"] == r["call"]), None)
            return {**r, "tensor": {k: by_id.get(v) for k, v in r["tensors"].items()},
                    "arrays": [by_id.get(r["send_counts"]), by_id.get(r["recv_counts"])],
                    "return": ret, "stage2": stage2}
    raise AssertionError(f"no first stage with sendCounts {send_counts} in the log")


# -- options -----------------------------------------------------------------------------------


def test_bad_options_fail_with_one_line_naming_the_fix(fake, tmp_path, monkeypatch):
    lib_dir = fake[0]
    with pytest.raises(ValueError, match=r"unknown option\(s\) colour; accepted: lib_dir, device"):
        A.factory(lib_dir=str(lib_dir), colour="red")
    with pytest.raises(ValueError, match="is not a directory"):
        A.factory(lib_dir=str(tmp_path / "nowhere"))
    partial = tmp_path / "lib64"
    partial.mkdir()
    for name in ("libascendcl.so", "libnnopbase.so", "libhccl.so"):
        (partial / name).symlink_to(lib_dir / name)
    with pytest.raises(ValueError) as err:
        A.factory(lib_dir=str(partial))
    assert "no operator library exports aclnnAlltoAllvGroupedMatMulGetWorkspaceSize" in str(err.value)
    assert "set lib_dir" in str(err.value) and "\n" not in str(err.value)
    for var in R.ENV_DIRS:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="ASCEND_HOME_PATH or ASCEND_TOOLKIT_HOME"):
        A.factory()
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(tmp_path))  # $ASCEND_TOOLKIT_HOME/lib64
    (partial / "libopapi_transformer.so").symlink_to(lib_dir / "libopapi.so")
    assert A.factory().paths["opapi"] == partial / "libopapi_transformer.so"
    with pytest.raises(ValueError, match="device must be a non-negative integer"):
        A.factory(lib_dir=str(lib_dir), device=-1)
    with pytest.raises(ValueError, match=r"sync_timeout_ms must be -1 \(wait forever\) or a positive"):
        A.factory(lib_dir=str(lib_dir), sync_timeout_ms=0)
    with pytest.raises(ValueError, match=r"acl_config .* is not a readable JSON file"):
        A.factory(lib_dir=str(lib_dir), acl_config=str(tmp_path / "absent.json"))


# -- the binding's table ---------------------------------------------------------------------------


def test_the_argument_table_builds_the_verified_prototypes():
    """The first stages of aclnn_allto_allv_grouped_mat_mul.h (HARDWARE-REVIEW.md section 6),
    written out once as the reference the table must build; the keywords are the protocol's."""
    vp, s, i64, b = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_bool
    head = [vp] * 6 + [s]  # gmmX, gmmWeight, sendCountsTensor, recvCountsTensor, mmX, mmWeight, group
    rest = [i64, vp, vp, b, b, b, vp, vp, vp]  # epWorldSize, sendCounts, recvCounts, 3 flags, 3 outputs
    tail = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(vp)]  # workspaceSize, executor
    second = (ctypes.c_int32, [vp, ctypes.c_uint64, vp, vp])
    assert A.OPERATOR.prototypes == {
        "opapi": {"aclnnAlltoAllvGroupedMatMulGetWorkspaceSize": (ctypes.c_int32, head + rest + tail),
                  "aclnnAlltoAllvGroupedMatMul": second},
        "opapi_v2": {"aclnnAlltoAllvGroupedMatMulV2GetWorkspaceSize": (ctypes.c_int32,
                                                                       [*head, s, *rest, *tail]),
                     "aclnnAlltoAllvGroupedMatMulV2": second}}
    assert tuple(a.name for a in A.ARGS if not a.entry) == OP.first_stage_args


# -- valid worlds --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, pins", [
    (1, Pins(dtype="float16", shared=True, trans_mm=True, flag=True)),
    (2, Pins(dtype="bfloat16", trans_gmm=True, shared=False, flag=False)),
    (3, Pins(dtype="bfloat16", shared=True, flag=True, e=3)),
])
def test_valid_worlds_pass_with_outputs_judged(world, fake, seed, pins):
    case = build_world(Seeded(seed), "910_95", 4, CANN, pins, "CALC.gmm")
    assert intended(case, CANN) is None
    result = run(world, case)
    assert result.passed, [f.message for f in result.findings]
    assert result.plan.data_mode and result.plan.repeat
    assert all((r.status1, r.status2) == (0, 0) for r in result.reports)
    judged = {v["clause"] for r in result.reports for v in r.verdicts}
    assert ("CALC.transGmmWeight" if case.trans_gmm_weight else "CALC.gmm") in judged
    assert ("CALC.permute" in judged) == case.permute_out_flag
    if case.shared is not None:
        assert ("CALC.transMmWeight" if case.trans_mm_weight else "CALC.mm") in judged
    assert fake[1].fake_live_allocations() == 0, "every device buffer was freed after the case"


def test_call_log_holds_the_exact_arguments(world, log):
    result = run(world, BASE)
    assert result.passed, [f.message for f in result.findings]
    records = log()
    call = rank_call(records, BASE.send_counts(0))
    t = call["tensor"]
    assert {k for k, v in t.items() if v is None} == {"sendCountsTensor", "recvCountsTensor",
                                                      "permuteOut"}
    expected = {  # rank 0: BSK 8, A 8, e 2, H1 16, N1 8 (weight stored transposed), BS 4, H2 16, N2 4
        "gmmX": [8, 16], "gmmWeight": [2, 8, 16], "mmX": [4, 16], "mmWeight": [16, 4],
        "gmmY": [8, 8], "mmY": [4, 4],
    }
    for name, dims in expected.items():
        rec = t[name]
        contiguous = [int(np.prod(dims[i + 1:])) for i in range(len(dims))]
        assert (rec["view"], rec["storage"], rec["strides"]) == (dims, dims, contiguous), name
        assert (rec["offset"], rec["dtype"], rec["format"]) == (0, 1, 2), name  # FLOAT16, ND
        assert rec["alloc_offset"] % 32 == 0 and rec["alloc_offset"] >= M.GUARD_BYTES, name
        assert rec["alloc_size"] >= rec["alloc_offset"] + 2 * np.prod(dims) + M.GUARD_BYTES, name
    assert [a["values"] for a in call["arrays"]] == [list(BASE.send_counts(0)),
                                                     list(BASE.recv_counts(0))]
    assert call["group"] == world.group_name and call["ep_world_size"] == 4
    assert (call["trans_gmm_weight"], call["trans_mm_weight"], call["permute_out_flag"]) == (
        True, False, False)
    assert not call["workspace_size_ptr_null"] and not call["executor_ptr_null"]
    size = call["return"]["workspace_size"]
    assert call["return"]["status"] == 0 and size > 0
    assert call["stage2"] == {**call["stage2"], "workspace_null": False, "workspace_size": size,
                              "stream_null": False}
    # Every input and output crossed host to device exactly once per run (the case runs twice:
    # the repeatability check), and nothing else did.
    per_run = sum(2 * (BASE.bsk(r) * 16 + 2 * 8 * 16 + 4 * 16 + 16 * 4 + BASE.a(r) * 8 + 4 * 4)
                  for r in range(4))
    h2d = [r["count"] for r in records if r["fn"] == "aclrtMemcpy" and r["kind"] == 1]
    assert sum(h2d) == 2 * per_run and len(h2d) == 2 * 4 * 6


# -- exact statuses, null pointers, misuse -------------------------------------------------------


@pytest.mark.parametrize("fault, status, check", [
    (Fault("null", "gmmX"), (161001, None), lambda c: c["tensors"]["gmmX"] is None),
    (Fault("null", "gmmY"), (161001, None), lambda c: c["tensors"]["gmmY"] is None),
    (Fault("null", "sendCounts"), (161002, None), lambda c: c["send_counts"] is None),
    (Fault("null", "group"), (161001, None), lambda c: c["group"] is None),
    (Fault("value", "group", ""), (161001, None), lambda c: c["group"] == ""),
    (Fault("null", "workspaceSize"), (161001, None), lambda c: c["workspace_size_ptr_null"]),
    (Fault("null", "executor"), (161001, None), lambda c: c["executor_ptr_null"]),
    (Fault("present", "sendCountsTensor"), (161001, None),
     lambda c: c["tensor"]["sendCountsTensor"]["dtype"] == 9),  # ACL_INT64
    (Fault("format", "gmmX", "FRACTAL_NZ"), (161002, None),
     lambda c: (c["tensor"]["gmmX"]["format"], c["tensor"]["gmmX"]["storage"]) == (29, [1, 1, 16, 16])),
    (Fault("null", "stage2.executor"), (0, 161001),
     lambda c: c["stage2"] is None),  # the null executor has no id in the second stage's record
    (Fault("null", "stage2.workspace"), (0, 161001), lambda c: c["stage2"]["workspace_null"]),
    (Fault("stage2", "workspace_short", 64), (0, 161002),
     lambda c: c["stage2"]["workspace_size"] == c["return"]["workspace_size"] - 64),
])
def test_exact_statuses_and_what_reached_the_library(world, log, fault, status, check):
    case = BASE.with_(faults=(fault,), side="invalid", clause="X")
    result = run(world, case)
    assert result.passed, [f.message for f in result.findings]
    assert [(r.status1, r.status2) for r in result.reports] == [status] * 4
    records = log()
    if fault.param == "sendCounts":  # no array tells the ranks apart: every rank's call is alike
        call = next(r for r in records if r["fn"] == "aclnnAlltoAllvGroupedMatMulGetWorkspaceSize")
    else:
        call = rank_call(records, BASE.send_counts(0))
    assert check(call), call


def test_a_null_executor_stage_leaves_no_executor_behind(world, log, fake):
    case = BASE.with_(faults=(Fault("null", "stage2.executor"),), side="invalid", clause="X")
    assert run(world, case).passed
    stage2 = [r for r in log() if r["fn"] == "aclnnAlltoAllvGroupedMatMul"]
    assert len(stage2) == 4 and all(r["executor"] == 0 for r in stage2)
    assert fake[1].fake_live_handles() == 0


def test_placeholders_get_descriptors_and_memory_but_no_data(world, log, fake):
    """First-stage-only cases run on shape-only placeholders: nothing crosses host to device,
    and a tensor too large for the device gets a small stand-in (the first stage reads none)."""
    case = BASE.with_(faults=(Fault("rank", "gmmWeight", 1),), side="invalid", clause="X",
                      stage="first")
    result = run(world, case)
    assert result.passed and not result.plan.data_mode
    assert not [r for r in log() if r["fn"] == "aclrtMemcpy" and r["kind"] == 1]
    lib = fake[1]
    lib.fake_set_device_limit(1 << 20)
    try:
        big = BASE.with_(h1=65535, stage="first", clause="RANGE.H1")  # gmmX 1 MiB per rank
        result = run(world, big)
    finally:
        lib.fake_set_device_limit(64 << 30)
    assert result.passed, [f.message for f in result.findings]
    sizes = {r["alloc_size"] for r in log() if r["fn"] == "aclCreateTensor"
             and r["view"] == [8, 65535]}
    assert sizes and max(sizes) < 2 * 8 * 65535, "the stand-in is smaller than the storage"


# -- device-side integrity ------------------------------------------------------------------------


@pytest.mark.parametrize("mischief, clause, text", [
    ({"overrun": "gmm_y"}, "OUT.bounds",
     "gmmY: the device guard region past its end (beyond the aclrtMalloc padding) was overwritten"),
    ({"overrun": "mm_y"}, "OUT.bounds", "mmY: the device guard region past its end"),
    ({"scribble": "gmm_x"}, "OUT.inputs", "gmmX changed on the device during the call"),
])
def test_device_writes_out_of_bounds_and_into_inputs_are_findings(world, monkeypatch, mischief,
                                                                  clause, text):
    monkeypatch.setattr(callbacks, "MISCHIEF", mischief)
    result = run(world, BASE)
    assert result.outcome == "failed"
    found = [f for f in result.findings if f.clause == clause]
    assert len(found) == 4 and all(text in f.message and f.kind == "integrity" for f in found)
    monkeypatch.setattr(callbacks, "MISCHIEF", {})
    assert run(world, BASE).passed, "the world is fine for the next case"


# -- the fake catches adapter bugs (FAKE_ACL_STRICT=1), the backend its own descriptors ------------


def _planted(acl, bug):
    """aclCreateTensor given a broken descriptor below the backend's own check (its arguments
    changed on the way to the library): offset 3, doubled strides, data 16 bytes off."""
    real = acl.aclCreateTensor

    def create(*a):
        a = list(a)
        if bug == "offset":
            a[4] = 3
        elif bug == "strides":
            a[3] = (ctypes.c_int64 * max(a[1], 1))(*[2 * a[3][i] for i in range(a[1])])
        else:
            a[8] = a[8] + 16
        return real(*a)
    return create


@pytest.mark.parametrize("bug, message", [
    ("offset", "offset (argument 5) must be 0 here, got 3"),
    ("strides", "strides inconsistent with storageDims"),
    ("unaligned", "is not 32-byte aligned"),
    ("destroyed", "was destroyed before the second stage"),
])
def test_the_fake_fails_loudly_on_a_planted_adapter_bug(world, log, fake, monkeypatch, capfd, bug,
                                                        message):
    monkeypatch.setenv("FAKE_ACL_STRICT", "1")
    acl = A.OPERATOR.load(A.OPERATOR.find_libraries(str(fake[0])))
    if bug != "destroyed":
        monkeypatch.setattr(acl, "aclCreateTensor", _planted(acl, bug))
    else:
        first = A.AclnnBackend.get_workspace_size

        def destroy_early(self, ctx, **kw):
            status, size, executor = first(self, ctx, **kw)
            for t in executor.call.tensors.values():
                self.acl.aclDestroyTensor(t.handle)
                t.handle = 0
            return status, size, executor
        monkeypatch.setattr(A.AclnnBackend, "get_workspace_size", destroy_early)
    result = run(world, BASE)
    assert result.outcome == "failed"
    texts = [f.message for f in result.findings]
    if bug == "destroyed":
        assert all(r.status2 == FAKE_MISUSE for r in result.reports), texts
    else:
        assert all(f.kind == "crash" and message in f.message for f in result.findings), texts
    assert any(message in r.get("error", "") for r in log())
    assert message in capfd.readouterr().err
    monkeypatch.undo()
    assert run(world, BASE).passed, "after the bug is gone the same world passes again"


def test_by_default_the_fake_takes_a_broken_descriptor_and_the_device_misreads_it(world, log, fake,
                                                                                  monkeypatch):
    """As the runtime does: offset 3 on every tensor passes aclCreateTensor and both stages, and
    the kernel reads and writes 3 elements off: wrong outputs, no error anywhere."""
    monkeypatch.delenv("FAKE_ACL_STRICT", raising=False)
    acl = A.OPERATOR.load(A.OPERATOR.find_libraries(str(fake[0])))
    monkeypatch.setattr(acl, "aclCreateTensor", _planted(acl, "offset"))
    result = run(world, BASE)
    assert result.outcome == "failed"
    assert {f.kind for f in result.findings} <= {"numeric", "movement", "integrity"}, \
        [f.message for f in result.findings]
    assert all((r.status1, r.status2) == (0, 0) for r in result.reports)
    assert not [r for r in log() if "error" in r or "refused" in r]
    monkeypatch.undo()
    assert run(world, BASE).passed


@pytest.mark.parametrize("bug, message", [
    ("strides", "the descriptor of gmmX is broken: dims (8, 16) with strides (32, 2) reach element "
                "255 but the storage (8, 16) holds 128; expected a view inside its storage"),
    ("unaligned", "is not 512-byte aligned; expected every tensor at ALIGN"),
    ("short", "the descriptor of gmmX is broken: 256 bytes of storage at 0x"),
    ("freed", "the device buffer of gmmX, gmmWeight, mmX, mmWeight, gmmY, mmY was freed before the "
              "second stage; expected every buffer of a call alive until the call is released"),
])
def test_the_backend_refuses_a_broken_descriptor_it_built_before_the_runtime_sees_it(
        world, log, fake, monkeypatch, bug, message):
    """The runtime checks nothing of a descriptor (the fake by default neither), so the backend's
    own bugs in layouts or buffers are caught by the backend, one line naming the tensor."""
    monkeypatch.delenv("FAKE_ACL_STRICT", raising=False)
    if bug == "freed":
        first = A.AclnnBackend.get_workspace_size

        def free_early(self, ctx, **kw):
            status, size, executor = first(self, ctx, **kw)
            for t in executor.call.tensors.values():
                t.buffer.free()
            return status, size, executor
        monkeypatch.setattr(A.AclnnBackend, "get_workspace_size", free_early)
    elif bug == "strides":
        def broken(array, fmt, layout_of=L.layout_of):
            lay = layout_of(array, fmt)
            return L.Layout(lay.view, tuple(2 * s for s in lay.strides), lay.storage, lay.kind)
        monkeypatch.setattr(L, "layout_of", broken)
    else:
        init = M.DeviceBuffer.__init__

        def shifted(self, acl, nbytes, tail=M.GUARD_BYTES):
            init(self, acl, nbytes, tail)
            if bug == "unaligned":
                self.data += 16
            else:
                self.nbytes -= 2
        monkeypatch.setattr(M.DeviceBuffer, "__init__", shifted)
    result = run(world, BASE)
    texts = [f.message for f in result.findings]
    assert result.outcome == "failed" and texts
    ours = [f.message for f in result.findings if "DescriptorError('aclnn backend bug: " in f.message]
    assert ours and all(message in m for m in ours), texts
    if bug != "freed":  # a first-stage refusal on every rank; a second-stage one aborts the peers
        assert len(ours) == len(texts) == 4 and {f.kind for f in result.findings} == {"crash"}, texts
    stage = "aclnnAlltoAllvGroupedMatMul" if bug == "freed" else "aclCreateTensor"
    assert not [r for r in log() if r["fn"] == stage], "the runtime never saw it"
    monkeypatch.undo()
    assert run(world, BASE).passed
    assert fake[1].fake_live_allocations() == 0


# -- layouts ---------------------------------------------------------------------------------------


def test_layouts_of_views_placeholders_and_nz():
    w = np.arange(2 * 3 * 5, dtype=np.float16).reshape(2, 3, 5)
    view = w.transpose(0, 2, 1)  # a transposed weight: (2, 5, 3) over (2, 3, 5) storage
    lay = L.layout_of(view, "ND")
    assert (lay.kind, lay.view, lay.strides, lay.storage) == ("permuted", (2, 5, 3), (15, 1, 5), (2, 3, 5))
    assert np.array_equal(lay.to_storage(view), w)
    assert np.array_equal(lay.from_storage(lay.to_storage(view).view(np.uint8).reshape(-1),
                                           view.dtype), view)
    ph = np.broadcast_to(np.ones(1, np.float16).reshape(1, 1), (1000, 64))
    lay = L.layout_of(ph, "ND")
    assert L.is_placeholder(ph) and (lay.kind, lay.strides) == ("contiguous", (64, 1))
    x = np.random.default_rng(0).random((20, 33)).astype(np.float16)
    lay = L.layout_of(x, "FRACTAL_NZ")
    assert lay.storage == (3, 2, 16, 16)
    raw = lay.to_storage(x).view(np.uint8).reshape(-1)
    assert np.array_equal(lay.from_storage(raw, x.dtype), x)
    rev = x[::-1]
    assert L.layout_of(rev, "ND").kind == "copied"


def test_transposed_view_reaches_the_library_with_its_strides(fake, log):
    """A single-rank call (rejected by the sim for ep=1, which does not matter here): the view's
    strides and storage dims are what aclCreateTensor receives."""
    backend = A.AclnnBackend(str(fake[0]))
    ctx = RankContext(0, 1, "910_95", ThreadComm(ThreadExchange(1, 5), 0), "g")
    w = np.ones((2, 3, 5), np.float16).transpose(0, 2, 1)
    args = dict(gmm_x=np.ones((4, 5), np.float16), gmm_weight=w, send_counts_tensor=None,
                recv_counts_tensor=None, mm_x=None, mm_weight=None, group="g", ep_world_size=1,
                send_counts=[2, 2], recv_counts=[2, 2], trans_gmm_weight=False,
                trans_mm_weight=False, permute_out_flag=False, gmm_y=np.zeros((4, 3), np.float16),
                mm_y=None, permute_out=with_format(np.zeros((4, 5), np.float16), "NHWC"))
    try:
        with ranks.bound(ctx):
            status, _, _ = backend.get_workspace_size(ctx, **args)
    finally:
        backend.close()
    assert status != 0
    made = [r for r in log() if r["fn"] == "aclCreateTensor"]
    weight = next(r for r in made if r["view"] == [2, 5, 3])
    assert (weight["strides"], weight["storage"]) == ([15, 1, 5], [2, 3, 5])
    assert next(r for r in made if r["format"] == 1)["view"] == [4, 5]  # NHWC reached the library
    assert fake[1].fake_live_allocations() == 0
