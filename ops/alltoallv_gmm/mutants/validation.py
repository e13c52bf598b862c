"""Validation faults, one per entry of the simulator's check table it could break: each check's
status code swapped, each check left out, each range limit off by one on both sides of both its
ends (fixtures.catalog.TableFaults, so a check the table gains has its faults at once); and,
written by hand, the ones the table's entries do not make: a later version's limits, no volume
ceiling, the volume checked one way only, an error reported at the wrong stage, a world size the
product does not support. Left out, each with its reason below: what no call can show under any
profile the job runs, and under the published text what it cannot tell apart.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import ops
from fixtures.catalog import TableFaults
from fixtures.protocol import RankContext
from ops.alltoallv_gmm.mutants._base import mutant
from ops.alltoallv_gmm.sim import (
    API_CHECKS,
    BEHAVIORS,
    CHECKS,
    INVALID,
    MIB,
    NULLPTR,
    SUCCESS,
    TILING_CHECKS,
    Args,
    Behavior,
    SimBackend,
    SimExecutor,
)

# -- the check table's own faults ----------------------------------------------------------

# The contract versions that are published texts (the rest are shipped code).
TEXTS = frozenset(name for name in BEHAVIORS if ops.get("alltoallv_gmm").profile(name).kind
                  == "published")
# OPTPAIR.mm's published status admits either code (profiles/doc.toml): a swapped code is no fault
# under the text, only under the shipped code.
TWO_READINGS = frozenset({"mm.pair"})
# Checks whose absence the published text cannot tell from their presence: a later check rejects
# the same calls with the same 161002 (an empty group fails group.len, an empty counts list
# counts.len); the shipped code's codes differ (161001 / 561002), so there they are faults.
SHADOWED_UNDER_DOC = frozenset({"group.empty", "counts.empty"})
# e * ep = 1 needs ep = 1, which no product accepts, and e * ep = 0 needs e = 0 (range.e): no
# call lies at the lower end of e * ep.
NO_LOW_END = frozenset({"e_ep"})
# Values just under a lower end that another check always catches with the same code: an
# empty group (group.empty), e = 0 (range.e_ep next), BS = 0 (range.K next: K = BSK / BS has no
# value); a card's or a peer's bytes are even (two a row element), so none lies one byte past
# either end of a volume range.
NO_LOW_OUTSIDE = frozenset({"group_len", "e", "volume.card", "volume.peer", "BS"})
# Checks whose absence no call can show: without range.BS, a BS of 0 fails range.K (or, in 2026,
# counts.bsk_multiple) with the same code.
NOT_LEFT_OUT = frozenset({"range.BS"})
# e * ep with ep a power of two is even: e * ep <= 257 admits what e * ep <= 256 does.
NO_HIGH_OUTSIDE = frozenset({"e_ep", "volume.card"})
# The faults written below under names that say more (the same change of the row under the text).
MADE_BY_HAND = frozenset({"no_counts_recv_sum_check", "no_shape_permuteout_check",
                          "dtype_supported_code_swapped", "range_k_code_swapped",
                          "workspace_small_code_swapped", "group_empty_code_swapped"})

TableFaults(
    SimBackend, CHECKS, BEHAVIORS, TEXTS,
    swapped=lambda code: NULLPTR if code == INVALID else INVALID,
    shadowed_under_doc=SHADOWED_UNDER_DOC, two_readings=TWO_READINGS,
    no_low_end=NO_LOW_END, no_low_outside=NO_LOW_OUTSIDE, no_high_outside=NO_HIGH_OUTSIDE,
    made_by_hand=MADE_BY_HAND, not_left_out=NOT_LEFT_OUT,
    limit_checks={"BS": ("range.BS",),
                  "volume.card": ("volume.card.send", "volume.card.recv"),
                  "volume.peer": ("volume.peer.send", "volume.peer.recv")},
    entry_points=lambda check: ("v2",) if check.startswith("comm_mode.") else None,
).register(__name__)


# -- written by hand ----------------------------------------------------------------------------


@mutant("newer_expert_limits", "RANGE.e / RANGE.e_ep: a later version's limits (e <= 48, "
        "e*ep <= 384) accepted", profiles=("doc", "cann-2025.12", "cann-2026.07"))
class NewerExpertLimits(SimBackend):
    limits = MappingProxyType({"e": (1, 48), "e_ep": (1, 384)})


# -- checks left out --------------------------------------------------------------------------


@mutant("no_recv_sum_check", "COUNTS.recv_sum: gmmY's rows are never compared with "
        "A = sum(recvCounts)")
class NoRecvSumCheck(SimBackend):
    omitted = frozenset({"counts.recv_sum"})


@mutant("no_permute_out_shape_check", "SHAPE.permuteOut: permuteOut's shape never checked against "
        "(A, H1)")
class NoPermuteOutShapeCheck(SimBackend):
    omitted = frozenset({"shape.permuteOut"})


@mutant("no_volume_ceiling", "VOLUME.A3.card_max: the 100 MB per-card ceiling is not enforced",
        profiles=("doc",))
class NoVolumeCeiling(SimBackend):
    limits = MappingProxyType({"volume.card": (2 * MIB, None)})


@mutant("volume_send_only", "VOLUME.A3: the communication volume is checked for what a card sends, "
        "not for what it receives", profiles=("doc", "cann-2025.12"))
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


@mutant("ep2_accepted", "PRODUCT.910_95.epWorldSize: ep = 2 accepted (a later arch35 tiling's set)",
        profiles=("doc", "cann-2025.12"))
class Ep2Accepted(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, ep_sizes={**row.ep_sizes, "910_95": (2, *row.ep_sizes["910_95"])})
