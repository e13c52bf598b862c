"""The contract of aclnnGroupedMatMulAlltoAllv, one clause a rule, each with a stable id.

Clauses are listed in the order the shipped first stage checks them (contracts/gmm_alltoallv.md
section 5: op_api's null and pair checks, the group's length, the counts, V2's commMode, then
nnopbase's dtypes and formats, then tiling), so when a call breaks several, the first enforced
one decides the status (`spec.expect`). Ids follow the dispatch operator's grammar wherever the
rule is the same. Statuses are not here: a spec profile (`profiles/*.toml`) maps every clause to
the status it returns, or says it is not enforced.

Clauses without a rule (`CALC.*`, `OUT.*`) are stated on valid calls only; the oracle checks them.
"""

from __future__ import annotations

from ops.gmm_alltoallv.params import FLOAT_DTYPES, FORMATS, PARAM
from spec.call import MIB
from spec.operator import (
    FORMAT_ARGS,
    NULL_ATTRIBUTES,
    NULL_INPUTS,
    NULL_OUT_POINTERS,
    OUTPUT_ARGS,
    STAGE_CONTROL,
)
from spec.operator import Clause as C
from spec.rules import (
    CountsConsistent,
    DtypeIn,
    DtypeMatches,
    Equal,
    FormatIn,
    Implies,
    InRange,
    InSet,
    IsNull,
    NotNull,
    RankIs,
    Rule,
    Truthy,
)

PRODUCTS = ("A3", "910_95")
ENTRIES = ("v1", "v2")  # aclnnGroupedMatMulAlltoAllv and aclnnGroupedMatMulAlltoAllvV2

DOC = "contracts/gmm_alltoallv.md section 4 (published text, ops-transformer ffed75a38)"
V2_DOC = "contracts/gmm_alltoallv.md sections 3-4 (aclnnGroupedMatMulAlltoAllvV2.md, ffed75a38)"
SHIPPED = "contracts/gmm_alltoallv.md section 5 (shipped op_api and tiling, 3a280bcc)"
LAYOUT = "contracts/gmm_alltoallv.md sections 2 and 7 (the routing back)"
VOLUME = "contracts/gmm_alltoallv.md sections 4-5 (the Atlas A3 volume, a rule until 2026)"


def Clause(id: str, area: str, text: str, rule: Rule | None = None, source: str = DOC,
           products: tuple[str, ...] = PRODUCTS, needs: tuple[str, ...] = (),
           entries: tuple[str, ...] = ENTRIES) -> C:
    """A clause of this contract: from the published text, on every product and entry point,
    unless it says otherwise."""
    return C(id, area, text, rule, source, products, needs, entries)


def _out(param: str) -> tuple[str, ...]:
    return (OUTPUT_ARGS,) if PARAM[param].role == "output" else ()


_FLOAT_TENSORS = ("gmmX", "gmmWeight", "mmX", "mmWeight", "y", "mmY")


def _op_api_clauses() -> list[C]:
    """op_api, step 1 (161001 in the shipped code), then the group's length and the counts."""
    out = [
        Clause("NULL.workspaceSize", "stages", "workspaceSize: a required output pointer",
               NotNull("workspaceSize"), needs=(NULL_OUT_POINTERS,)),
        Clause("NULL.executor", "stages", "executor: a required output pointer",
               NotNull("executor"), needs=(NULL_OUT_POINTERS,)),
    ]
    for p in ("gmmX", "gmmWeight", "y"):
        out.append(Clause(f"NULL.{p}", "null",
                          f"{PARAM[p].c_name}: required {PARAM[p].role}, not a null pointer",
                          NotNull(p), needs=_out(p) or (NULL_INPUTS,)))
    for p in ("sendCountsTensor", "recvCountsTensor"):
        out.append(Clause(f"COUNTTENSOR.{p[:4]}", "null",
                          f"{PARAM[p].c_name}: not supported, must be nullptr", IsNull(p)))
    out += [
        Clause("NULL.group", "null", "group: a required attribute, not a null pointer",
               NotNull("group"), needs=(NULL_ATTRIBUTES,)),
        Clause("GROUP.empty", "params", "group: length in (0, 128), so not the empty string",
               Truthy("group.nonempty")),
        Clause("OPTPAIR.mm", "optional",
               "mmXOptional, mmWeightOptional and mmYOptional: all present or all nullptr "
               "(mmX without mmWeight, or the reverse)", Equal("has.mmX", "has.mmWeight")),
        Clause("OPTPAIR.mmY", "optional",
               "mmYOptional: present whenever mmXOptional and mmWeightOptional are",
               Implies("has.mm", "has.mmY"), needs=(OUTPUT_ARGS,)),
        Clause("OPTPAIR.mmY_unexpected", "optional",
               "mmYOptional: only with mmXOptional and mmWeightOptional, else nullptr",
               Implies("has.mmY", "has.mm_any"), needs=(OUTPUT_ARGS,)),
        Clause("RANGE.group_len", "boundaries", "group: length in (0, 128)",
               InRange("len.group", None, 128)),
        Clause("NULL.sendCounts", "null", "sendCounts: a required attribute, not a null pointer",
               NotNull("sendCounts"), needs=(NULL_ATTRIBUTES,)),
        Clause("NULL.recvCounts", "null", "recvCounts: a required attribute, not a null pointer",
               NotNull("recvCounts"), needs=(NULL_ATTRIBUTES,)),
        Clause("COUNTS.send_empty", "params", "sendCounts: length e * epWorldSize, not empty",
               Truthy("nonempty.sendCounts")),
        Clause("COUNTS.recv_empty", "params", "recvCounts: length e * epWorldSize, not empty",
               Truthy("nonempty.recvCounts")),
    ]
    return out


def _comm_mode_clauses() -> list[C]:
    """V2's commMode, checked by op_api right after the counts (section 5, step 4)."""
    v2 = ("v2",)
    return [
        Clause("COMMMODE.null", "null", "commMode: a required attribute, not a null pointer",
               NotNull("commMode"), source=V2_DOC, needs=(NULL_ATTRIBUTES,), entries=v2),
        Clause("COMMMODE.empty", "params", "commMode: \"ai_cpu\" or \"ccu\", so not \"\"",
               Truthy("commMode.nonempty"), source=V2_DOC, entries=v2),
        Clause("PRODUCT.A3.commMode", "products", "commMode: Atlas A3 \"ai_cpu\" only",
               InSet("commMode", ("ai_cpu",)), source=V2_DOC, products=("A3",), entries=v2),
        Clause("PRODUCT.910_95.commMode", "products",
               "commMode: Ascend 950DT \"ai_cpu\" or \"ccu\"",
               InSet("commMode", ("ai_cpu", "ccu")), source=V2_DOC, products=("910_95",),
               entries=v2),
    ]


def _dtype_format_clauses() -> list[C]:
    """nnopbase against the op def: one float dtype for all, ND (section 5, step 5)."""
    out: list[C] = []
    for p in _FLOAT_TENSORS:
        out.append(Clause(f"DTYPE.{p}", "params", f"{PARAM[p].c_name}: FLOAT16 or BFLOAT16",
                          DtypeIn(p, FLOAT_DTYPES), needs=_out(p)))
    for p in _FLOAT_TENSORS[1:]:
        ref = "mmXOptional" if p == "mmY" else "gmmX"
        out.append(Clause(f"DTYPE.match.{p}", "params",
                          f"{PARAM[p].c_name}: the same dtype as {ref}",
                          DtypeMatches(p, "gmmX", FLOAT_DTYPES), needs=_out(p)))
    for p in _FLOAT_TENSORS:
        out.append(Clause(f"FORMAT.{p}", "params", f"{PARAM[p].c_name}: format ND",
                          FormatIn(p, FORMATS), needs=(FORMAT_ARGS, *_out(p))))
    return out


def _tiling_clauses() -> list[C]:
    """Tiling, inside the first stage (section 5, step 6), in its order."""
    out = [Clause(f"RANK.{p}", "params",
                  f"{PARAM[p].c_name}: {PARAM[p].rank}-D, shape {PARAM[p].shape}",
                  RankIs(p, PARAM[p].rank), needs=_out(p))
           for p in ("gmmX", "gmmWeight", "y", "mmX", "mmWeight", "mmY")]
    out += [
        Clause("SHAPE.mmY.BS", "params", "mmYOptional (BS, N2): BS as mmXOptional's",
               Equal("rows.mmY", "BS"), needs=(OUTPUT_ARGS,)),
        Clause("OPTPAIR.transMm", "optional",
               "transMmWeight: meaningful with a shared expert only (true without mmX fails)",
               Implies("flag.transMm", "has.mm_any"), source=SHIPPED),
        Clause("SHAPE.H1", "params",
               "gmmX (A, H1): H1 as gmmWeight's (dim 1; dim 2 when transGmmWeight)",
               Equal("H1", "H1.gmmWeight")),
        Clause("SHAPE.y.N1", "params",
               "y (BSK, N1): N1 as gmmWeight's (dim 2; dim 1 when transGmmWeight)",
               Equal("N1.y", "N1"), needs=(OUTPUT_ARGS,)),
        Clause("SHAPE.H2", "params",
               "mmXOptional (BS, H2): H2 as mmWeightOptional's (dim 0; dim 1 when transposed)",
               Equal("H2", "H2.mmWeight")),
        Clause("SHAPE.mmY.N2", "params",
               "mmYOptional (BS, N2): N2 as mmWeightOptional's (dim 1; dim 0 when transposed)",
               Equal("N2.mmY", "N2"), needs=(OUTPUT_ARGS,)),
        Clause("PRODUCT.A3.epWorldSize", "products",
               "epWorldSize: Atlas A3 8, 16, 32, 64, 128",
               InSet("epWorldSize", (8, 16, 32, 64, 128)), products=("A3",)),
        Clause("PRODUCT.910_95.epWorldSize", "products",
               "epWorldSize: Ascend 950DT 2, 4, 8, 16, 32, 64",
               InSet("epWorldSize", (2, 4, 8, 16, 32, 64)), products=("910_95",)),
        Clause("RANGE.e", "boundaries", "e: local experts, e <= 32 (e = gmmWeight dim 0)",
               InRange("e", 0, 32, hi_closed=True)),
        Clause("RANGE.e_ep", "boundaries", "e * epWorldSize <= 256",
               InRange("e*ep", 0, 256, hi_closed=True)),
        Clause("COUNTS.send_len", "params", "sendCounts: length e * epWorldSize",
               Equal("len.sendCounts", "e*ep")),
        Clause("COUNTS.recv_len", "params", "recvCounts: length e * epWorldSize",
               Equal("len.recvCounts", "e*ep")),
        Clause("COUNTS.send_sum", "params", "A = sum(sendCounts): gmmX's rows",
               Equal("A", "rows.gmmX")),
        Clause("COUNTS.recv_sum", "params", "BSK = sum(recvCounts): y's rows",
               Equal("BSK", "rows.y"), needs=(OUTPUT_ARGS,)),
        Clause("COUNTS.send_nonneg", "params", "sendCounts: every count in [0, A]",
               Truthy("nonneg.sendCounts"), source=SHIPPED),
        Clause("COUNTS.recv_nonneg", "params", "recvCounts: every count in [0, BSK]",
               Truthy("nonneg.recvCounts"), source=SHIPPED),
        Clause("RANGE.H1", "boundaries", "H1 in (0, 65536)", InRange("H1", 0, 65536)),
        Clause("RANGE.BSK", "boundaries", "BSK = sum(recvCounts) in (0, 52428800)",
               InRange("BSK", 0, 52428800)),
        Clause("RANGE.N1", "boundaries", "N1 in (0, 65536)", InRange("N1", 0, 65536)),
        Clause("RANGE.BS", "boundaries",
               "with a shared expert BS (mmXOptional's rows) > 0: K = BSK / BS needs one",
               InRange("BS", 0, None), source=SHIPPED),
        Clause("COUNTS.bsk_multiple", "params",
               "with a shared expert BSK % BS == 0 (K = BSK / BS)",
               Truthy("bsk_multiple_of_bs"), source=SHIPPED),
        Clause("RANGE.K", "boundaries",
               "K in [2, 8] (with a shared expert K = BSK // BS; K is no parameter)",
               InRange("K", 2, 8, lo_closed=True, hi_closed=True)),
        Clause("RANGE.H2", "boundaries", "H2 in (0, 12288]",
               InRange("H2", 0, 12288, hi_closed=True)),
        Clause("RANGE.N2", "boundaries", "N2 in (0, 65536)", InRange("N2", 0, 65536)),
    ]
    return out


def _volume_clauses() -> list[C]:
    """Atlas A3's communication volume: a rule of the December 2025 text and code, a
    performance note since (the moved rows are y's, N1 wide)."""
    a3 = ("A3",)
    return [
        Clause("VOLUME.A3.per_peer_min", "products",
               "every peer's share, both directions, sum_j counts[i*e+j] * N1 * 2 >= 2 MiB "
               "(RECV_SEND_MIN, until 773175587)",
               InRange("peer_bytes.min", 2 * MIB, None, lo_closed=True), source=VOLUME,
               products=a3),
        Clause("VOLUME.A3.card_min", "products",
               "Atlas A3: 单卡通信量在2MB以下可能存在性能劣化 "
               "(December 2025: 单卡通信量取值范围需大于等于2MB)",
               InRange("card_bytes.min", 2 * MIB, None, lo_closed=True), source=VOLUME,
               products=a3),
    ]


def _world_clauses() -> list[C]:
    return [
        Clause("COMM.epWorldSize", "params",
               "epWorldSize: the size of the EP communicator (its real size)",
               Equal("epWorldSize", "world_size")),
        Clause("CONSIST.counts", "params",
               "over the EP world sum(A) == sum(BSK): rank r's sendCounts[s*e+j] is rank s's "
               "recvCounts[r*e+j] (the dispatch's counts with the roles swapped)",
               CountsConsistent(mine="send_counts", theirs="recv_counts"),
               source=f"{DOC}; {LAYOUT}"),
    ]


def _stage2_clauses() -> list[C]:
    needs = (STAGE_CONTROL,)
    return [
        Clause("STAGE2.executor_null", "stages", "executor: not a null pointer (161001)",
               Truthy("stage2.executor", stage=2), needs=needs),
        Clause("STAGE2.workspace_null", "stages",
               "workspace: not a null pointer while workspaceSize > 0 (161001)",
               Truthy("stage2.workspace", stage=2), needs=needs),
        Clause("STAGE2.workspace_small", "stages",
               "workspaceSize: as the first stage returned it; less returns 161002",
               Truthy("stage2.workspace_enough", stage=2), needs=needs),
    ]


def _output_clauses() -> list[C]:
    return [
        Clause("CALC.gmm", "numerics",
               "y = AlltoAllv(Unpermute(GroupedMatMul(gmmX, gmmWeight))): each row of rank r's "
               "expert j, times rank r's gmmWeight[j], back on the rank it came from",
               source=f"{DOC}; {LAYOUT}"),
        Clause("CALC.unpermute", "numerics",
               "Unpermute then AlltoAllv: every row returns, bit for bit, to the rank and the "
               "row of the dispatch's gmmX order it came from (destination-rank-major, then "
               "local expert, then the sender's order)", source=LAYOUT),
        Clause("CALC.mm", "numerics", "mmY = mmX x mmWeight (the shared expert)"),
        Clause("CALC.transGmmWeight", "optional",
               "transGmmWeight: gmmWeight stored (e, N1, H1) and used transposed"),
        Clause("CALC.transMmWeight", "optional",
               "transMmWeight: mmWeight stored (N2, H2) and used transposed"),
        Clause("OUT.written", "integrity", "every element of a requested output is written"),
        Clause("OUT.bounds", "integrity", "nothing past an output or the workspace is written"),
        Clause("OUT.inputs", "integrity", "the inputs are unchanged by the call"),
        Clause("OUT.deterministic", "integrity", "the same call twice gives the same bits"),
        Clause("OUT.shape", "integrity", "outputs of the shapes and dtypes the table states"),
    ]


CLAUSES: tuple[C, ...] = tuple(
    _op_api_clauses()
    + _comm_mode_clauses()
    + _dtype_format_clauses()
    + _tiling_clauses()
    + _volume_clauses()
    + _world_clauses()
    + _stage2_clauses()
    + _output_clauses()
)

CLAUSE: dict[str, C] = {c.id: c for c in CLAUSES}
