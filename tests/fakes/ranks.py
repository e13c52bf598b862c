"""What the fakes need to compute the operator for real: the calling rank and its communicator.

A fake library (the fake torch_npu, the fake CANN libraries) is called without a RankContext, as
the real ones are. In a rank process it finds its rank and peers through torch.distributed (the
world the pool initialised); in the in-process tests, where ranks are threads of one process, a
test binds each thread to its rank with `bound(ctx)` (or wraps the backend in `Bound`).

The operator itself is its simulator (`SIMS`: the dispatch's ops.alltoallv_gmm.sim, the combine's
ops.gmm_alltoallv.sim): its first-stage check decides the status, its second stage moves real
data through the communicator. Product and contract reading come from FAKE_PRODUCT (default
910_95) and FAKE_BEHAVIOR (default cann-2025.12, the shipped code), for the combine
FAKE_COMBINE_BEHAVIOR (default cann-2026.07: it has no profile of December 2025).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ml_dtypes
import numpy as np

from fixtures.protocol import RankContext
from ops.alltoallv_gmm.sim import SimBackend
from ops.gmm_alltoallv.sim import SimBackend as CombineSim

_local = threading.local()
WIRE_DTYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16), np.dtype(np.float32),
               np.dtype(np.float64), np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32),
               np.dtype(np.int64), np.dtype(np.uint8), np.dtype(np.bool_))
MAX_WIRE_DIMS = 8


def product() -> str:
    return os.environ.get("FAKE_PRODUCT", "910_95")


DISPATCH, COMBINE = "alltoallv_gmm", "gmm_alltoallv"  # the operators the fakes implement
SIMS: dict[str, type] = {DISPATCH: SimBackend, COMBINE: CombineSim}
BEHAVIOR_ENV = {DISPATCH: ("FAKE_BEHAVIOR", "cann-2025.12"),
                COMBINE: ("FAKE_COMBINE_BEHAVIOR", "cann-2026.07")}


def operator_args(operator: str) -> dict[str, str]:
    """The keyword naming `operator` to first_stage/second_stage: none for the dispatch, so the
    calls the dispatch's fakes make keep the signature its tests patch (args, null)."""
    return {} if operator == DISPATCH else {"operator": operator}


def behavior(operator: str = DISPATCH) -> str:
    """The contract version the fake's `operator` honours (its shipped code by default)."""
    name, default = BEHAVIOR_ENV[operator]
    return os.environ.get(name, default)


@contextmanager
def bound(ctx: RankContext) -> Iterator[None]:
    """Calls made by this thread inside the block belong to `ctx`'s rank."""
    previous = getattr(_local, "ctx", None)
    _local.ctx = ctx
    try:
        yield
    finally:
        _local.ctx = previous


def current() -> RankContext:
    """The calling rank: the thread's binding, else this process's torch.distributed rank."""
    ctx = getattr(_local, "ctx", None)
    if ctx is not None:
        return ctx
    import torch.distributed as dist

    if not dist.is_initialized():
        raise RuntimeError("fake operator called outside a rank: no thread binding "
                           "(tests.fakes.ranks.bound) and torch.distributed is not initialised")
    return RankContext(dist.get_rank(), dist.get_world_size(), product(), DistComm())


class DistComm:
    """alltoallv of numpy arrays over torch.distributed's default group (two all_to_all_single:
    a fixed-size header per peer, then the bytes)."""

    def alltoallv(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        import torch
        import torch.distributed as dist

        size = dist.get_world_size()
        if len(chunks) != size:
            raise ValueError(f"alltoallv needs {size} chunks, got {len(chunks)}")
        header = torch.zeros(size, 3 + MAX_WIRE_DIMS, dtype=torch.int64)
        payload = []
        for i, chunk in enumerate(chunks):
            chunk = np.ascontiguousarray(chunk)
            header[i, 0] = chunk.nbytes
            header[i, 1] = WIRE_DTYPES.index(chunk.dtype)
            header[i, 2] = chunk.ndim
            header[i, 3:3 + chunk.ndim] = torch.tensor(chunk.shape, dtype=torch.int64)
            payload.append(chunk.view(np.uint8).reshape(-1))
        got = torch.empty_like(header)
        dist.all_to_all_single(got, header)
        send = torch.from_numpy(np.concatenate(payload)) if payload else torch.empty(0, dtype=torch.uint8)
        recv = torch.empty(int(got[:, 0].sum()), dtype=torch.uint8)
        dist.all_to_all_single(recv, send, got[:, 0].tolist(), header[:, 0].tolist())
        out, offset, raw = [], 0, recv.numpy()
        for row in got.tolist():
            nbytes, code, ndim = row[:3]
            shape = tuple(row[3:3 + ndim])
            out.append(raw[offset:offset + nbytes].copy().view(WIRE_DTYPES[code]).reshape(shape))
            offset += nbytes
        return out

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


class Bound:
    """A backend whose calls run bound to their rank (for worlds of threads in one process)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.two_stage = inner.two_stage
        self.capabilities = inner.capabilities

    def get_workspace_size(self, ctx: RankContext, **kwargs: Any) -> tuple[int, int, object]:
        with bound(ctx):
            return self.inner.get_workspace_size(ctx, **kwargs)

    def execute(self, ctx: RankContext, workspace: Any, workspace_size: int, executor: object,
                stream: object) -> int:
        with bound(ctx):
            return self.inner.execute(ctx, workspace, workspace_size, executor, stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def first_stage(args: dict, null_outputs: frozenset[str] = frozenset(),
                operator: str = DISPATCH) -> tuple[int, int, object]:
    """`operator`'s sim's first stage for the calling rank (its product: the binding's, else
    FAKE_PRODUCT)."""
    sim = SIMS[operator](behavior(operator))
    return sim.get_workspace_size(current(), null_outputs=null_outputs, **args)


def second_stage(executor: object, workspace: np.ndarray | None, workspace_size: int,
                 operator: str = DISPATCH) -> int:
    """`operator`'s sim's second stage for the calling rank (moves real data through its
    communicator)."""
    sim = SIMS[operator](behavior(operator))
    return sim.execute(current(), workspace, workspace_size, executor, None)


def run_case(world: Any, backend: Any, case: Any, profile: Any, judge: str = "mixed") -> Any:
    """One case on a world of `backend`s, planned and summarised as the suite does
    (fixtures.runner), returning its CaseResult."""
    from fixtures.protocol import capabilities
    from fixtures.runner import CaseResult, plan_case, summarise

    two_stage = bool(getattr(backend, "two_stage", True))
    exp, plan, why = plan_case(case, profile, capabilities(backend), judge, True, two_stage)
    if plan is None:
        return CaseResult(case, exp, "not_applicable", reason=why)
    return summarise(case, exp, world.run(plan), plan, 0.0)
