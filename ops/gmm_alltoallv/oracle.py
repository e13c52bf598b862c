"""The oracle of aclnnGroupedMatMulAlltoAllv: one rank's expected outputs from the case's
content-addressed data alone (no backend), and the judging of what a backend wrote.

y of rank s comes back in the dispatch operator's gmmX row order (contracts/gmm_alltoallv.md
section 2): for each expert rank r, for each of its local experts j, the rows s's tokens sent
there, each X_block(s, r, j) @ W_r[j]: the block regenerated from its (s, r, j) address and rank
r's weight of expert j from its own. The products are taken in float64, or, for a rank whose
product is out of the host's reach, judged linearly (golden/linear.py), each (r, j) a group.
With identity weights y is the rows themselves, scaled by a power of two: exact, judged bit for
bit (CALC.unpermute). mmY = mmX @ mmWeight by the chosen standard.
"""

from __future__ import annotations

import numpy as np

from golden import exact, judge, linear
from golden.judges import Verdict, as_f64
from golden.linear import Groups, linear_judge
from ops.gmm_alltoallv import data
from ops.moe.oracle import grouped_product, judge_seed, mm_groups, mm_y
from spec.data import np_dtype
from spec.memo import memoised


def returned_blocks(case, rank: int) -> list[tuple[int, int, int]]:
    """The blocks (source, expert rank, expert) of y of `rank`, in y's row order."""
    return [(rank, r, j) for r in range(case.ep) for j in range(case.e)]


def group_offsets(case, rank: int) -> list[int]:
    """Row offsets of each (expert rank r, expert j) group in y, group r*e + j (length
    ep*e + 1)."""
    return [0, *np.cumsum(case.dispatch[rank]).tolist()]


def returned_rows(case, rank: int) -> np.ndarray:
    """The gmmX rows whose results come back to `rank`, in y's order: (BSK, H1)."""
    return data.gmm_x_blocks(case, returned_blocks(case, rank))


def y_exact(case, rank: int) -> np.ndarray:
    """y under identity weights: each row times its expert's power of two, in the dtype."""
    rows = as_f64(returned_rows(case, rank))
    off = group_offsets(case, rank)
    for g in range(case.ep * case.e):
        rows[off[g]:off[g + 1]] *= data.identity_scale(g % case.e)
    return rows.astype(np.float32).astype(np_dtype(case.dtype))


@memoised()
def y_golden(case, rank: int) -> np.ndarray:
    """y in float64 (remembered in a memo scope: ci.mutation judges many entries' y)."""
    x = returned_rows(case, rank)
    e = case.e
    return grouped_product(x, group_offsets(case, rank),
                           lambda g: data.gmm_weight_expert(case, g // e, g % e, float64=True),
                           case.n1)


# -- what a rank's outputs are checked against -------------------------------------------------


def requested(call) -> dict[str, bool]:
    """Each output: whether the call asks the operator to write it."""
    return {"y": True, "mmY": call.has("mmX") and call.has("mmWeight")}


def judge_outputs(case, rank: int, outputs: dict[str, np.ndarray], asked: dict[str, bool],
                  standard: str) -> tuple[list[tuple[str, str, Verdict]], list[str]]:
    """(clause, finding kind, verdict) for every output checked, and the clauses told about:
    y bit for bit under identity weights, else by the standard (the full float64 oracle where
    it is cheap, the linear judge where BSK x H1 x N1, BS x H2 x N2 or the float64 weights are
    out of the host's reach)."""
    checks: list[tuple[str, str, Verdict]] = []
    linear_y, linear_mm = preferred(case, rank)
    if case.weights == "identity":
        checks.append(("CALC.unpermute", "movement", exact("y", outputs["y"], y_exact(case, rank))))
    else:
        if linear_y:
            verdict = linear_judge(standard, "y", outputs["y"], y_groups(case, rank), case.dtype,
                                   judge_seed(case, rank, "y"))
        else:
            verdict = judge(standard, "y", outputs["y"], y_golden(case, rank), case.dtype)
        checks.append(("CALC.transGmmWeight" if case.trans_gmm_weight else "CALC.gmm", "numeric",
                       verdict))
    if asked["mmY"] and case.shared is not None:
        if linear_mm:
            verdict = linear_judge(standard, "mmY", outputs["mmY"], mm_groups(case, rank),
                                   case.dtype, judge_seed(case, rank, "mmY"))
        else:
            verdict = judge(standard, "mmY", outputs["mmY"], mm_y(case, rank), case.dtype)
        checks.append(("CALC.transMmWeight" if case.trans_mm_weight else "CALC.mm", "numeric",
                       verdict))
    return checks, []


def y_groups(case, rank: int) -> Groups:
    """y's operands for the linear judge: group r*e + j is rank r's expert j."""
    e = case.e
    return Groups(returned_rows(case, rank),
                  lambda g: data.gmm_weight_expert(case, g // e, g % e), group_offsets(case, rank))


def preferred(case, rank: int) -> tuple[bool, bool]:
    """Whether y and mmY of `rank` are judged linearly: the float64 oracle would cost more
    multiply-adds, or float64 weights, than golden/linear.py's thresholds (production sizes)."""
    groups = sum(1 for v in case.dispatch[rank] if v)
    y = (case.bsk(rank) * case.h1 * case.n1 > linear.ORACLE_MACS
         or groups * case.h1 * case.n1 * 8 > linear.ORACLE_BYTES)
    mm = case.shared is not None and (
        case.shared.bs[rank] * case.shared.h2 * case.shared.n2 > linear.ORACLE_MACS
        or case.shared.h2 * case.shared.n2 * 8 > linear.ORACLE_BYTES)
    return y, mm
