"""Validation faults: a range boundary off by one, a check left out, a wrong status code, an error
reported at the wrong stage, a world size the product does not support.

The checks are always the sim's own: a fault is one entry of the version's row changed (a code,
a limit, a check left out: `SimBackend.codes`, `limits`, `omitted`; the world sizes a product
accepts: `SimBackend.row`), or the tiling checks moved to the second stage.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from fixtures.protocol import RankContext
from ops.alltoallv_gmm.mutants._base import mutant
from ops.alltoallv_gmm.sim import (
    API_CHECKS,
    MIB,
    NULLPTR,
    SUCCESS,
    TILING_CHECKS,
    Args,
    Behavior,
    SimBackend,
    SimExecutor,
)

# -- range boundaries, off by one -------------------------------------------------------------


@mutant("h1_accepts_65536", "RANGE.H1: H1 = 65536 accepted (the open upper bound taken as closed)")
class H1Accepts65536(SimBackend):
    limits = MappingProxyType({"H1": (1, 65536)})


@mutant("h2_rejects_12288", "RANGE.H2: H2 = 12288 rejected (the closed upper bound taken as open)")
class H2Rejects12288(SimBackend):
    limits = MappingProxyType({"H2": (1, 12287)})


@mutant("n2_accepts_0", "RANGE.N2: N2 = 0 accepted (the open lower bound taken as closed)")
class N2Accepts0(SimBackend):
    limits = MappingProxyType({"N2": (0, 65535)})


@mutant("e_ep_rejects_256", "RANGE.e_ep: e*ep = 256 rejected (the closed upper bound taken as "
        "open)")
class EEpRejects256(SimBackend):
    limits = MappingProxyType({"e_ep": (1, 255)})


@mutant("newer_expert_limits", "RANGE.e / RANGE.e_ep: a later version's limits (e <= 48, "
        "e*ep <= 384) accepted")
class NewerExpertLimits(SimBackend):
    limits = MappingProxyType({"e": (1, 48), "e_ep": (1, 384)})


@mutant("k_accepts_9", "RANGE.K: K = BSK // BS = 9 accepted")
class KAccepts9(SimBackend):
    limits = MappingProxyType({"K": (2, 9)})


@mutant("k_rejects_8", "RANGE.K: K = 8 rejected")
class KRejects8(SimBackend):
    limits = MappingProxyType({"K": (2, 7)})


@mutant("group_len_accepts_128", "RANGE.group_len: a group name of 128 characters accepted")
class GroupLenAccepts128(SimBackend):
    limits = MappingProxyType({"group_len": (1, 128)})


@mutant("bsk_accepts_0", "RANGE.BSK: a rank that sends nothing (BSK = 0) accepted")
class BskAccepts0(SimBackend):
    limits = MappingProxyType({"BSK": (0, 52428799)})


@mutant("bsk_accepts_52428800", "RANGE.BSK: BSK = 52428800 accepted")
class BskAccepts52428800(SimBackend):
    limits = MappingProxyType({"BSK": (1, 52428800)})


# -- checks left out --------------------------------------------------------------------------


@mutant("no_recv_sum_check", "COUNTS.recv_sum: gmmY's rows are never compared with "
        "A = sum(recvCounts)")
class NoRecvSumCheck(SimBackend):
    omitted = frozenset({"counts.recv_sum"})


@mutant("no_dtype_match_check", "DTYPE.match: tensors of different float dtypes accepted together")
class NoDtypeMatchCheck(SimBackend):
    omitted = frozenset({"dtype.match"})


@mutant("no_permute_out_shape_check", "SHAPE.permuteOut: permuteOut's shape never checked against "
        "(A, H1)")
class NoPermuteOutShapeCheck(SimBackend):
    omitted = frozenset({"shape.permuteOut"})


@mutant("no_volume_ceiling", "VOLUME.A3.card_max: the 100 MB per-card ceiling is not enforced",
        profiles=("doc",))
class NoVolumeCeiling(SimBackend):
    limits = MappingProxyType({"volume.card": (2 * MIB, None)})


@mutant("volume_send_only", "VOLUME.A3: the communication volume is checked for what a card sends, "
        "not for what it receives")
class VolumeSendOnly(SimBackend):
    omitted = frozenset({"volume.card.recv", "volume.peer.recv"})


# -- wrong status codes, wrong stage ------------------------------------------------------------


@mutant("dtype_error_nullptr", "DTYPE / FORMAT: an unsupported dtype or format returns 161001 "
        "instead of 161002")
class DtypeErrorNullptr(SimBackend):
    codes = MappingProxyType({"dtype.supported": NULLPTR})


@mutant("empty_group_shipped_code", "GROUP.empty: an empty group returns the shipped 161001 under "
        "the published contract (161002)",
        profiles=("doc",))
class EmptyGroupShippedCode(SimBackend):
    codes = MappingProxyType({"group.empty": NULLPTR})


@mutant("k_error_nullptr", "RANGE.K: a K outside [2, 8] returns 161001 instead of the tiling "
        "error")
class KErrorNullptr(SimBackend):
    codes = MappingProxyType({"range.K": NULLPTR})


@mutant("short_workspace_nullptr", "STAGE2.workspace_small: a too small workspace returns 161001 "
        "instead of 161002")
class ShortWorkspaceNullptr(SimBackend):
    codes = MappingProxyType({"workspace.small": NULLPTR})


@mutant("tiling_in_second_stage", "every tiling error is reported by the second stage; the first "
        "stage succeeds")
class TilingInSecondStage(SimBackend):
    def check(self, ctx: RankContext, a: dict, null_outputs: frozenset) -> int:
        call = Args(ctx.product, a, null_outputs)
        status = self.first_broken(API_CHECKS, call)
        if status == SUCCESS:
            a["_deferred"] = self.first_broken(TILING_CHECKS, call)
        return status

    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        deferred = executor.args.get("_deferred", SUCCESS) if isinstance(executor, SimExecutor) \
            else SUCCESS
        if deferred != SUCCESS:
            return deferred
        return super().execute(ctx, workspace, workspace_size, executor, stream)


# -- world sizes ----------------------------------------------------------------------------


@mutant("a3_accepts_ep4", "PRODUCT.A3.epWorldSize: Atlas A3 accepts ep = 4 (910_95's set used for "
        "every product)")
class A3AcceptsEp4(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, ep_sizes={p: tuple(sorted({4, *s})) for p, s in row.ep_sizes.items()})


@mutant("ep2_accepted", "PRODUCT.910_95.epWorldSize: ep = 2 accepted (a later arch35 tiling's set)")
class Ep2Accepted(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, ep_sizes={**row.ep_sizes, "910_95": (2, *row.ep_sizes["910_95"])})
