"""The round trip's backend: one rank's dispatch backend and combine backend, called as MindSpeed
calls them (contracts/gmm_alltoallv.md section 7), on the same rank and communicator.

Each half is named like any backend (a built-in name, resolved by its own operator's record, or
package.module:factory): `backend` names both, `dispatch` and `combine` one each, so a faulty
half can be paired with a correct one:

    --operator moe_layer --backend sim \
        --backend-option dispatch=ops.alltoallv_gmm.mutants.routing:source_major_permute

Any other option goes to both halves (a backend of one's own named with `backend`). A half its
operator has no backend of that name for, or a backend that implements another
operator, leaves the pair without it: every case is then not applicable, with the reason, never
passed. A name that cannot be loaded is bad input (BackendError, one line).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from fixtures.backends import BUILTINS, BackendError, BackendSpec
from fixtures.protocol import NotApplicable, RankContext
from fixtures.protocol import capabilities as capabilities_of
from ops.moe_layer.clauses import HALVES

ROLES = dict(zip(("dispatch", "combine"), HALVES, strict=True))
OWN_OPTIONS = ("backend", *ROLES)  # options of the pair, which no half takes
# The contract versions both halves' simulators know: the pair follows the run's (for_profile).
BEHAVIORS = ("doc", "doc-2026.07", "cann-2026.07")


def half_spec(role: str, name: str, behavior: str | None, options: dict[str, Any]
              ) -> BackendSpec:
    """The backend of one half with the run's other backend options, given the run's contract
    version where its module knows them."""
    op = ROLES[role]
    spec = BackendSpec(name, dict(options), op.name, op.home)
    spec.factory()  # a name that cannot be loaded fails here, as BackendError
    module = importlib.import_module(spec.target.partition(":")[0])
    if behavior is not None and getattr(module, "BEHAVIORS", None) is not None:
        spec.options["behavior"] = behavior
    return spec


@dataclass
class PairExecutor:
    """A round trip between its stages: the halves' calls in order, each a backend and either
    its executor and workspace size or, for a half whose first stage must wait for the previous
    half's outputs, the keyword arguments of that first stage."""

    steps: list[tuple[object, object, int] | tuple[object, dict]]
    keep: tuple[np.ndarray, ...]  # the intermediate buffers the halves write and read


class Pair:
    """The composite's two-stage API over two halves' backends."""

    operator = "moe_layer"
    two_stage = True

    def __init__(self, backend: str = "sim", dispatch: str | None = None,
                 combine: str | None = None, behavior: str | None = None,
                 **options: Any) -> None:
        self.names = {"dispatch": dispatch or backend, "combine": combine or backend}
        self.halves: dict[str, object] = {}
        self.missing: list[str] = []
        kinds = []
        for role, name in self.names.items():
            op = ROLES[role]
            if name in BUILTINS and name not in op.backends:
                self.missing.append(f"{op.title} has no {name} backend")
                continue
            try:
                spec = half_spec(role, name, behavior, options)
                half = spec.make()
                kinds.append(spec.world_kind())
            except BackendError as err:
                raise BackendError(f"the round trip's {role} half: {err}") from err
            declared = getattr(half, "operator", None)
            if isinstance(declared, str) and declared != op.name:
                self.missing.append(f"backend {name} implements {declared}, not {op.title}")
                continue
            self.halves[role] = half
        self.world = ("processes" if "processes" in kinds else "threads"
                      if "threads" in kinds else "turns")
        caps = [capabilities_of(h) for h in self.halves.values()]
        self.capabilities = frozenset.intersection(*caps) if caps else frozenset()

    def provenance(self) -> dict[str, str]:
        return {f"{role} half": name for role, name in self.names.items()}

    def open_rank(self, ctx: RankContext) -> str | None:
        names = [h.open_rank(ctx) for h in self.halves.values() if hasattr(h, "open_rank")]
        return next((n for n in names if n), None)

    def close_rank(self, ctx: RankContext) -> None:
        for h in self.halves.values():
            if hasattr(h, "close_rank"):
                h.close_rank(ctx)

    # -- the two stages ---------------------------------------------------------------------
    def get_workspace_size(self, ctx: RankContext, *, gmm_x: np.ndarray | None,
                           gmm_y_grad: np.ndarray | None, gmm_weight: np.ndarray,
                           combine_weight: np.ndarray | None, group: str | None,
                           ep_world_size: int, send_counts: list[int], recv_counts: list[int],
                           trans_gmm_weight: bool, y: np.ndarray, **v2: Any
                           ) -> tuple[int, int, object]:
        if self.missing:
            raise NotApplicable("the round trip needs both operators: "
                                + "; ".join(self.missing))
        common = dict(send_counts_tensor=None, recv_counts_tensor=None, mm_x=None,
                      mm_weight=None, group=group, ep_world_size=ep_world_size,
                      trans_mm_weight=False, mm_y=None, **v2)
        # The combine runs with the dispatch's counts swapped (MindSpeed: send_counts=
        # recv_counts, recv_counts=send_counts).
        back = dict(common, send_counts=recv_counts, recv_counts=send_counts, y=y)
        combine = self.halves["combine"]
        if gmm_y_grad is not None:  # backward: dX = combine(dY, W1^T)
            weight = gmm_weight if trans_gmm_weight else np.ascontiguousarray(
                gmm_weight.transpose(0, 2, 1))  # rearrange(w1, 'n h f -> n f h')
            status, size, ex = combine.get_workspace_size(
                ctx, gmm_x=gmm_y_grad, gmm_weight=weight, trans_gmm_weight=trans_gmm_weight,
                **back)
            return status, size, PairExecutor([(combine, ex, size)], (weight,))
        dispatch = self.halves["dispatch"]
        rows, (_, h1, n1) = sum(recv_counts), gmm_weight.shape
        hidden = np.empty((rows, n1), gmm_x.dtype)  # the dispatch's gmmY, the combine's gmmX
        permuted = np.empty((rows, h1), gmm_x.dtype)  # kept for dW, as MindSpeed keeps it
        status, size, ex = dispatch.get_workspace_size(
            ctx, **common, gmm_x=gmm_x, gmm_weight=gmm_weight, send_counts=send_counts,
            recv_counts=recv_counts, trans_gmm_weight=False, permute_out_flag=True,
            gmm_y=hidden, permute_out=permuted)
        if status != 0:
            return status, 0, None
        # The combine's first stage waits for the dispatch's outputs, as in the layer: a device
        # backend takes its inputs to the device in its first stage.
        later = dict(back, gmm_x=hidden, gmm_weight=combine_weight, trans_gmm_weight=False)
        return 0, size, PairExecutor([(dispatch, ex, size), (combine, later)], (hidden, permuted))

    def execute(self, ctx: RankContext, workspace: np.ndarray | None, workspace_size: int,
                executor: PairExecutor | None, stream: object) -> int:
        """Each half in turn: its second stage in the run's workspace, or, for a half that waited,
        both its stages (its own workspace where the run's is too small)."""
        if executor is None:
            return 161001
        for step in executor.steps:
            if len(step) == 2:
                half, kwargs = step
                status, size, ex = half.get_workspace_size(ctx, **kwargs)
                if status != 0:
                    return status
                own = workspace is None or size > workspace_size
                space = np.zeros(size, np.uint8) if own else workspace[:size]
            else:
                half, ex, size = step
                space = None if workspace is None else workspace[:size]
            status = half.execute(ctx, space, size, ex, stream)
            if status != 0:
                return status
        return 0


def factory(**options: Any) -> Pair:
    return Pair(**options)


def _named(builtin: str):
    def make(**options: Any) -> Pair:
        return Pair(**{"backend": builtin, **options})

    make.__doc__ = f"The pair of each operator's {builtin} backend (a half may be overridden)."
    return make


sim, torch, torch_npu, aclnn = (_named(b) for b in BUILTINS)
