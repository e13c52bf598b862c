"""Backends and hooks that run inside rank processes for the pool's own tests.

- `faulty`: the sim, plus faults fired from a plan file (`POOL_FAULT_FILE`, JSON
  `{"id": ..., "rank": r, "kinds": [...]}`): each kind fires once, in order, in rank r's second
  stage, so one persistent world can be given one fault after another. Marker files beside the
  plan record what has fired (a restarted world does not fire it again).
- `probe`: the sim, plus a first stage that sends arrays of every dtype and awkward shape
  through `ctx.comm.alltoallv` and fails loudly if one arrives changed; its `open_rank` names the
  group, and the first stage insists on that name.
- `record_setup`: a `CONFORMANCE_RANK_SETUP` hook that writes what a rank saw at start-up.

All accept any world size (`any_ep`), so that small worlds can stand for the real ones.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import ml_dtypes
import numpy as np

from fixtures.protocol import RankContext
from ops.alltoallv_gmm.sim import SUCCESS, Behavior, SimBackend
from ops.alltoallv_gmm.torch_backend import TorchBackend

WORLD = "processes"
DIST_BACKEND = "gloo"
FAULT_FILE = "POOL_FAULT_FILE"
SETUP_DIR = "POOL_SETUP_DIR"
KINDS = ("hang", "sigkill", "sigsegv", "raise", "skip", "exit", "raise_first")


class AnyWorld(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, ep_sizes=dict.fromkeys(row.ep_sizes, tuple(range(1, 257))))


def _fault_for(rank: int, stage: int) -> str | None:
    path = os.environ.get(FAULT_FILE)
    if not path or not Path(path).exists():
        return None
    plan = json.loads(Path(path).read_text())
    if plan["rank"] != rank:
        return None
    for i, kind in enumerate(plan["kinds"]):
        marker = Path(path).with_name(f"{plan['id']}-fired-{i}")
        if marker.exists():
            continue
        if (kind == "raise_first") != (stage == 1):
            return None
        marker.write_text(kind)
        return kind
    return None


def inject(kind: str) -> None:
    """Make this rank misbehave the way `kind` says (returns only for `skip`)."""
    if kind == "hang":
        time.sleep(3600)
    elif kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "sigsegv":
        ctypes.string_at(0)  # a real segmentation fault, not a raised signal
    elif kind in ("raise", "raise_first"):
        raise RuntimeError(f"injected fault: {kind}")
    elif kind == "exit":
        os._exit(3)
    elif kind != "skip":
        raise ValueError(f"unknown fault {kind!r}; accepted: {', '.join(KINDS)}")


class Faulty(AnyWorld):
    def get_workspace_size(self, ctx: RankContext, **kwargs):
        kind = _fault_for(ctx.rank, 1)
        if kind:
            inject(kind)
        return super().get_workspace_size(ctx, **kwargs)

    def execute(self, ctx: RankContext, workspace, workspace_size, executor, stream) -> int:
        kind = _fault_for(ctx.rank, 2)
        if kind:
            inject(kind)
            return SUCCESS  # "skip": the rank never joins the operator's collective
        return super().execute(ctx, workspace, workspace_size, executor, stream)


def probe_arrays(src: int, dst: int) -> list[np.ndarray]:
    """What rank src sends to rank dst: every wire dtype, 0-d, empty, 3-D, non-contiguous."""
    rng = np.random.default_rng(1000 * src + dst)
    base = rng.standard_normal((3, 5, 4)).astype(np.float32) + 1
    return [
        base.astype(np.float16),
        base.astype(ml_dtypes.bfloat16)[:, ::2, :],  # non-contiguous
        base[..., 0].T,  # a transposed view
        np.arange(src * 7 + dst, dtype=np.int64).reshape(-1, 1),  # sizes differ per pair
        np.array(src * 10 + dst, np.int32),  # 0-d
        np.zeros((0, 9), np.int8),  # empty
        rng.integers(0, 2, (2, 3)).astype(bool),
        base.astype(ml_dtypes.float8_e4m3fn),
    ]


class Probe(AnyWorld):
    def open_rank(self, ctx: RankContext) -> str:
        self.group = f"probe_group_{ctx.world_size}"
        return self.group

    def get_workspace_size(self, ctx: RankContext, **kwargs):
        if kwargs["group"] != self.group:
            raise AssertionError(f"the case's group is {kwargs['group']!r}, not open_rank's")
        for item in range(len(probe_arrays(0, 0))):
            sent = [probe_arrays(ctx.rank, d)[item] for d in range(ctx.world_size)]
            got = ctx.comm.alltoallv(sent)
            for s, arr in enumerate(got):
                want = probe_arrays(s, ctx.rank)[item]
                if arr.dtype != want.dtype or arr.shape != want.shape or arr.tobytes() != want.tobytes():
                    raise AssertionError(f"item {item} from rank {s} arrived as {arr.dtype} "
                                         f"{arr.shape}, sent {want.dtype} {want.shape}")
        ctx.comm.barrier()
        return super().get_workspace_size(ctx, **kwargs)


def record_setup(rank: int, world_size: int) -> None:
    """CONFORMANCE_RANK_SETUP hook: what the rank saw before anything else ran."""
    out = Path(os.environ[SETUP_DIR]) / f"rank{rank}-{os.getpid()}.json"
    out.write_text(json.dumps({
        "rank": rank, "world_size": world_size, "pid": os.getpid(),
        "visible": os.environ.get("ASCEND_RT_VISIBLE_DEVICES"),
        "local_rank": os.environ.get("LOCAL_RANK"),
        "torch_imported": "torch" in sys.modules,
    }))


def prepare_process(rank: int, world_size: int, local_rank: int) -> None:
    """The module hook a rank calls before torch.distributed starts (torch_npu: set_device)."""
    folder = os.environ.get(SETUP_DIR)
    if folder:
        import torch.distributed as dist

        out = Path(folder) / f"prepare{rank}-{os.getpid()}.json"
        out.write_text(json.dumps({"rank": rank, "world_size": world_size, "local_rank": local_rank,
                                   "dist_initialized": dist.is_initialized()}))


def faulty(**options) -> Faulty:
    return Faulty(**options)


def probe(**options) -> Probe:
    return Probe(**options)


class SourceMajorTorch(TorchBackend):
    """A faulty torch backend: permutes source-major (the rows as they arrive)."""

    def permute_index(self, recv_counts: list[int], e: int, ep: int) -> np.ndarray:
        return np.arange(sum(recv_counts), dtype=np.int64)


def source_major_torch(**options) -> SourceMajorTorch:
    return SourceMajorTorch(**options)


def broken_factory(**options) -> SimBackend:
    raise RuntimeError("this backend cannot be built in a rank process")
