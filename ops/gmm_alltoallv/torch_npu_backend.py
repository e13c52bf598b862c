"""`torch_npu`: aclnnGroupedMatMulAlltoAllv through torch_npu's `npu_gmm_alltoallv`.

Everything that is the same for the dispatch operator's entry point (the rank's device and hccl
communicator name, the task-queue and cache environment, statuses read from torch_npu's
RuntimeError or the rank's log, outputs checked and copied, the probes and preflight) is
fixtures/torch_npu_backend.py; this module is only what differs, from
contracts/gmm_alltoallv.md section 6 and op-plugin's GmmAllToAllvNpuOpApi.cpp (517f2e7d):

- the schema `npu_gmm_alltoallv(Tensor gmm_x, Tensor gmm_weight, str hcom, int ep_world_size,
  int[] send_counts, int[] recv_counts, *, Tensor? send_counts_tensor=None,
  Tensor? recv_counts_tensor=None, Tensor? mm_x=None, Tensor? mm_weight=None,
  bool trans_gmm_weight=False, bool trans_mm_weight=False, str? comm_mode=None) -> (Tensor, Tensor)`
  (no permute_out_flag), returning (y, mm_y);
- the outputs it builds: y (sum(recv_counts), gmm_weight.size(trans_gmm_weight ? 1 : 2)) with
  gmm_x's options, always; mm_y (mm_x.size(0), mm_weight.size(trans_mm_weight ? 0 : 1)) with
  mm_x's options only when mm_x and mm_weight are both given (one alone: mm_y null, and the
  op_api answers 161001);
- comm_mode given routes to aclnnGroupedMatMulAlltoAllvV2 (after the same "Current CANN version
  do not support this api" check), else V1; its failures read `call aclnnGroupedMatMulAlltoAllv
  failed, error code is N` (or ...V2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fixtures import torch_npu_backend as shared
from fixtures.preflight import Check
from fixtures.torch_npu_backend import (
    DIST_BACKEND,
    RANK_ENV,
    WORLD,
    TorchNpuBackend,
    device_count,
    devices_ready,
    mm_size_reads,
    prepare_process,
    probe_devices,
    soc_name,
    status_pattern,
)
from ops.gmm_alltoallv import OPERATOR

__all__ = ["DIST_BACKEND", "FUNCTION", "KEYWORDS", "POSITIONAL", "RANK_ENV", "RETURNS",
           "STATUS_PATTERN", "WORLD", "CombineTorchNpuBackend", "device_count", "devices_ready",
           "factory", "preflight", "prepare_process", "probe_devices", "soc_name"]

FUNCTION = "npu_gmm_alltoallv"
POSITIONAL = shared.POSITIONAL  # the same six, in the same order (op_plugin_functions.yaml)
KEYWORDS = ("send_counts_tensor", "recv_counts_tensor", "mm_x", "mm_weight", "trans_gmm_weight",
            "trans_mm_weight")  # comm_mode only for the V2 entry point
RETURNS = tuple(OPERATOR.py_name[o] for o in OPERATOR.outputs)  # (y, mm_y)
STATUS_PATTERN = status_pattern(OPERATOR.title)


class CombineTorchNpuBackend(TorchNpuBackend):
    """One rank of npu_gmm_alltoallv: the dispatch's backend with the combine's schema and the
    outputs its adapter builds."""

    operator = OPERATOR.name
    record = OPERATOR
    function = FUNCTION
    since = "first shipped in op-plugin 7.1.0 (CANN 8.2.RC1)"
    positional = POSITIONAL
    keywords = KEYWORDS
    returns = RETURNS
    pattern = STATUS_PATTERN

    def built(self, a: dict) -> dict[str, tuple[bool, str]]:
        """y always; mm_y only with mm_x and mm_weight both (GmmAllToAllvNpuOpApi.cpp)."""
        return {"y": (True, "always builds"),
                "mm_y": (a["mm_x"] is not None and a["mm_weight"] is not None,
                         "builds mm_y only when mm_x and mm_weight are both given")}

    def size_reads(self, a: dict) -> list[tuple[str, int]]:
        """n1 = gmm_weight.size(trans_gmm_weight ? 1 : 2), then the shared expert's dims."""
        return [("gmm_weight", 1 if a["trans_gmm_weight"] else 2), *mm_size_reads(a)]


def preflight(product: str | None, env: Mapping[str, str]) -> list[Check]:
    """The torch_npu host checks (fixtures/torch_npu_backend.preflight) for npu_gmm_alltoallv."""
    return shared.preflight(product, env, function=FUNCTION)


def factory(**unknown: Any) -> TorchNpuBackend:
    """The combine's backend (fixtures/torch_npu_backend.build: it takes no options)."""
    return shared.build(CombineTorchNpuBackend, unknown)
