"""Every parameter of both stages of aclnnAlltoAllvGroupedMatMul, as data: the one table of its
names (spec.operator.Param).

Quoted from the parameter tables of the published contract
(`shared/seed/aclnnAlltoAllvGroupedMatMul.md`). `name` is the id the rest of the suite uses
(the C name without the `Optional` suffix), `c_name` the C parameter, `py_name` the keyword of
the backend protocol (DESIGN.md section 4).
"""

from __future__ import annotations

from spec.operator import Param

FLOAT_DTYPES = ("float16", "bfloat16")
COUNT_TENSOR_DTYPES = ("int32", "int64")
FORMATS = ("ND",)


PARAMS: tuple[Param, ...] = (
    # -- aclnnAlltoAllvGroupedMatMulGetWorkspaceSize: 18 parameters, in C order.
    Param("gmmX", "gmmX", "gmm_x", 1, "input", True, "tensor",
          "AlltoAllv与Permute之后作为GroupedMatMul的左矩阵，支持2维，shape为(BSK, H1)",
          FLOAT_DTYPES, 2, FORMATS, "(BSK, H1)"),
    Param("gmmWeight", "gmmWeight", "gmm_weight", 1, "input", True, "tensor",
          "GroupedMatMul的右矩阵，数据类型与gmmX保持一致，支持3维，shape为(e, H1, N1)",
          FLOAT_DTYPES, 3, FORMATS, "(e, H1, N1); stored (e, N1, H1) when transGmmWeight"),
    Param("sendCountsTensor", "sendCountsTensorOptional", "send_counts_tensor", 1, "input",
          False, "tensor", "shape为(e * epWorldSize,)，当前版本暂不支持，传nullptr",
          COUNT_TENSOR_DTYPES, 1, FORMATS, "(e * epWorldSize,)"),
    Param("recvCountsTensor", "recvCountsTensorOptional", "recv_counts_tensor", 1, "input",
          False, "tensor", "shape为(e * epWorldSize,)，当前版本暂不支持，传nullptr",
          COUNT_TENSOR_DTYPES, 1, FORMATS, "(e * epWorldSize,)"),
    Param("mmX", "mmXOptional", "mm_x", 1, "input", False, "tensor",
          "共享专家MatMul的左矩阵，需与mmWeightOptional同时传入/为nullptr，支持2维，shape为(BS, H2)",
          FLOAT_DTYPES, 2, FORMATS, "(BS, H2)"),
    Param("mmWeight", "mmWeightOptional", "mm_weight", 1, "input", False, "tensor",
          "共享专家MatMul的右矩阵，需与mmXOptional同时传入/为nullptr，支持2维，shape为(H2, N2)",
          FLOAT_DTYPES, 2, FORMATS, "(H2, N2); stored (N2, H2) when transMmWeight"),
    Param("group", "group", "group", 1, "attribute", True, "string",
          "专家并行的通信域名，字符串长度要求(0, 128)"),
    Param("commMode", "commMode", "comm_mode", 1, "attribute", True, "string",
          "通信引擎：\"ai_cpu\"或\"ccu\"（aclnnAlltoAllvGroupedMatMulV2，位于group之后）",
          entries=("v2",)),
    Param("epWorldSize", "epWorldSize", "ep_world_size", 1, "attribute", True, "int",
          "ep通信域size：Atlas A3支持8、16、32、64；昇腾910_95支持4、8、16、32、64", ("int64",)),
    Param("sendCounts", "sendCounts", "send_counts", 1, "attribute", True, "int_array",
          "发送给其他卡的token数，取值大小为e * epWorldSize，最大为256", ("int64",)),
    Param("recvCounts", "recvCounts", "recv_counts", 1, "attribute", True, "int_array",
          "接收其他卡的token数，取值大小为e * epWorldSize，最大为256", ("int64",)),
    Param("transGmmWeight", "transGmmWeight", "trans_gmm_weight", 1, "attribute", True, "bool",
          "GroupedMatMul的右矩阵是否需要转置"),
    Param("transMmWeight", "transMmWeight", "trans_mm_weight", 1, "attribute", True, "bool",
          "共享专家MatMul的右矩阵是否需要转置"),
    Param("permuteOutFlag", "permuteOutFlag", "permute_out_flag", 1, "attribute", True, "bool",
          "permuteOutOptional是否需要输出"),
    Param("gmmY", "gmmY", "gmm_y", 1, "output", True, "tensor",
          "最终的计算结果，数据类型与输入gmmX保持一致，支持2维，shape为(A, N1)",
          FLOAT_DTYPES, 2, FORMATS, "(A, N1)"),
    Param("mmY", "mmYOptional", "mm_y", 1, "output", False, "tensor",
          "共享专家MatMul的输出，shape为(BS, N2)，仅当传入mmXOptional与mmWeightOptional才输出",
          FLOAT_DTYPES, 2, FORMATS, "(BS, N2)"),
    Param("permuteOut", "permuteOutOptional", "permute_out", 1, "output", False, "tensor",
          "permute之后的输出，数据类型与gmmX保持一致，仅当permuteOutFlag为true时输出",
          FLOAT_DTYPES, 2, FORMATS, "(A, H1)"),
    Param("workspaceSize", "workspaceSize", "", 1, "output", True, "pointer",
          "返回需要在Device侧申请的workspace大小", ("uint64",)),
    Param("executor", "executor", "", 1, "output", True, "pointer",
          "返回op执行器，包含了算子的计算流程"),
    # -- aclnnAlltoAllvGroupedMatMul: 4 parameters.
    Param("stage2.workspace", "workspace", "workspace", 2, "input", False, "pointer",
          "在Device侧申请的workspace内存地址"),
    Param("stage2.workspaceSize", "workspaceSize", "workspace_size", 2, "input", True, "int",
          "在Device侧申请的workspace大小，由第一段接口获取", ("uint64",)),
    Param("stage2.executor", "executor", "executor", 2, "input", True, "pointer",
          "op执行器，包含了算子计算流程"),
    Param("stage2.stream", "stream", "stream", 2, "input", True, "pointer",
          "指定执行任务的Stream"),
)

PARAM = {p.name: p for p in PARAMS}
