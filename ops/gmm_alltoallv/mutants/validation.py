"""Validation faults, one per entry of the simulator's check table it could break: each shipped
check's status code swapped, each check left out, each range limit off by one on both sides of
both its ends, a world size or an engine the product does not support, the tiling errors reported
by the wrong stage.

The checks are always the sim's own (ops/gmm_alltoallv/sim.py, `FIRST_STAGE`, `SECOND_STAGE`):
a fault is one entry of the version's row changed (`codes`, `limits`, `absent`, the world sizes
and engines a product accepts), so the faults are made from the table itself, one class each,
and a check the table gains has its faults at once. Left out, each with its reason below: the
volume checks, the lower end of e*ep, an empty group, e = 0, e * ep = 257, BS > 0, and
dtype.supported left out (`NOT_LEFT_OUT`); faults under the shipped code only: a check the text
does not have, a code it leaves open, a check whose absence it cannot tell (`SHADOWED_UNDER_DOC`).
"""

from __future__ import annotations

from dataclasses import replace

import ops
from fixtures.catalog import TableFaults
from fixtures.protocol import RankContext
from ops.gmm_alltoallv.mutants._base import mutant
from ops.gmm_alltoallv.sim import (
    API_CHECKS,
    BEHAVIORS,
    CHECKS,
    INVALID,
    NULLPTR,
    SUCCESS,
    TILING_CHECKS,
    Args,
    Behavior,
    SimBackend,
    SimExecutor,
)

# The contract versions that are published texts (the rest are shipped code).
TEXTS = frozenset(name for name in BEHAVIORS if ops.get("gmm_alltoallv").profile(name).kind
                  == "published")
# The checks whose published status admits two readings (profiles/doc.toml): a swapped code is no
# fault under the text, only under the shipped code.
TWO_READINGS = frozenset({"mm.triple"})
# No recorded version runs the volume checks, so a fault of theirs would be no fault.
NEVER = frozenset({"volume.card", "volume.peer"})
# e * ep = 1 needs ep = 1, which no product accepts, and e * ep = 0 needs e = 0 (range.e): no
# call lies at the lower end of e * ep.
NO_LOW_END = frozenset({"e_ep"})
# Values just under a lower end that an earlier check always catches (an empty group is
# GROUP.empty), or a later one rejects with the same code in every version (e = 0 makes
# e * ep = 0, which range.e_ep rejects next).
NO_LOW_OUTSIDE = frozenset({"group_len", "e"})
# Checks whose absence the published text cannot tell from their presence, since the check right
# after them rejects the same calls with the same 161002 (an empty group fails group.len, an empty
# counts list counts.*_len); the shipped code's codes differ (161001 / 561002), so there they
# are faults.
SHADOWED_UNDER_DOC = frozenset({"group.empty", "counts.empty"})
# A float dtype outside {FLOAT16, BFLOAT16} on one tensor also mismatches gmmX's, which
# dtype.match rejects with the same code in every version; only a call whose every float tensor
# has the one unsupported dtype tells them apart, and such a call breaks several clauses at once
# (DTYPE.gmmX, DTYPE.gmmWeight, DTYPE.y, ...), which no single-clause case of the suite does.
NOT_LEFT_OUT = frozenset({"dtype.supported"})
# Limits whose value one past the upper end no call can have: e * ep with ep a power of two is
# even, so e * ep <= 257 admits exactly what e * ep <= 256 does (the fault would be no fault).
NO_HIGH_OUTSIDE = frozenset({"e_ep"})


V2 = ("v2",)  # commMode is V2's: only a tier calling it (`-- --entry v2`) shows its faults

TableFaults(
    SimBackend, CHECKS, BEHAVIORS, TEXTS,
    swapped=lambda code: NULLPTR if code == INVALID else INVALID,
    never=NEVER, not_left_out=NOT_LEFT_OUT, shadowed_under_doc=SHADOWED_UNDER_DOC,
    two_readings=TWO_READINGS, no_low_end=NO_LOW_END, no_low_outside=NO_LOW_OUTSIDE,
    no_high_outside=NO_HIGH_OUTSIDE,
    not_limits=frozenset(limit for limit in BEHAVIORS["doc"].limits
                         if limit.startswith("volume.")),
    entry_points=lambda check: V2 if check.startswith("comm_mode.") else None,
).register(__name__)


# -- world sizes and engines --------------------------------------------------------------------


@mutant("a3_accepts_950_sizes", "PRODUCT.A3.epWorldSize: Atlas A3 accepts 950's ep = 2 and 4 "
        "(one product's set used for both)")
class A3Accepts950Sizes(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        both = tuple(sorted({*row.ep_sizes["A3"], *row.ep_sizes["910_95"]}))
        return replace(row, ep_sizes={**row.ep_sizes, "A3": both})


@mutant("npu950_rejects_ep2", "PRODUCT.910_95.epWorldSize: ep = 2 rejected on 950 (A3's set "
        "used on every product)")
class Npu950RejectsEp2(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, ep_sizes={**row.ep_sizes, "910_95": row.ep_sizes["910_95"][1:]})


@mutant("a3_accepts_ccu", "PRODUCT.A3.commMode: Atlas A3 accepts \"ccu\" (950's engines used on "
        "every product)", entry_points=V2)
class A3AcceptsCcu(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, comm_modes={**row.comm_modes, "A3": row.comm_modes["910_95"]})


@mutant("npu950_rejects_ccu", "PRODUCT.910_95.commMode: 950 accepts \"ai_cpu\" only",
        entry_points=V2)
class Npu950RejectsCcu(SimBackend):
    def row(self, version: Behavior) -> Behavior:
        row = super().row(version)
        return replace(row, comm_modes={**row.comm_modes, "910_95": ("ai_cpu",)})


# -- the wrong stage ---------------------------------------------------------------------------


@mutant("tiling_in_second_stage", "every tiling error is reported by the second stage; the first "
        "stage succeeds")
class TilingInSecondStage(SimBackend):
    def check(self, ctx: RankContext, a: dict, null_outputs: frozenset, comm_mode: object) -> int:
        call = Args(ctx.product, a, null_outputs, comm_mode)
        status = self.first_broken(API_CHECKS, call)
        if status == SUCCESS:
            a["_deferred"] = self.first_broken(TILING_CHECKS, call)
        return status

    @staticmethod
    def n1(a: dict) -> int:
        """N1 for the workspace size, of a call whose shapes the tiling has not read yet."""
        try:
            return SimBackend.n1(a)
        except IndexError:
            return 0

    def execute(self, ctx: RankContext, workspace, workspace_size: int, executor, stream) -> int:
        deferred = (executor.args.get("_deferred", SUCCESS)
                    if isinstance(executor, SimExecutor) else SUCCESS)
        if deferred != SUCCESS:
            return deferred
        return super().execute(ctx, workspace, workspace_size, executor, stream)
