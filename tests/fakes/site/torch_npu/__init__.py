"""A CPU stand-in for torch_npu: just enough of it for the `torch_npu` backend, plus a call log.

Importing it does what importing torch_npu does, on CPU: `torch.device("npu")` becomes valid
(privateuse1 renamed), `Tensor.npu()` exists (it returns an `NpuTensor`, a CPU tensor marked as
having crossed to the "device"), and torch.distributed gains an "hccl" backend that is gloo
underneath and answers `get_hccl_comm_name`.

`npu_alltoallv_gmm` accepts exactly the calls its schema (SCHEMA, the real wheel's) accepts,
records every call (argument kinds, type tags and values: `CALLS`, and one JSON line per call in
the directory FAKE_TORCH_NPU_LOG), builds its outputs as op_plugin does, and computes the
operator with the simulator over the ranks' communicator (tests/fakes/ranks.py): a call the
simulator's first stage rejects raises torch_npu's RuntimeError with the status code.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from typing import Any

import ml_dtypes
import numpy as np
import torch
import torch.distributed as dist

from tests.fakes import ranks
from tests.fakes.schema import binding_errors, parse, type_tag
from torch_npu import npu

__version__ = "2.14.0+fake"
__all__ = ["CALLS", "SCHEMA", "NpuTensor", "npu", "npu_alltoallv_gmm"]

SCHEMA = ("npu_alltoallv_gmm(Tensor gmm_x, Tensor gmm_weight, str hcom, int ep_world_size, "
          "int[] send_counts, int[] recv_counts, *, Tensor? send_counts_tensor=None, "
          "Tensor? recv_counts_tensor=None, Tensor? mm_x=None, Tensor? mm_weight=None, "
          "bool trans_gmm_weight=False, bool trans_mm_weight=False, bool permute_out_flag=False, "
          "str? comm_mode=None) -> (Tensor, Tensor, Tensor)")
_SCHEMA = parse(SCHEMA)
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
    record = {"pid": os.getpid(), "rank": rank, "pinned_device": npu.pinned_device(),
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
    t = tensor.as_subclass(torch.Tensor).contiguous()
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


def _failed(status: int, detail: str) -> RuntimeError:
    return RuntimeError(f"call aclnnAlltoAllvGroupedMatMul failed, error code is {status}\n"
                        f"[ERROR] fake torch_npu: {detail} (simulator, behavior "
                        f"{ranks.behavior()})")


def npu_alltoallv_gmm(*args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
    _record(args, kwargs)
    errors = binding_errors(_SCHEMA, [type_tag(v) for v in args],
                            {k: type_tag(v) for k, v in kwargs.items()}, exact=False)
    if errors:
        raise TypeError(f"npu_alltoallv_gmm() received an invalid combination of arguments: "
                        f"{'; '.join(errors)}")
    a = dict(zip((p.name for p in _SCHEMA.positional), args, strict=False))
    for p in _SCHEMA.params:
        if p.name not in a:
            a[p.name] = kwargs[p.name] if p.name in kwargs else _DEFAULTS[p.default]
    if a["comm_mode"] is not None:
        raise NotImplementedError("fake torch_npu: comm_mode (the V2 entry point) is not faked")
    for name, value in a.items():
        if isinstance(value, torch.Tensor) and not isinstance(value, NpuTensor):
            raise RuntimeError(f"fake torch_npu: {name} is a CPU tensor; expected an NPU tensor "
                               "(call .npu() first)")
    # op_plugin: empty count lists become [0, 0]; outputs built from the inputs' shapes.
    send = list(a["send_counts"]) or [0, 0]
    recv = list(a["recv_counts"]) or [0, 0]
    gx, gw, mx, mw = a["gmm_x"], a["gmm_weight"], a["mm_x"], a["mm_weight"]
    rows = sum(recv)
    n1 = gw.size(1) if a["trans_gmm_weight"] else gw.size(2)
    out = {"gmm_y": _empty_like_torch((rows, n1), gx), "mm_y": None, "permute_out": None}
    if mx is not None and mw is not None:
        n2 = mw.size(0) if a["trans_mm_weight"] else mw.size(1)
        out["mm_y"] = _empty_like_torch((mx.size(0), n2), mx)
    if a["permute_out_flag"]:
        out["permute_out"] = _empty_like_torch((rows, gx.size(1)), gx)
    sim_args = {
        "gmm_x": _host(gx), "gmm_weight": _host(gw),
        "send_counts_tensor": None if a["send_counts_tensor"] is None else _host(a["send_counts_tensor"]),
        "recv_counts_tensor": None if a["recv_counts_tensor"] is None else _host(a["recv_counts_tensor"]),
        "mm_x": None if mx is None else _host(mx), "mm_weight": None if mw is None else _host(mw),
        "group": a["hcom"], "ep_world_size": a["ep_world_size"], "send_counts": send,
        "recv_counts": recv, "trans_gmm_weight": a["trans_gmm_weight"],
        "trans_mm_weight": a["trans_mm_weight"], "permute_out_flag": a["permute_out_flag"], **out,
    }
    status, size, executor = ranks.first_stage(sim_args)
    if status != 0:
        raise _failed(status, "the first stage rejected the call")
    status = ranks.second_stage(executor, np.zeros(size, np.uint8), size)
    if status != 0:
        raise _failed(status, "the second stage failed")
    return tuple(None if v is None else _device(v) for v in (out["gmm_y"], out["mm_y"],
                                                             out["permute_out"]))


install()
