"""The contract of aclnnAlltoAllvGroupedMatMul, one clause a rule, each with a stable id.

Clauses are listed in the order the shipped first stage checks them (op_api null and pair checks,
then nnopbase dtype/format, then tiling), so when a call breaks several, the first enforced one
decides the status (`spec.expect`). Statuses are not here: a spec profile
(`ops/alltoallv_gmm/profiles/*.toml`) maps every clause to the status it returns, or says it is not enforced.

Clauses without a rule (`CALC.*`, `OUT.*`) are stated on valid calls only; the oracle checks them.
"""

from __future__ import annotations

from ops.alltoallv_gmm.call import MIB
from ops.alltoallv_gmm.params import FLOAT_DTYPES, FORMATS, PARAM
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

SEED = "aclnnAlltoAllvGroupedMatMul.md"
SHIPPED = "OPERATOR.md section 2 (shipped code)"
SHIPPED_2026 = "contracts/alltoallv_gmm-2026.md (shipped code, ops-transformer 3a280bcc)"
V2_DOC = "aclnnAlltoAllvGroupedMatMulV2.md (ops-transformer c3d14253f)"
ENTRIES = ("v1", "v2")  # aclnnAlltoAllvGroupedMatMul and aclnnAlltoAllvGroupedMatMulV2
LAYOUT = "OPERATOR.md section 1"


def Clause(id: str, area: str, text: str, rule: Rule | None = None, source: str = SEED,
           products: tuple[str, ...] = PRODUCTS, needs: tuple[str, ...] = (),
           entries: tuple[str, ...] = ENTRIES) -> C:
    """A clause of this contract: from the published text, on every product and entry point,
    unless it says otherwise."""
    return C(id, area, text, rule, source, products, needs, entries)


def _out(param: str) -> tuple[str, ...]:
    return (OUTPUT_ARGS,) if PARAM[param].role == "output" else ()


_FLOAT_TENSORS = ("gmmX", "gmmWeight", "mmX", "mmWeight", "gmmY", "mmY", "permuteOut")


def _null_clauses() -> list[C]:
    out = [
        Clause("NULL.workspaceSize", "stages", "workspaceSize：必选输出，传入空指针返回161001",
               NotNull("workspaceSize"), needs=(NULL_OUT_POINTERS,)),
        Clause("NULL.executor", "stages", "executor：必选输出，传入空指针返回161001",
               NotNull("executor"), needs=(NULL_OUT_POINTERS,)),
    ]
    for p in ("gmmX", "gmmWeight", "gmmY"):
        out.append(Clause(f"NULL.{p}", "null",
                          f"{PARAM[p].c_name}：必选{'输出' if p == 'gmmY' else '输入'}，"
                          "传入空指针返回ACLNN_ERR_PARAM_NULLPTR",
                          NotNull(p), needs=_out(p) or (NULL_INPUTS,)))
    for p in ("sendCountsTensor", "recvCountsTensor"):
        out.append(Clause(f"COUNTTENSOR.{p[:4]}", "null",
                          f"{PARAM[p].c_name}：当前版本暂不支持，传nullptr", IsNull(p)))
    out.append(Clause("NULL.group", "null", "group：必选属性，传入空指针返回161001",
                      NotNull("group"), needs=(NULL_ATTRIBUTES,)))
    return out


def _pair_clauses() -> list[C]:
    return [
        Clause("GROUP.empty", "params", "group：字符串长度要求(0, 128)，空字符串不在范围内",
               Truthy("group.nonempty")),
        Clause("OPTPAIR.mm", "optional",
               "mmXOptional与mmWeightOptional需同时传入或同时为nullptr",
               Equal("has.mmX", "has.mmWeight")),
        Clause("OPTPAIR.mmY", "optional",
               "mmYOptional：传入mmXOptional与mmWeightOptional时输出，不能为空指针",
               Implies("has.mm", "has.mmY"), needs=(OUTPUT_ARGS,)),
        Clause("OPTPAIR.mmY_unexpected", "optional",
               "mmYOptional：仅当传入mmXOptional与mmWeightOptional才输出",
               Implies("has.mmY", "has.mm_any"), needs=(OUTPUT_ARGS,)),
        Clause("PAIR.permuteOut.required", "optional",
               "permuteOutOptional：permuteOutFlag为true时输出，不能为空指针",
               Implies("flag.permuteOut", "has.permuteOut"), needs=(OUTPUT_ARGS,)),
        Clause("PAIR.permuteOut.unexpected", "optional",
               "permuteOutOptional：仅当permuteOutFlag为true时输出",
               Implies("has.permuteOut", "flag.permuteOut"), needs=(OUTPUT_ARGS,)),
        Clause("NULL.sendCounts", "null", "sendCounts：必选属性，传入空指针返回161001",
               NotNull("sendCounts"), needs=(NULL_ATTRIBUTES,)),
        Clause("NULL.recvCounts", "null", "recvCounts：必选属性，传入空指针返回161001",
               NotNull("recvCounts"), needs=(NULL_ATTRIBUTES,)),
        Clause("COUNTS.send_empty", "params", "sendCounts：取值大小为e * epWorldSize，不能为空",
               Truthy("nonempty.sendCounts")),
        Clause("COUNTS.recv_empty", "params", "recvCounts：取值大小为e * epWorldSize，不能为空",
               Truthy("nonempty.recvCounts")),
        Clause("RANGE.group_len", "boundaries", "group：字符串长度要求(0, 128)",
               InRange("len.group", None, 128)),
    ]


def _comm_mode_clauses() -> list[C]:
    """V2's commMode, checked by op_api right after the counts (contracts/alltoallv_gmm-v2.md)."""
    v2 = ("v2",)
    return [
        Clause("COMMMODE.null", "null", "commMode：通信引擎，必选属性，不能为空指针",
               NotNull("commMode"), source=V2_DOC, needs=(NULL_ATTRIBUTES,), entries=v2),
        Clause("COMMMODE.empty", "params", "commMode：支持输入\"ai_cpu\"和\"ccu\"，空字符串不在其中",
               Truthy("commMode.nonempty"), source=V2_DOC, entries=v2),
        Clause("PRODUCT.A3.commMode", "products", "commMode：Atlas A3系列产品仅支持AICPU通信（\"ai_cpu\"）",
               InSet("commMode", ("ai_cpu",)), source=V2_DOC, products=("A3",), entries=v2),
        Clause("PRODUCT.910_95.commMode", "products",
               "commMode：Ascend 950DT支持\"ai_cpu\"和\"ccu\"",
               InSet("commMode", ("ai_cpu", "ccu")), source=V2_DOC, products=("910_95",),
               entries=v2),
    ]


def _dtype_format_rank_clauses() -> list[C]:
    out: list[Clause] = []
    for p in _FLOAT_TENSORS:
        out.append(Clause(f"DTYPE.{p}", "params",
                          f"{PARAM[p].c_name}：数据类型支持FLOAT16、BFLOAT16",
                          DtypeIn(p, FLOAT_DTYPES), needs=_out(p)))
    for p in _FLOAT_TENSORS[1:]:
        ref = "mmXOptional" if p == "mmY" else "gmmX"
        out.append(Clause(f"DTYPE.match.{p}", "params",
                          f"{PARAM[p].c_name}：数据类型与{ref}保持一致",
                          DtypeMatches(p, "gmmX", FLOAT_DTYPES), needs=_out(p)))
    for p in _FLOAT_TENSORS:
        out.append(Clause(f"FORMAT.{p}", "params", f"{PARAM[p].c_name}：数据格式支持ND",
                          FormatIn(p, FORMATS), needs=(FORMAT_ARGS, *_out(p))))
    for p in _FLOAT_TENSORS:
        out.append(Clause(f"RANK.{p}", "params",
                          f"{PARAM[p].c_name}：支持{PARAM[p].rank}维，shape为{PARAM[p].shape}",
                          RankIs(p, PARAM[p].rank), needs=_out(p)))
    return out


def _shape_clauses() -> list[C]:
    return [
        Clause("SHAPE.H1", "params",
               "gmmX (BSK, H1) 的H1等于gmmWeight的H1（transGmmWeight时为第2维）",
               Equal("H1", "H1.gmmWeight")),
        Clause("SHAPE.gmmY.N1", "params", "gmmY：shape为(A, N1)，N1与gmmWeight一致",
               Equal("N1.gmmY", "N1"), needs=(OUTPUT_ARGS,)),
        Clause("SHAPE.H2", "params",
               "mmXOptional (BS, H2) 的H2等于mmWeightOptional的H2（transMmWeight时为第1维）",
               Equal("H2", "H2.mmWeight")),
        Clause("SHAPE.mmY.BS", "params", "mmYOptional：shape为(BS, N2)，BS与mmXOptional一致",
               Equal("rows.mmY", "BS"), needs=(OUTPUT_ARGS,)),
        Clause("SHAPE.mmY.N2", "params", "mmYOptional：shape为(BS, N2)，N2与mmWeightOptional一致",
               Equal("N2.mmY", "N2"), needs=(OUTPUT_ARGS,)),
        Clause("SHAPE.permuteOut.rows", "params", "permuteOutOptional：shape为(A, H1)，A与gmmY一致",
               Equal("rows.permuteOut", "rows.gmmY"), needs=(OUTPUT_ARGS,)),
        Clause("SHAPE.permuteOut.H1", "params", "permuteOutOptional：shape为(A, H1)，H1与gmmX一致",
               Equal("H1.permuteOut", "H1"), needs=(OUTPUT_ARGS,)),
    ]


def _range_clauses() -> list[C]:
    return [
        Clause("RANGE.H1", "boundaries", "H1：路由专家hidden size，取值范围(0, 65536)",
               InRange("H1", 0, 65536)),
        Clause("RANGE.N1", "boundaries", "N1：路由专家的head_num，取值范围(0, 65536)",
               InRange("N1", 0, 65536)),
        Clause("RANGE.H2", "boundaries", "H2：共享专家hidden size，取值范围(0, 12288]",
               InRange("H2", 0, 12288, hi_closed=True)),
        Clause("RANGE.N2", "boundaries", "N2：共享专家的head_num，取值范围(0, 65536)",
               InRange("N2", 0, 65536)),
        Clause("RANGE.e", "boundaries", "e：单卡上专家个数，e<=32", InRange("e", 0, 32, hi_closed=True)),
        Clause("RANGE.e_ep", "boundaries", "e * epWorldSize最大支持256",
               InRange("e*ep", 0, 256, hi_closed=True)),
    ]


def _product_clauses() -> list[C]:
    return [
        Clause("PRODUCT.A3.epWorldSize", "products",
               "epWorldSize：Atlas A3系列产品支持8、16、32、64",
               InSet("epWorldSize", (8, 16, 32, 64)), products=("A3",)),
        Clause("PRODUCT.910_95.epWorldSize", "products",
               "epWorldSize：昇腾910_95 AI处理器支持4、8、16、32、64",
               InSet("epWorldSize", (4, 8, 16, 32, 64)), products=("910_95",)),
    ]


def _count_clauses() -> list[C]:
    return [
        Clause("COUNTS.send_len", "params", "sendCounts：取值大小为e * epWorldSize",
               Equal("len.sendCounts", "e*ep")),
        Clause("COUNTS.recv_len", "params", "recvCounts：取值大小为e * epWorldSize",
               Equal("len.recvCounts", "e*ep")),
        Clause("COUNTS.send_sum", "params", "BSK：本卡发送的token数，是sendCounts参数累加之和",
               Equal("BSK", "rows.gmmX")),
        Clause("COUNTS.recv_sum", "params",
               "A：本卡收到的token数，是recvCounts参数累加之和（gmmY的行数）",
               Equal("A", "rows.gmmY"), needs=(OUTPUT_ARGS,)),
        Clause("RANGE.BSK", "boundaries", "BSK：sendCounts累加之和，取值范围(0, 52428800)",
               InRange("BSK", 0, 52428800)),
        Clause("COUNTS.send_nonneg", "params", "sendCounts：每个值为发送的token数，在[0, BSK]内",
               Truthy("nonneg.sendCounts"), source=SHIPPED),
        Clause("COUNTS.recv_nonneg", "params", "recvCounts：每个值为接收的token数，在[0, A]内",
               Truthy("nonneg.recvCounts"), source=SHIPPED),
        Clause("RANGE.BS", "boundaries",
               "有共享专家时BS（mmXOptional的行数）> 0：K = BSK / BS 须有值",
               InRange("BS", 0, None), source=SHIPPED_2026),
        Clause("COUNTS.bsk_multiple", "params",
               "有共享专家时BSK须为BS的整数倍（K = BSK / BS）",
               Truthy("bsk_multiple_of_bs"), source=SHIPPED_2026),
        Clause("RANGE.K", "boundaries",
               "K：选取TopK个专家，范围[2, 8]（有共享专家时 K = BSK // BS）",
               InRange("K", 2, 8, lo_closed=True, hi_closed=True)),
        Clause("OPTPAIR.transMm", "optional",
               "transMmWeight：共享专家MatMul的右矩阵是否转置（无共享专家时无意义）",
               Implies("flag.transMm", "has.mm_any"), source=SHIPPED),
        Clause("RANGE.group_num", "boundaries",
               "GMM分组数 CalcExpertNum(e, ep, BSK, N1) * epWorldSize <= 128（有接收时）",
               InRange("groupNum", None, 128, hi_closed=True), source=SHIPPED_2026,
               products=("910_95",)),
    ]


def _volume_clauses() -> list[C]:
    a3 = ("A3",)
    return [
        Clause("VOLUME.A3.per_peer_min", "products",
               "每个对端的发送与接收数据量 sum_j counts[i*e+j]*H1*2 >= 2MB",
               InRange("peer_bytes.min", 2 * MIB, None, lo_closed=True), source=SHIPPED,
               products=a3),
        Clause("VOLUME.A3.card_min", "products", "Atlas A3：单卡通信量取值范围[2MB，100MB]（下限）",
               InRange("card_bytes.min", 2 * MIB, None, lo_closed=True), products=a3),
        Clause("VOLUME.A3.card_max", "products", "Atlas A3：单卡通信量取值范围[2MB，100MB]（上限）",
               InRange("card_bytes.max", None, 100 * MIB, hi_closed=True), products=a3),
    ]


def _world_clauses() -> list[C]:
    return [
        Clause("COMM.epWorldSize", "params", "epWorldSize：ep通信域size（等于通信域的实际大小）",
               Equal("epWorldSize", "world_size")),
        Clause("CONSIST.counts", "params",
               "ep通信域内所有卡的A参数的累加和等于所有卡上的BSK参数的累加和"
               "（recvCounts由全局发送矩阵转置得到）",
               CountsConsistent(), source=f"{SEED}; {LAYOUT}"),
    ]


def _stage2_clauses() -> list[C]:
    needs = (STAGE_CONTROL,)
    return [
        Clause("STAGE2.executor_null", "stages", "executor：op执行器，传入空指针返回161001",
               Truthy("stage2.executor", stage=2), needs=needs),
        Clause("STAGE2.workspace_null", "stages",
               "workspace：workspaceSize大于0时不能为空指针（返回161001）",
               Truthy("stage2.workspace", stage=2), needs=needs),
        Clause("STAGE2.workspace_small", "stages",
               "workspaceSize：由第一段接口获取，小于所需大小返回161002",
               Truthy("stage2.workspace_enough", stage=2), needs=needs),
    ]


def _output_clauses() -> list[C]:
    return [
        Clause("CALC.permute", "numerics",
               "permuteOut = Permute(AlltoAllv(gmmX))：专家主序、源卡次序，逐位一致", source=LAYOUT),
        Clause("CALC.gmm", "numerics", "gmmY = permuteOut × gmmWeight（逐专家）"),
        Clause("CALC.mm", "numerics", "mmY = mmX × mmWeight（共享专家）"),
        Clause("CALC.transGmmWeight", "optional",
               "transGmmWeight为true时gmmWeight按(e, N1, H1)存放并转置使用", source=LAYOUT),
        Clause("CALC.transMmWeight", "optional",
               "transMmWeight为true时mmWeight按(N2, H2)存放并转置使用", source=LAYOUT),
        Clause("CALC.permuteOutFlag", "optional",
               "permuteOutFlag为true时输出permuteOut，为false时permuteOutOptional为空"),
        Clause("OUT.written", "integrity", "输出的每个元素都被写入（调用前以毒值填充）"),
        Clause("OUT.bounds", "integrity", "输出张量之外的内存（保护区）不被改写"),
        Clause("OUT.inputs", "integrity", "输入张量在调用后不变"),
        Clause("OUT.deterministic", "integrity", "同一用例执行两次，输出逐位相同"),
        Clause("OUT.shape", "integrity", "输出的shape与数据类型符合参数说明"),
    ]


CLAUSES: tuple[C, ...] = tuple(
    _null_clauses()
    + _pair_clauses()
    + _comm_mode_clauses()
    + _dtype_format_rank_clauses()
    + _shape_clauses()
    + _range_clauses()
    + _product_clauses()
    + _count_clauses()
    + _volume_clauses()
    + _world_clauses()
    + _stage2_clauses()
    + _output_clauses()
)

CLAUSE: dict[str, C] = {c.id: c for c in CLAUSES}
