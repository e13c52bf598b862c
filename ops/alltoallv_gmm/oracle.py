"""The oracle of aclnnAlltoAllvGroupedMatMul: one rank's expected outputs from the case's
content-addressed data alone (no backend), and the judging of what a backend wrote.

The rows rank r receives are regenerated from their (source, r, expert) blocks and laid out
expert-major, source-rank-minor (OPERATOR.md section 1); the products are taken in float64, or,
for a rank whose product is out of the host's reach, judged linearly (golden/linear.py).
permuteOut must match bit for bit (data movement); gmmY and mmY by the chosen accuracy standard.
A wrong permuteOut, or a wrong gmmY where permuteOut is not requested, is diagnosed as well
(diagnose.py): where its wrong rows came from and the fault's pattern.
"""

from __future__ import annotations

import numpy as np

from golden import exact, judge, linear
from golden.judges import Verdict, as_f64
from golden.linear import Groups, linear_judge
from ops.alltoallv_gmm import data, diagnose
from ops.moe.oracle import grouped_product, judge_seed, mm_groups, mm_y
from spec.memo import memoised


def permute_out(case, rank: int) -> np.ndarray:
    """The rows rank `rank` receives: for each local expert j, from each source s in order."""
    return data.gmm_x_blocks(case, [(s, rank, j) for j in range(case.e) for s in range(case.ep)])


def expert_row_offsets(case, rank: int) -> list[int]:
    """Row offsets of each local expert's block in permuteOut and gmmY (length e + 1)."""
    sizes = [sum(case.send[s][rank * case.e + j] for s in range(case.ep)) for j in range(case.e)]
    return [0, *np.cumsum(sizes).tolist()]


def gmm_y(case, rank: int, permuted: np.ndarray | None = None,
          weight: np.ndarray | None = None) -> np.ndarray:
    """gmmY in float64; `permuted` and `weight` (e, H1, N1) are the rank's inputs if given."""
    p = permute_out(case, rank) if permuted is None else permuted
    w = as_f64(data.gmm_weight_logical(case, rank) if weight is None else weight)
    return grouped_product(p, expert_row_offsets(case, rank), w.__getitem__, case.n1)


@memoised()
def expected_outputs(case, rank: int) -> dict[str, np.ndarray | None]:
    p = permute_out(case, rank)
    return {"permuteOut": p, "gmmY": gmm_y(case, rank, p), "mmY": mm_y(case, rank)}


# -- what a rank's outputs are checked against -------------------------------------------------


def requested(call) -> dict[str, bool]:
    """Each output: whether the call asks the operator to write it."""
    return {"gmmY": True, "mmY": call.has("mmX") and call.has("mmWeight"),
            "permuteOut": call.permute_out_flag}


def judge_outputs(case, rank: int, outputs: dict[str, np.ndarray], asked: dict[str, bool],
                  standard: str) -> tuple[list[tuple[str, str, Verdict]], list[str]]:
    """(clause, finding kind, verdict) for every output checked, and the clauses told about.
    The full float64 oracle where it is cheap, the linear judge where its A x H1 x N1 (or
    BS x H2 x N2), or its float64 weights, are out of the host's reach."""
    if preferred(case, rank):
        golden = {"permuteOut": permute_out(case, rank)}
        gmm = judge_gmm(standard, outputs["gmmY"], case, rank, golden["permuteOut"])
        mm = (judge_mm(standard, outputs["mmY"], case, rank)
              if asked["mmY"] and case.shared is not None else None)
    else:
        golden = expected_outputs(case, rank)
        gmm = judge(standard, "gmmY", outputs["gmmY"], golden["gmmY"], case.dtype)
        if not asked["permuteOut"]:
            gmm = diagnose.explain_gmm(gmm, case, rank, outputs["gmmY"], golden["gmmY"],
                                       golden["permuteOut"], standard)
        mm = (judge(standard, "mmY", outputs["mmY"], golden["mmY"], case.dtype)
              if asked["mmY"] and golden["mmY"] is not None else None)
    checks = []
    if asked["permuteOut"] and "permuteOut" in outputs:
        out, want = outputs["permuteOut"], golden["permuteOut"]
        checks.append(("CALC.permute", "movement", diagnose.explain_permute(
            exact("permuteOut", out, want), case, rank, out, want)))
    checks.append(("CALC.transGmmWeight" if case.trans_gmm_weight else "CALC.gmm", "numeric", gmm))
    if mm is not None:
        checks.append(("CALC.transMmWeight" if case.trans_mm_weight else "CALC.mm", "numeric", mm))
    return checks, ["CALC.permuteOutFlag"]


def gmm_groups(case, rank: int, permuted: np.ndarray) -> Groups:
    w = data.gmm_weight_logical(case, rank)
    return Groups(permuted, lambda j: w[j], expert_row_offsets(case, rank))


def preferred(case, rank: int) -> bool:
    """Whether `rank`'s outputs are judged linearly: the float64 oracle would cost more
    multiply-adds or weight memory than the thresholds above (one rank of a production world)."""
    gmm = (case.a(rank) * case.h1 * case.n1, case.e * case.h1 * case.n1 * 8)
    mm = (0, 0) if case.shared is None else (
        case.shared.bs[rank] * case.shared.h2 * case.shared.n2, case.shared.h2 * case.shared.n2 * 8)
    return max(gmm[0], mm[0]) > linear.ORACLE_MACS or max(gmm[1], mm[1]) > linear.ORACLE_BYTES


def judge_gmm(standard: str, y: np.ndarray, case, rank: int, permuted: np.ndarray) -> Verdict:
    return linear_judge(standard, "gmmY", y, gmm_groups(case, rank, permuted), case.dtype,
                        judge_seed(case, rank, "gmmY"))


def judge_mm(standard: str, y: np.ndarray, case, rank: int) -> Verdict:
    return linear_judge(standard, "mmY", y, mm_groups(case, rank), case.dtype,
                        judge_seed(case, rank, "mmY"))
