"""Every parameter of both stages of aclnnGroupedMatMulAlltoAllv (and its V2), as data: the one
table of its names (spec.operator.Param).

From the prototypes and the parameter table as contracts/gmm_alltoallv.md sections 3 and 4 record
them (ops-transformer ffed75a38: docs/aclnnGroupedMatMulAlltoAllv.md and ...V2.md); the texts
are that table's, in its words, not quotes of the Chinese document. `name` is the id the rest of
the suite uses (the C name without the `Optional` suffix), `c_name` the C parameter, `py_name`
the keyword of the backend protocol, as torch_npu's npu_gmm_alltoallv names it.
"""

from __future__ import annotations

from spec.operator import Param

FLOAT_DTYPES = ("float16", "bfloat16")
COUNT_TENSOR_DTYPES = ("int32", "int64")
FORMATS = ("ND",)


PARAMS: tuple[Param, ...] = (
    # -- aclnnGroupedMatMulAlltoAllvGetWorkspaceSize: 16 parameters (V2: 17), in C order.
    Param("gmmX", "gmmX", "gmm_x", 1, "input", True, "tensor",
          "left matrix of the GroupedMatMul: the rows this rank's experts process, expert-major "
          "and source-rank-minor (the dispatch operator's permuteOut); 2-D, FLOAT16 or BFLOAT16, "
          "ND, not non-contiguous", FLOAT_DTYPES, 2, FORMATS, "(A, H1)"),
    Param("gmmWeight", "gmmWeight", "gmm_weight", 1, "input", True, "tensor",
          "right matrix of the GroupedMatMul, one per local expert; same dtype as gmmX; 3-D",
          FLOAT_DTYPES, 3, FORMATS, "(e, H1, N1); stored (e, N1, H1) when transGmmWeight"),
    Param("sendCountsTensor", "sendCountsTensorOptional", "send_counts_tensor", 1, "input",
          False, "tensor", "not supported: must be nullptr", COUNT_TENSOR_DTYPES, 1, FORMATS,
          "(e * epWorldSize,)"),
    Param("recvCountsTensor", "recvCountsTensorOptional", "recv_counts_tensor", 1, "input",
          False, "tensor", "not supported: must be nullptr", COUNT_TENSOR_DTYPES, 1, FORMATS,
          "(e * epWorldSize,)"),
    Param("mmX", "mmXOptional", "mm_x", 1, "input", False, "tensor",
          "left matrix of the shared expert; with mmWeightOptional and mmYOptional all present "
          "or all nullptr; same dtype as gmmX; 2-D", FLOAT_DTYPES, 2, FORMATS, "(BS, H2)"),
    Param("mmWeight", "mmWeightOptional", "mm_weight", 1, "input", False, "tensor",
          "right matrix of the shared expert; with mmXOptional and mmYOptional all present or "
          "all nullptr; 2-D", FLOAT_DTYPES, 2, FORMATS,
          "(H2, N2); stored (N2, H2) when transMmWeight"),
    Param("group", "group", "group", 1, "attribute", True, "string",
          "the expert-parallel communicator's name (HcclGetCommName), length in (0, 128)"),
    Param("commMode", "commMode", "comm_mode", 1, "attribute", True, "string",
          "the communication engine: \"ai_cpu\" or \"ccu\" (950DT), \"ai_cpu\" only on Atlas A3 "
          "(aclnnGroupedMatMulAlltoAllvV2, right after group)", entries=("v2",)),
    Param("epWorldSize", "epWorldSize", "ep_world_size", 1, "attribute", True, "int",
          "size of the EP communicator: Atlas A3 8, 16, 32, 64, 128; Ascend 950DT 2, 4, 8, 16, "
          "32, 64", ("int64",)),
    Param("sendCounts", "sendCounts", "send_counts", 1, "attribute", True, "int_array",
          "sendCounts[s*e + j]: rows this rank's expert j sends back to rank s; length "
          "e * epWorldSize, at most 256; sum = A", ("int64",)),
    Param("recvCounts", "recvCounts", "recv_counts", 1, "attribute", True, "int_array",
          "recvCounts[r*e + j]: rows this rank receives from expert j of rank r; length "
          "e * epWorldSize, at most 256; sum = BSK", ("int64",)),
    Param("transGmmWeight", "transGmmWeight", "trans_gmm_weight", 1, "attribute", True, "bool",
          "whether gmmWeight is stored transposed"),
    Param("transMmWeight", "transMmWeight", "trans_mm_weight", 1, "attribute", True, "bool",
          "whether mmWeightOptional is stored transposed"),
    Param("y", "y", "y", 1, "output", True, "tensor",
          "the result, in the dispatch operator's gmmX row order (destination-rank-major, then "
          "local expert); same dtype as gmmX; 2-D", FLOAT_DTYPES, 2, FORMATS, "(BSK, N1)"),
    Param("mmY", "mmYOptional", "mm_y", 1, "output", False, "tensor",
          "output of the shared expert, only with mmXOptional and mmWeightOptional, else "
          "nullptr; same dtype as mmX; 2-D", FLOAT_DTYPES, 2, FORMATS, "(BS, N2)"),
    Param("workspaceSize", "workspaceSize", "", 1, "output", True, "pointer",
          "the workspace size to allocate on the device", ("uint64",)),
    Param("executor", "executor", "", 1, "output", True, "pointer",
          "the op executor, holding the operator's computation"),
    # -- aclnnGroupedMatMulAlltoAllv: 4 parameters.
    Param("stage2.workspace", "workspace", "workspace", 2, "input", False, "pointer",
          "the workspace's device address"),
    Param("stage2.workspaceSize", "workspaceSize", "workspace_size", 2, "input", True, "int",
          "the workspace's size, as the first stage returned it", ("uint64",)),
    Param("stage2.executor", "executor", "executor", 2, "input", True, "pointer",
          "the op executor of the first stage"),
    Param("stage2.stream", "stream", "stream", 2, "input", True, "pointer",
          "the stream the task runs on"),
)

PARAM = {p.name: p for p in PARAMS}
