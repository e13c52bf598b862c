"""The operator behind the fake CANN libraries: ctypes callbacks that run the simulator.

The fake's two aclnn stages validate their arguments in C, then call these with a description of
the call, which names the operator whose entry point was called (the dispatch's or the
combine's, `OPERATORS`); its simulator answers. Tensors are wrapped as numpy views over the fake
device memory (no copy), so the simulator reads the inputs and writes the outputs where the
adapter put them, and the status codes are the simulator's.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import traceback
from pathlib import Path

import ml_dtypes
import numpy as np

from fixtures.protocol import with_format
from tests.fakes import ranks

MAX_DIMS = 8
CALLBACK_RAISED = 999002  # the Python operator raised: the traceback is on stderr
PADDING = 32  # aclrtMalloc's: a buffer of n bytes may be touched up to ALIGN_UP(n, 32) + 32
TENSORS = ("gmm_x", "gmm_weight", "send_counts_tensor", "recv_counts_tensor", "mm_x", "mm_weight",
           "gmm_y", "mm_y", "permute_out")
# fake_call.op: the operator and its keywords for the slots (the combine's y in gmmY's, no
# permuteOut, no permuteOutFlag).
OPERATORS = (ranks.DISPATCH, ranks.COMBINE)
COMBINE_TENSORS = (*TENSORS[:6], "y", "mm_y")
NP_DTYPES = {0: np.float32, 1: np.float16, 2: np.int8, 3: np.int32, 4: np.uint8, 6: np.int16,
             7: np.uint16, 8: np.uint32, 9: np.int64, 10: np.uint64, 11: np.float64, 12: np.bool_,
             27: ml_dtypes.bfloat16}
FORMAT_NAMES = {0: "NCHW", 1: "NHWC", 2: "ND", 3: "NC1HWC0", 4: "FRACTAL_Z", 29: "FRACTAL_NZ"}


class FakeTensor(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_uint64), ("id", ctypes.c_int64), ("live", ctypes.c_int64),
                ("ndim", ctypes.c_int64), ("view", ctypes.c_int64 * MAX_DIMS),
                ("strides", ctypes.c_int64 * MAX_DIMS), ("offset", ctypes.c_int64),
                ("dtype", ctypes.c_int64), ("format", ctypes.c_int64), ("nstorage", ctypes.c_int64),
                ("storage", ctypes.c_int64 * MAX_DIMS), ("storage_bytes", ctypes.c_int64),
                ("data", ctypes.c_void_p), ("reach_lo", ctypes.c_int64), ("reach_hi", ctypes.c_int64),
                ("readable", ctypes.c_int64)]


class FakeIntArray(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_uint64), ("id", ctypes.c_int64), ("live", ctypes.c_int64),
                ("size", ctypes.c_int64), ("values", ctypes.POINTER(ctypes.c_int64))]


class FakeCall(ctypes.Structure):
    _fields_ = [("call_id", ctypes.c_int64), ("tensors", ctypes.POINTER(FakeTensor) * len(TENSORS)),
                ("group", ctypes.c_char_p), ("ep_world_size", ctypes.c_int64),
                ("send_counts", ctypes.POINTER(FakeIntArray)),
                ("recv_counts", ctypes.POINTER(FakeIntArray)), ("trans_gmm_weight", ctypes.c_int64),
                ("trans_mm_weight", ctypes.c_int64), ("permute_out_flag", ctypes.c_int64),
                ("workspace_size_null", ctypes.c_int64), ("executor_null", ctypes.c_int64),
                ("comm_mode", ctypes.c_char_p), ("entry_v2", ctypes.c_int64), ("op", ctypes.c_int64)]


STAGE1 = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(FakeCall), ctypes.POINTER(ctypes.c_uint64))
STAGE2 = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_uint64)

# A misbehaving operator, for tests of the adapter's device-side checks: {"overrun": tensor}
# writes 2 bytes past the aclrtMalloc padding of that output (beyond ALIGN_UP(n, 32) + 32),
# {"pad": tensor} 2 bytes just past its end (inside the padding, tolerated by the platform),
# {"scribble": tensor} changes an input. Defaults from FAKE_ACL_MISCHIEF="overrun=gmm_y,...".
MISCHIEF: dict[str, str] = dict(item.split("=", 1) for item in
                                os.environ.get("FAKE_ACL_MISCHIEF", "").split(",") if "=" in item)
_executors: dict[int, object] = {}
_executors_lock = threading.Lock()
_installed: dict[str, tuple[ctypes.CDLL, object, object]] = {}


def device_array(t: FakeTensor) -> np.ndarray:
    """A numpy view of the tensor as described (dims, strides, offset) over the device memory its
    view reaches, whatever its storage says (the kernel reads and writes what the descriptor
    reaches); a view reaching outside live memory (the fake lets such a descriptor through, as
    the runtime does) is a read-only stand-in of its shape, for the first stage, which reads
    descriptors only: its second stage faults in the fake before any data moves."""
    dtype = np.dtype(NP_DTYPES[t.dtype])
    shape = tuple(t.view[:t.ndim])
    strides = tuple(s * dtype.itemsize for s in t.strides[:t.ndim])
    if t.storage_bytes == 0 or t.reach_hi <= t.reach_lo:
        array = np.zeros(shape, dtype)
    elif not t.readable:
        array = np.broadcast_to(np.zeros((), dtype), shape)
    else:
        buffer = (ctypes.c_char * (t.reach_hi - t.reach_lo)).from_address(t.data + t.reach_lo)
        array = np.ndarray(shape, dtype, buffer=buffer, offset=t.offset * dtype.itemsize - t.reach_lo,
                           strides=strides)
    fmt = FORMAT_NAMES.get(t.format, f"format{t.format}")
    return array if fmt == "ND" else with_format(array, fmt)


def _counts(array: ctypes.POINTER(FakeIntArray)) -> list[int] | None:
    if not array:
        return None
    a = array.contents
    return [int(a.values[i]) for i in range(a.size)]


def _stage1(call_ptr, size_ptr) -> int:
    try:
        c = call_ptr.contents
        operator = OPERATORS[c.op]
        names = COMBINE_TENSORS if operator == ranks.COMBINE else TENSORS
        args: dict = {name: (device_array(c.tensors[i].contents) if c.tensors[i] else None)
                      for i, name in enumerate(names)}
        args.update(group=None if c.group is None else c.group.decode("utf-8", "surrogateescape"),
                    ep_world_size=int(c.ep_world_size), send_counts=_counts(c.send_counts),
                    recv_counts=_counts(c.recv_counts), trans_gmm_weight=bool(c.trans_gmm_weight),
                    trans_mm_weight=bool(c.trans_mm_weight))
        if operator == ranks.DISPATCH:
            args["permute_out_flag"] = bool(c.permute_out_flag)
        if c.entry_v2:  # V2: the operator sees commMode (None: a null pointer)
            mode = c.comm_mode
            args["comm_mode"] = None if mode is None else mode.decode("utf-8", "surrogateescape")
        null = frozenset(n for n, flag in (("workspaceSize", c.workspace_size_null),
                                           ("executor", c.executor_null)) if flag)
        status, size, executor = ranks.first_stage(args, null, **ranks.operator_args(operator))
        if status == 0:
            with _executors_lock:
                _executors[int(c.call_id)] = (operator, executor)
            size_ptr[0] = size
        return int(status)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return CALLBACK_RAISED


def _stage2(call_id: int, workspace: int | None, size: int) -> int:
    try:
        with _executors_lock:
            operator, executor = _executors.pop(int(call_id), (ranks.DISPATCH, None))
        ws = None
        if workspace:
            ws = np.frombuffer((ctypes.c_char * size).from_address(workspace), np.uint8) if size else \
                np.zeros(0, np.uint8)
        status = int(ranks.second_stage(executor, ws, int(size), **ranks.operator_args(operator)))
        if status == 0 and executor is not None:
            _misbehave(executor.args)
        return status
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return CALLBACK_RAISED


def _misbehave(args: dict) -> None:
    target = args.get(MISCHIEF.get("overrun", ""))
    if target is not None:
        ctypes.memset(target.ctypes.data + -(-target.nbytes // PADDING) * PADDING + PADDING, 0x11, 2)
    target = args.get(MISCHIEF.get("pad", ""))
    if target is not None:
        ctypes.memset(target.ctypes.data + target.nbytes, 0x11, 2)
    target = args.get(MISCHIEF.get("scribble", ""))
    if target is not None:
        raw = target.reshape(-1).view(np.uint8)
        raw[0] ^= 0xFF


def install(lib_dir: str | Path, log_path: str | Path | None = None) -> ctypes.CDLL:
    """Register the simulator as the fake's operator in this process (idempotent per library)."""
    path = str(Path(lib_dir) / "libopapi.so")
    if path not in _installed:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        lib.fake_set_operator.argtypes = [STAGE1, STAGE2]
        lib.fake_set_operator.restype = None
        lib.fake_set_log.argtypes = [ctypes.c_char_p]
        lib.fake_set_log.restype = ctypes.c_int32
        for name in ("fake_live_allocations", "fake_live_bytes", "fake_live_handles",
                     "fake_calls_after_fault", "fake_releases_after_fault",
                     "fake_freed_while_running"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = ctypes.c_int64
        lib.fake_set_device_limit.argtypes = [ctypes.c_int64]
        lib.fake_set_device_limit.restype = None
        lib.fake_poisoned.argtypes, lib.fake_poisoned.restype = [], ctypes.c_int32
        lib.fake_reset.argtypes, lib.fake_reset.restype = [], None
        for name in ("fake_peek", "fake_poke"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64]
            getattr(lib, name).restype = ctypes.c_int32
        s1, s2 = STAGE1(_stage1), STAGE2(_stage2)  # kept alive in _installed
        lib.fake_set_operator(s1, s2)
        _installed[path] = (lib, s1, s2)
    lib = _installed[path][0]
    if log_path is not None and lib.fake_set_log(str(log_path).encode()) != 0:
        raise OSError(f"fake_acl: cannot open the log {log_path}")
    return lib
