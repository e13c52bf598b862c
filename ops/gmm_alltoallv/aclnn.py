"""`aclnn`: aclnnGroupedMatMulAlltoAllv's two-stage C API (and its V2), called through ctypes.

The operator's binding, as fixtures/aclnn.py is the dispatch operator's: its arguments are its
parameter table (params.py), which is in the order of the prototypes contracts/gmm_alltoallv.md
section 3 gives (gmmX, gmmWeight, sendCountsTensorOptional, recvCountsTensorOptional,
mmXOptional, mmWeightOptional, group, [commMode: V2 only,] epWorldSize, sendCounts, recvCounts,
transGmmWeight, transMmWeight, y, mmYOptional, workspaceSize, executor); its entry points are
the record's `symbols`; its kernel's name in the kernel package is GroupedMatMulAlltoAllv (the
op def's OP_ADD, grouped_mat_mul_allto_allv_def.cpp). Everything else (runtime, device memory,
descriptors, the rank's HCCL communicator, both stages, the host's checks) is fixtures/acl/.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fixtures.acl.backend import OPTIONS, OperatorBackend
from fixtures.acl.binding import binding_of
from fixtures.acl.host import device_count, devices_ready, probe_devices, soc_name
from fixtures.acl.host import preflight as host_preflight
from fixtures.acl.runtime import RANK_ENV
from fixtures.aclnn import DIST_BACKEND, WORLD
from fixtures.preflight import Check
from fixtures.protocol import ALL_CAPABILITIES
from ops.gmm_alltoallv import OPERATOR as CONTRACT

__all__ = ["ARGS", "DIST_BACKEND", "OPERATOR", "OPTIONS", "OP_TYPE", "RANK_ENV", "WORLD",
           "AclnnBackend", "device_count", "devices_ready", "factory", "preflight",
           "probe_devices", "soc_name"]

OP_TYPE = "GroupedMatMulAlltoAllv"
OPERATOR = binding_of(CONTRACT, OP_TYPE, ALL_CAPABILITIES)
ARGS = OPERATOR.args


class AclnnBackend(OperatorBackend):
    """aclnnGroupedMatMulAlltoAllv on one rank (fixtures/acl/backend.py); V2 when its CANN has it."""

    operator = OPERATOR


factory = AclnnBackend.from_options  # the backend from --backend-option values (OPTIONS)


def preflight(product: str | None, env: Mapping[str, str], lib_dir: str | os.PathLike | None = None,
              **options: object) -> list[Check]:
    """The host's checks for this operator (fixtures/acl/host.py), on the CANN of `lib_dir`."""
    return host_preflight(OPERATOR, product, env, lib_dir)
