"""A CPU stand-in for torch_npu: just enough of it for the `torch_npu` backend, plus a call log.

Importing it does what importing torch_npu does, on CPU: `torch.device("npu")` becomes valid
(privateuse1 renamed), `Tensor.npu()` exists (it returns an `NpuTensor`, a CPU tensor marked as
having crossed to the "device"), and torch.distributed gains an "hccl" backend that is gloo
underneath and answers `get_hccl_comm_name`.

`npu_alltoallv_gmm` (the dispatch, SCHEMA) and `npu_gmm_alltoallv` (the combine, COMBINE_SCHEMA,
computed by ops.gmm_alltoallv.sim; the messages name aclnnGroupedMatMulAlltoAllv) each accept
exactly the calls their schema (the real wheel's) accepts, record every call (argument kinds,
type tags and values: `CALLS`, and one JSON line per call in the directory FAKE_TORCH_NPU_LOG),
build their outputs as op_plugin does, and compute the operator with the simulator over the
ranks' communicator (tests/fakes/ranks.py). They report failures as torch_npu does (op_plugin's
EXEC_NPU_CMD, npu.py for the task queue):

- TASK_QUEUE_ENABLE=0: both stages in the calling thread; each failure raises at once, with
  `call aclnnAlltoAllvGroupedMatMul failed, error code is N`;
- 1 (the default): the first stage in the calling thread (that message), the second in the task
  queue (its failure surfaces later, without a code; see npu.py);
- 2: both stages in the queue, so even a first-stage rejection loses its code;
- TORCH_NPU_COMPACT_ERROR_OUTPUT=1: the synchronous message is CANN's own text, without the code.

FAKE_TORCH_NPU_NO_OP=1 stands for a torch_npu without the operator (op-plugin before 7.1.0).

`comm_mode=` routes to the V2 entry point; FAKE_TORCH_NPU_NO_V2=1 stands for an older CANN
without it ("Current CANN version do not support this api", before any aclnn call). A second
stage that meets FAKE_NPU_FAULT_ONCE is a device fault (npu_host): AICore exception 507015 at the
next synchronize, this process's device poisoned for fresh processes, every later call failing.
The aclnn cache torch_npu consults before every first stage is modelled as op-plugin and opbase
implement it (op_plugin/utils/op_api_common.h hit_cache, opbase op_cache.cpp): the key is the
deterministic-algorithms flag, the entry point's name, every EXEC_NPU_CMD argument in order
(a tensor by its sizes, dtype, strides, storage offset and storage size, never its address or
data; an absent one as a separator; hcom, comm_mode and the count lists by value) and the device
(in a world of threads, the calling rank stands for its process's device). Only a first stage
that succeeded makes an entry, and a failed second stage of that call removes it again; a later
call with the same key skips GetWorkspaceSize altogether and launches the cached executor, whose
failure reads `call failed, error code is N` (hit_cache's NPU_CHECK_ERROR names no operator).
DISABLE_L2_CACHE set to any value turns the cache off, ACLNN_CACHE_LIMIT bounds it (0: nothing
cached); both are read once per process (npu.pta_cache_limit). The cache is modelled for an
executor opbase can cache: the shipped operator returns nnopbase's own executor
(aclnnInnerAlltoAllvGroupedMatMulGetWorkspaceSize), which opbase does not add to this cache, so
this is the worst case a CANN that caches it would show.

A `.dist-info` next to this package registers it in the `torch.backends` entry point group, as
the real wheel does, so `import torch` imports it (unless TORCH_DEVICE_BACKEND_AUTOLOAD=0) in a
process that has the fake site on its path.
"""

from __future__ import annotations

import os

# As the real package: no autoload while this import itself imports torch (a circular import
# otherwise); _autoload restores the caller's setting for its subprocesses.
ORG_AUTOLOAD = os.getenv("TORCH_DEVICE_BACKEND_AUTOLOAD", "1")
os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"

import itertools  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from ops.alltoallv_gmm.sim import SimExecutor  # noqa: E402
from ops.gmm_alltoallv.sim import SimExecutor as CombineExecutor  # noqa: E402
from tests.fakes import npu_host, ranks  # noqa: E402
from tests.fakes.schema import Schema, binding_errors, parse, type_tag  # noqa: E402
from torch_npu import npu  # noqa: E402

__version__ = "2.14.0+fake"
__all__ = ["CALLS", "COMBINE_SCHEMA", "SCHEMA", "NpuTensor", "npu", "npu_alltoallv_gmm",
           "npu_gmm_alltoallv"]
OP = "aclnnAlltoAllvGroupedMatMul"
COMBINE_OP = "aclnnGroupedMatMulAlltoAllv"
NO_V2 = ("Current CANN version do not support this api. Please try to update the version of "
         "CANN.")

SCHEMA = ("npu_alltoallv_gmm(Tensor gmm_x, Tensor gmm_weight, str hcom, int ep_world_size, "
          "int[] send_counts, int[] recv_counts, *, Tensor? send_counts_tensor=None, "
          "Tensor? recv_counts_tensor=None, Tensor? mm_x=None, Tensor? mm_weight=None, "
          "bool trans_gmm_weight=False, bool trans_mm_weight=False, bool permute_out_flag=False, "
          "str? comm_mode=None) -> (Tensor, Tensor, Tensor)")
_SCHEMA = parse(SCHEMA)
# The combine's (op_plugin_functions.yaml, the wheel's npu_native_functions_by_codegen.yaml).
COMBINE_SCHEMA = ("npu_gmm_alltoallv(Tensor gmm_x, Tensor gmm_weight, str hcom, int ep_world_size, "
                  "int[] send_counts, int[] recv_counts, *, Tensor? send_counts_tensor=None, "
                  "Tensor? recv_counts_tensor=None, Tensor? mm_x=None, Tensor? mm_weight=None, "
                  "bool trans_gmm_weight=False, bool trans_mm_weight=False, str? comm_mode=None) "
                  "-> (Tensor, Tensor)")
CALLS: list[dict] = []
_calls_lock = threading.Lock()
_BF16 = np.dtype(ml_dtypes.bfloat16)


class NpuTensor(torch.Tensor):
    """A tensor on the fake device: CPU memory, marked. Torch ops on it keep the mark."""

    def cpu(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.as_subclass(torch.Tensor).clone()


def _to_npu(self: torch.Tensor, device: Any = None, non_blocking: bool = False,
            **kwargs: Any) -> NpuTensor:
    npu.count_transfer(self.numel())
    return self.as_subclass(torch.Tensor).clone().as_subclass(NpuTensor)


# -- the hccl process group: gloo underneath ------------------------------------------------
_GROUPS: list[Any] = []  # kept alive so that _get_backend() returns these very objects
_group_ids = itertools.count()


class FakeHcclBackend(dist.ProcessGroupGloo):
    def __init__(self, store: Any, rank: int, size: int, timeout: Any) -> None:
        super().__init__(store, rank, size, timeout)
        self.comm_name = f"fake_hccl_{size}_{next(_group_ids)}"

    def get_hccl_comm_name(self, rank: int) -> str:
        return self.comm_name


def _create_hccl(store: Any, rank: int, size: int, timeout: Any) -> FakeHcclBackend:
    group = FakeHcclBackend(store, rank, size, timeout)
    _GROUPS.append(group)
    return group


def install() -> None:
    """What `import torch_npu` does to torch (idempotent)."""
    if torch._C._get_privateuse1_backend_name() != "npu":
        torch.utils.rename_privateuse1_backend("npu")
    if getattr(torch.Tensor, "npu", None) is not _to_npu:
        torch.Tensor.npu = _to_npu
    if getattr(dist.Backend, "HCCL", None) is None:
        dist.Backend.register_backend("hccl", _create_hccl, devices=["cpu", "npu"])


# -- the operator -------------------------------------------------------------------------------
def _describe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return {"shape": list(value.shape), "dtype": str(value.dtype).replace("torch.", ""),
                "device": "npu" if isinstance(value, NpuTensor) else "cpu",
                "contiguous": value.is_contiguous()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    return value


def _record(args: tuple, kwargs: dict) -> dict:
    try:
        rank = ranks.current().rank
    except RuntimeError:
        rank = None
    try:
        level: int | None = npu.task_queue_enable()
    except RuntimeError:
        level = None
    record = {"pid": os.getpid(), "rank": rank, "pinned_device": npu.pinned_device(),
              "task_queue": level, "aclnn_cache_limit": npu.pta_cache_limit(),
              "positional": [{"type": type_tag(v), "value": _describe(v)} for v in args],
              "keyword": {k: {"type": type_tag(v), "value": _describe(v)} for k, v in kwargs.items()}}
    with _calls_lock:
        CALLS.append(record)
    folder = os.environ.get("FAKE_TORCH_NPU_LOG")
    if folder:
        with open(os.path.join(folder, f"torch_npu.{os.getpid()}.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    return record


def _host(tensor: torch.Tensor) -> np.ndarray:
    t = tensor.as_subclass(torch.Tensor)  # strides kept: a stride-0 placeholder stays one element
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(_BF16)
    return t.numpy()


def _device(array: np.ndarray) -> NpuTensor:
    if array.dtype == _BF16:
        t = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(array)
    return t.as_subclass(NpuTensor)


def _empty_like_torch(shape: tuple[int, ...], like: torch.Tensor) -> np.ndarray:
    """A host array for an output torch_npu would build with `like`'s dtype."""
    return np.empty(shape, _host(torch.empty(0, dtype=like.dtype)).dtype)


_DEFAULTS = {"None": None, "False": False, "True": True}


@dataclass(frozen=True)
class Entry:
    """One operator's torch_npu entry point as op_plugin implements it: its schema, its aclnn
    name, its adapter (for messages), the simulator behind it, EXEC_NPU_CMD's bool arguments
    after the count lists, the outputs it returns (in order) and how it builds them."""

    schema: Schema
    op: str
    adapter: str
    operator: str  # ranks.DISPATCH or ranks.COMBINE
    flags: tuple[str, ...]
    outputs: tuple[str, ...]
    build: Callable[[dict], dict[str, np.ndarray | None]]
    cached_executor: Callable[[dict, int], object]  # the executor a cache hit launches


def _failed_text(entry: Entry, op: str, status: int, detail: str, cached: bool = False) -> str:
    """NPU_CHECK_ERROR's message for a failed aclnn call (NPUException.h), CANN's text after it;
    with compact errors only CANN's text, so no code. A cached executor's launch fails in
    hit_cache, whose message names no operator."""
    cann = (f"EZ9999: [PID: {os.getpid()}] fake CANN: {detail} (simulator, behavior "
            f"{ranks.behavior(entry.operator)})")
    if npu.compact_errors():
        return cann
    where = "hit_cache:op_plugin/utils/op_api_common.h:1000" if cached else entry.adapter
    return (f"{where} NPU function error: call {'' if cached else op + ' '}failed, error code is "
            f"{status}{npu.pta_error()}\n{cann}")


def _tensor_key(t: Any) -> Any:
    """add_param_to_buf(at::Tensor): view sizes, dtype, strides, storage offset, storage size."""
    if t is None:
        return ","
    return (tuple(t.shape), str(t.dtype), tuple(t.stride()), t.storage_offset(),
            t.untyped_storage().nbytes() // t.element_size())


def _pta_key(entry: Entry, op: str, a: dict, results: tuple) -> tuple:
    """hit_cache's key: the deterministic flag, the entry point, EXEC_NPU_CMD's arguments in
    order (AllToAllvGmmNpuOpApi.cpp, GmmAllToAllvNpuOpApi.cpp), then the device."""
    try:
        rank = ranks.current().rank
    except RuntimeError:
        rank = None
    tensors = [_tensor_key(a[n]) for n in ("gmm_x", "gmm_weight", "send_counts_tensor",
                                           "recv_counts_tensor", "mm_x", "mm_weight")]
    mode = () if a["comm_mode"] is None else (a["comm_mode"],)
    return (torch.are_deterministic_algorithms_enabled(), op, *tensors, a["hcom"], *mode,
            int(a["ep_world_size"]), tuple(a["send_counts"]), tuple(a["recv_counts"]),
            *(bool(a[f]) for f in entry.flags), *(_tensor_key(r) for r in results),
            (npu.current_device(), rank))


def _first_stage(entry: Entry, key: tuple | None, sim_args: dict) -> tuple[int, int, object, bool]:
    """(status, workspace size, executor, cached): a hit skips GetWorkspaceSize and reuses the
    entry's executor (its size; the call's own addresses); a miss runs it and caches a success."""
    cache = npu.pta_cache()
    if key is not None and key in cache:
        return 0, cache[key], entry.cached_executor(sim_args, cache[key]), True
    status, size, executor = ranks.first_stage(sim_args, **ranks.operator_args(entry.operator))
    if status == 0 and key is not None and len(cache) < npu.pta_cache_limit():
        cache[key] = size
    return status, size, executor, False


def _second_stage(entry: Entry, op: str, executor: object, size: int, queued: bool,
                  key: tuple | None = None, cached: bool = False) -> None:
    """The second stage: on the device (data moves now); a failure raises at once, or, queued,
    is parked in the task queue, and takes its call's cache entry with it. A planted device
    fault poisons this process's device."""
    status = ranks.second_stage(executor, np.zeros(size, np.uint8), size,
                                **ranks.operator_args(entry.operator))
    if status != 0 and not cached and key is not None:
        npu.pta_cache().pop(key, None)
    if npu_host.take_planted_fault():
        pinned = npu.pinned_device()
        visible = npu_host.visible_devices()
        if pinned is not None and pinned < len(visible):
            npu_host.poison((visible[pinned],))
        npu.device_fault(npu_host.AICORE_EXCEPTION)
        return
    if status == 0:
        return
    text = _failed_text(entry, op, status, "the second stage failed", cached)
    if not queued:
        raise RuntimeError(text)
    npu.queue_failed(text, op)


def _mm_y(a: dict) -> np.ndarray | None:
    """mm_y (mm_x.size(0), mm_weight.size(trans ? 0 : 1)) with mm_x's options, only when both
    are given: the same in both adapters."""
    mx, mw = a["mm_x"], a["mm_weight"]
    if mx is None or mw is None:
        return None
    return _empty_like_torch((mx.size(0), mw.size(0) if a["trans_mm_weight"] else mw.size(1)), mx)


def _n1(a: dict) -> int:
    return a["gmm_weight"].size(1) if a["trans_gmm_weight"] else a["gmm_weight"].size(2)


def _dispatch_outputs(a: dict) -> dict[str, np.ndarray | None]:
    """AllToAllvGmmNpuOpApi.cpp: gmm_y (BSK, N1), mm_y, permute_out (BSK, H1) when flagged."""
    rows, gx = sum(a["recv_counts"]), a["gmm_x"]
    return {"gmm_y": _empty_like_torch((rows, _n1(a)), gx), "mm_y": _mm_y(a),
            "permute_out": _empty_like_torch((rows, gx.size(1)), gx) if a["permute_out_flag"]
            else None}


def _combine_outputs(a: dict) -> dict[str, np.ndarray | None]:
    """GmmAllToAllvNpuOpApi.cpp: y (sum(recv_counts), N1) with gmm_x's options, mm_y."""
    return {"y": _empty_like_torch((sum(a["recv_counts"]), _n1(a)), a["gmm_x"]), "mm_y": _mm_y(a)}


def _has_mm(sim_args: dict) -> bool:
    return sim_args["mm_x"] is not None and sim_args["mm_weight"] is not None


DISPATCH = Entry(_SCHEMA, OP, "npu_alltoallv_gmm:op_plugin/ops/opapi/AllToAllvGmmNpuOpApi.cpp:67",
                 ranks.DISPATCH, ("trans_gmm_weight", "trans_mm_weight", "permute_out_flag"),
                 ("gmm_y", "mm_y", "permute_out"), _dispatch_outputs,
                 lambda a, size: SimExecutor(args=a, workspace_size=size, write_mm_y=_has_mm(a),
                                             write_permute_out=bool(a["permute_out_flag"])))
COMBINE = Entry(parse(COMBINE_SCHEMA), COMBINE_OP,
                "npu_gmm_alltoallv:op_plugin/ops/opapi/GmmAllToAllvNpuOpApi.cpp:68",
                ranks.COMBINE, ("trans_gmm_weight", "trans_mm_weight"), ("y", "mm_y"),
                _combine_outputs,
                lambda a, size: CombineExecutor(args=a, workspace_size=size, write_mm_y=_has_mm(a)))


def _call(entry: Entry, args: tuple, kwargs: dict) -> tuple[Any, ...]:
    """One call of `entry` as op_plugin makes it: bind to the schema, build the outputs, then
    EXEC_NPU_CMD's two stages (in the caller's thread or the task queue, by TASK_QUEUE_ENABLE)."""
    _record(args, kwargs)
    schema = entry.schema
    errors = binding_errors(schema, [type_tag(v) for v in args],
                            {k: type_tag(v) for k, v in kwargs.items()}, exact=False)
    if errors:
        raise TypeError(f"{schema.name}() received an invalid combination of arguments: "
                        f"{'; '.join(errors)}")
    a = dict(zip((p.name for p in schema.positional), args, strict=False))
    for p in schema.params:
        if p.name not in a:
            a[p.name] = kwargs[p.name] if p.name in kwargs else _DEFAULTS[p.default]
    for name, value in a.items():
        if isinstance(value, torch.Tensor) and not isinstance(value, NpuTensor):
            raise RuntimeError(f"fake torch_npu: {name} is a CPU tensor; expected an NPU tensor "
                               "(call .npu() first)")
    op = entry.op
    if a["comm_mode"] is not None:
        if os.environ.get("FAKE_TORCH_NPU_NO_V2") == "1":
            raise RuntimeError(NO_V2 + "\n[ERROR] ERR01005 OPS invalid parameter")
        op = entry.op + "V2"
    level = npu.task_queue_enable()
    npu.check_device(op)
    # op_plugin: the count lists pass unchanged (ConvertType); outputs built from the inputs' shapes.
    out = entry.build(a)
    sim_args = {name: None if a[name] is None else _host(a[name])
                for name in ("gmm_x", "gmm_weight", "send_counts_tensor", "recv_counts_tensor",
                             "mm_x", "mm_weight")}
    sim_args.update(group=a["hcom"], ep_world_size=a["ep_world_size"],
                    send_counts=list(a["send_counts"]), recv_counts=list(a["recv_counts"]),
                    **{f: a[f] for f in entry.flags}, **out)
    if a["comm_mode"] is not None:
        sim_args["comm_mode"] = a["comm_mode"]
    results = tuple(None if out[n] is None else _device(out[n]) for n in entry.outputs)
    key = _pta_key(entry, op, a, results) if npu.pta_cache_limit() else None
    if level < 2:  # EXEC_NPU_CMD_V1: the first stage here, the second enqueued (level 1)
        status, size, executor, cached = _first_stage(entry, key, sim_args)
        if status != 0:
            raise RuntimeError(_failed_text(entry, op, status, "the first stage rejected the call"))
        if level == 1 and npu.enqueue_dropped(op):
            return results
        _second_stage(entry, op, executor, size, level == 1, key, cached)
        return results
    if npu.enqueue_dropped(op):  # EXEC_NPU_CMD_V2: both stages in the queue
        return results
    status, size, executor, cached = _first_stage(entry, key, sim_args)
    if status != 0:
        npu.queue_failed(_failed_text(entry, op, status, "the first stage rejected the call"), op)
        return results
    _second_stage(entry, op, executor, size, True, key, cached)
    return results


def npu_alltoallv_gmm(*args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
    """The dispatch: (gmm_y, mm_y, permute_out)."""
    return _call(DISPATCH, args, kwargs)  # type: ignore[return-value]


def npu_gmm_alltoallv(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """The combine: (y, mm_y), computed by ops.gmm_alltoallv's simulator."""
    return _call(COMBINE, args, kwargs)  # type: ignore[return-value]


def _autoload() -> None:
    """The `torch.backends` entry point torch calls at the end of `import torch` (the import
    did the work)."""
    os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = ORG_AUTOLOAD


install()
if os.environ.get("FAKE_TORCH_NPU_NO_OP") == "1":  # a torch_npu older than op-plugin 7.1.0
    del npu_alltoallv_gmm, npu_gmm_alltoallv
