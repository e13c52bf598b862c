"""The vendor's own unit tests at ops-transformer 3a280bcc, as data: every case they assert gets
the same outcome from the shipped profile (cann-2026.07) and from the sim that follows it.

Each case is the vendor's literal call of one rank (a tiling UT calls the tiling of one rank
with a mocked communicator; an op_api UT calls the first stage), read off
mc2/allto_allv_grouped_mat_mul/tests/ut/{op_api,op_host/arch22,op_host/arch35}. A tiling UT
asserts GRAPH_FAILED (FAIL: any non-zero first-stage status, since op_api and nnopbase run
before tiling in a real call) or GRAPH_SUCCESS (0); an op_api UT asserts a code, or only that the
status is not 161002 (NOT_161002). `means` is the clause the test's name and comment target;
where the call breaks another clause first, `first` names it: the vendor case breaks more than
it means to, and the suite says so instead of bending the profile.
"""

from __future__ import annotations

import pytest

from fixtures.harness import materialise
from fixtures.protocol import RankContext
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.call import Call
from ops.alltoallv_gmm.sim import SimBackend
from spec.call import TensorDesc
from spec.expect import broken

PROFILE = "cann-2026.07"
F16, BF16, F32 = "float16", "bfloat16", "float32"
FAIL, NOT_161002 = "fail", "not 161002"
BASE = (128,) * 32  # e = 4 experts on each of 8 ranks, 128 rows each: BSK = A = 4096
TILING = {"arch22": "tests/ut/op_host/arch22/test_allto_allv_grouped_mat_mul_tiling.cpp",
          "arch35": "tests/ut/op_host/arch35/test_allto_allv_grouped_mat_mul_tiling.cpp"}
PRODUCT = {"arch22": "A3", "arch35": "910_95"}
TENSORS = ("gmmX", "gmmWeight", "sendCountsTensor", "recvCountsTensor", "mmX", "mmWeight",
           "gmmY", "mmY", "permuteOut")

# (arch, TEST_F name, tensors {name: (shape, dtype)}, attributes, what the UT asserts,
#  means, first)
TILING_CASES = [
    ("arch22", "H4",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "mmY": ((2048, 64), F16), "permuteOut": ((4096, 7169), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.permuteOut.H1", "OPTPAIR.mmY_unexpected"),
    ("arch22", "A1",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "mmY": ((2048, 64), F16), "permuteOut": ((4097, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.permuteOut.rows", "OPTPAIR.mmY_unexpected"),
    ("arch22", "BS1",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.mmY.BS", None),
    ("arch22", "Dim1",
     {"gmmX": ((2, 4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "mmY": ((2048, 64), F16), "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANK.gmmX", "OPTPAIR.mmY_unexpected"),
    ("arch22", "Dim2",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((7168, 4096), F16), "gmmY": ((4096, 4096), F16), "mmY":
      ((2048, 64), F16), "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANK.gmmWeight", "OPTPAIR.mmY_unexpected"),
    ("arch22", "Dim3",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4097), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.gmmY.N1", None),
    ("arch22", "Dim5",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2, 2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANK.mmX", None),
    ("arch22", "Dim6",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((2, 7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANK.mmWeight", None),
    ("arch22", "Dim7",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((2, 7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANK.mmWeight", None),
    ("arch22", "Dim10",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "mmY": ((2048, 64), F16), "permuteOut": ((4096,), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANK.permuteOut", "OPTPAIR.mmY_unexpected"),
    ("arch22", "CheckShapeSizeBskMaxNoMm",
     {"gmmX": ((52428800, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": False, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANGE.BSK", "COUNTS.send_sum"),
    ("arch22", "PermuteOutGmmXH1Mismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7169), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.permuteOut.H1", None),
    ("arch22", "MmYAndMmWeightN2Mismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 63), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.mmY.N2", None),
    ("arch22", "CheckDTypeMmMismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), BF16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "DTYPE.match.mmWeight", None),
    ("arch22", "CheckDTypeGmmXInvalidNoMm",
     {"gmmX": ((4096, 7168), F32), "gmmWeight": ((4, 7168, 4096), F32), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": False, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "DTYPE.gmmX", None),
    ("arch22", "CheckDTypeMmXInvalidDtype",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F32),
      "mmWeight": ((7168, 64), F32), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": False, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "DTYPE.mmX", None),
    ("arch22", "CheckDTypeGmmXMmXDtypeMismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), BF16),
      "mmWeight": ((7168, 64), BF16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": False, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "DTYPE.match.mmX", None),
    ("arch22", "CheckShapeSizeBskZeroNoMm",
     {"gmmX": ((0, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": False, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANGE.BSK", "COUNTS.send_sum"),
    ("arch22", "CheckShapeSizeBskMaxWithMm",
     {"gmmX": ((52428800, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANGE.BSK", "COUNTS.send_sum"),
    ("arch22", "CheckShapeSizeH1MaxWithMm",
     {"gmmX": ((4096, 65536), F16), "gmmWeight": ((4, 65536, 4096), F16), "mmX": ((2048, 65536), F16),
      "mmWeight": ((65536, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 65536), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANGE.H1", None),
    ("arch22", "PermuteOutFlagFalseWithMmOutput",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": False, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "PAIR.permuteOut.unexpected", None),
    ("arch22", "PermuteOutGmmYAMismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4097, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "SHAPE.permuteOut.rows", None),
    ("arch22", "CheckShapeRelationKOutOfRange",
     {"gmmX": ((2048, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "RANGE.K", "COUNTS.send_sum"),
    ("arch22", "CheckDTypeGmmMismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), BF16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "DTYPE.match.gmmWeight", None),
    ("arch22", "CheckAttrsNegativeSendCount",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": (-1, *BASE[1:]), "recv": BASE, "flag": True, "transMm": False, "commMode":
      "ai_cpu"},
     FAIL, "COUNTS.send_nonneg", "COUNTS.send_sum"),
    ("arch22", "SendRecvCountsSizeMismatch",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE[:31], "flag": True, "transMm": False, "commMode": "ai_cpu"},
     FAIL, "COUNTS.recv_len", None),
    ("arch22", "TransMmWeight1",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((64, 7169), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": True, "commMode": "ai_cpu"},
     FAIL, "SHAPE.H2", None),
    ("arch35", "BasicSuccess",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     0, None, None),
    ("arch35", "H4",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "permuteOut": ((4096, 7169), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "SHAPE.permuteOut.H1", None),
    ("arch35", "A1",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "permuteOut": ((4097, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "SHAPE.permuteOut.rows", None),
    ("arch35", "BS1",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "SHAPE.mmY.BS", "PAIR.permuteOut.required"),
    ("arch35", "Dim1",
     {"gmmX": ((2, 4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "RANK.gmmX", "PAIR.permuteOut.required"),
    ("arch35", "Dim2",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((7168, 4096), F16), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "RANK.gmmWeight", "PAIR.permuteOut.required"),
    ("arch35", "Dim3",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "SHAPE.gmmY.N1", "PAIR.permuteOut.required"),
    ("arch35", "Dim5",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2, 2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "RANK.mmX", "PAIR.permuteOut.required"),
    ("arch35", "Dim6",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((2, 7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "RANK.mmWeight", "PAIR.permuteOut.required"),
    ("arch35", "Dim7",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((2, 7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2047, 64), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "RANK.mmWeight", "PAIR.permuteOut.required"),
    ("arch35", "Dim10",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16),
      "permuteOut": ((4096,), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "RANK.permuteOut", "SHAPE.permuteOut.H1"),
    ("arch35", "TransMmWeight1",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "gmmY": ((4096, 4096), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ccu"},
     FAIL, "OPTPAIR.transMm", "PAIR.permuteOut.required"),
    ("arch35", "EpWorldSize2",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 2, "send": (2048, 2048), "recv": (2048, 2048), "flag": True, "transMm": False, "commMode":
      "ccu"},
     FAIL, "PRODUCT.910_95.epWorldSize", "COUNTS.send_len"),
    ("arch35", "EpWorldSize16",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 16, "send": (64,) * 256, "recv": (64,) * 256, "flag": True, "transMm": False, "commMode":
      "ccu"},
     FAIL, "PRODUCT.910_95.epWorldSize", "COUNTS.send_len"),
    ("arch35", "EpWorldSize32",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 32, "send": (32,) * 1024, "recv": (32,) * 1024, "flag": True, "transMm": False, "commMode":
      "ccu"},
     FAIL, "PRODUCT.910_95.epWorldSize", "COUNTS.send_len"),
    ("arch35", "CommModeEmptyDefault",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     0, None, None),
    ("arch35", "CommModeAiCpu",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "ai_cpu"},
     0, None, None),
    ("arch35", "CommModeInvalid",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 8, "send": BASE, "recv": BASE, "flag": True, "transMm": False, "commMode": "invalid_mode"},
     FAIL, "PRODUCT.910_95.commMode", None),
    ("arch35", "CommModeEmptyEp16",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 16, "send": (64,) * 64, "recv": (64,) * 64, "flag": True, "transMm": False, "commMode":
      "ai_cpu"},
     0, None, None),
    ("arch35", "EpWorldSize64",
     {"gmmX": ((4096, 7168), F16), "gmmWeight": ((4, 7168, 4096), F16), "mmX": ((2048, 7168), F16),
      "mmWeight": ((7168, 64), F16), "gmmY": ((4096, 4096), F16), "mmY": ((2048, 64), F16),
      "permuteOut": ((4096, 7168), F16)},
     {"ep": 64, "send": (16,) * 4096, "recv": (16,) * 4096, "flag": True, "transMm": False, "commMode":
      "ccu"},
     FAIL, "PRODUCT.910_95.epWorldSize", "COUNTS.send_len"),
]


def tiling_call(arch: str, tensors: dict, attrs: dict) -> Call:
    """The tiling UT's call: V2's attribute set (commMode is a tiling attribute of both entry
    points), the group "group", weights not transposed."""
    return Call(
        product=PRODUCT[arch], world_size=attrs["ep"], rank=0,
        tensors={n: TensorDesc(*tensors[n]) if n in tensors else None for n in TENSORS},
        group="group", ep_world_size=attrs["ep"], send_counts=attrs["send"],
        recv_counts=attrs["recv"], trans_gmm_weight=False, trans_mm_weight=attrs["transMm"],
        permute_out_flag=attrs["flag"], entry="v2", comm_mode=attrs["commMode"])


def first_stage(call: Call) -> tuple[int, str | None]:
    """The profile's first-stage status for one rank's call, and the clause that decides it."""
    profile = load(PROFILE)
    for cid in broken(call, profile, 1):
        enforcement = profile.enforces(cid, call.product)
        if enforcement.kind == "status":
            return enforcement.status, cid
    return 0, None

# Why a tiling UT's call breaks a clause before the one it means (see `first`).
FIRST_WHY = {
    "OPTPAIR.mmY_unexpected": "the call passes mmY without mmX and mmWeight (a tiling UT has no "
                              "op_api in front of it; a real call stops there with 161001)",
    "PAIR.permuteOut.required": "permuteOutFlag is true and permuteOut is not passed",
    "COUNTS.send_sum": "the UT changes gmmX's rows (or one count) but not the other side of "
                       "BSK = sum(sendCounts)",
    "COUNTS.send_len": "the counts are not e * epWorldSize long (e = 4): the UT never builds the "
                       "world it names",
    "SHAPE.permuteOut.H1": "43a713105 no longer checks permuteOut's rank; its missing dim 1 fails "
                           "the H1 relation instead",
}

OP_API = "tests/ut/op_api/test_aclnn_allto_allv_grouped_mat_mul.cpp"
OP_API_V2 = "tests/ut/op_api/test_aclnn_allto_allv_grouped_mat_mul_v2.cpp"
UT_GROUP = "test_allto_allv_grouped_mat_mul_ep_group"
LONG_GROUP = ("test_allto_allv_grouped_mat_mul_ep_group_" * 8)[:-1]  # 327 characters
UT_COUNTS = (256,) * 32  # 4096 * 2 / 32: sum 8192 against 4096 rows of gmmX and gmmY

# (TEST_F name, changes to the op_api UT's baseline call, what it asserts, the deciding clause)
OP_API_CASES = [
    ("Test", {}, NOT_161002, "COUNTS.send_sum"),
    ("TestSendCountsNull", {"send_counts": None}, 161002, "NULL.sendCounts"),
    ("TestRecvCountsNull", {"recv_counts": None}, 161002, "NULL.recvCounts"),
    ("TestGmmxNull", {"gmmX": None}, 161001, "NULL.gmmX"),
    ("TestGmmWeightNull", {"gmmWeight": None}, 161001, "NULL.gmmWeight"),
    ("TestGmmYNull", {"gmmY": None}, 161001, "NULL.gmmY"),
    ("TestGroupEpNull", {"group": None}, 161001, "NULL.group"),
    ("TestGroupEpInvalid", {"group": LONG_GROUP}, 161002, "RANGE.group_len"),
    ("TestMmXInvalid", {"mmX": ((1024, 7168), F16)}, 161001, "OPTPAIR.mm"),
    ("TestPermuteOutFlagInvalid", {"permute_out_flag": True}, 161001,
     "PAIR.permuteOut.required"),
    ("TestSendCountsTensorOptional", {"sendCountsTensor": ((32,), "int64"), "group": "test_ep_group"},
     161001, "COUNTTENSOR.send"),
    ("TestRecvCountsEmpty", {"recv_counts": (), "group": "test_ep_group"}, 161002,
     "COUNTS.recv_empty"),
    ("TestSendCountsEmpty", {"send_counts": (), "group": "test_ep_group"}, 161002,
     "COUNTS.send_empty"),
    ("TestMmWeightInvalid", {"mmWeight": ((7168, 4096), F16), "group": "test_ep_group"}, 161001,
     "OPTPAIR.mm"),
]
# Not a first-stage case: TestSecondApiDirect calls the second stage with a null workspace,
# size, executor and stream; V1 asserts ACLNN_SUCCESS, V2 only "not 161002". The UT links a
# stubbed nnopbase, so its SUCCESS is the stub's; what a real runtime returns is in no source, and
# cann-2026.07 keeps STAGE2.executor_null as the text states it (test below).


def op_api_call(changes: dict, entry: str) -> Call:
    """The op_api UT's baseline on Atlas A3 (SetPlatformSocVersion(ASCEND910_93)): V2 passes
    "ai_cpu" in the baseline and "ccu" in every negative case."""
    tensors = {n: None for n in TENSORS}
    tensors.update(gmmX=TensorDesc((4096, 7168), F16), gmmWeight=TensorDesc((4, 7168, 4096), F16),
                   gmmY=TensorDesc((4096, 4096), F16))
    args = dict(group=UT_GROUP, send_counts=UT_COUNTS, recv_counts=UT_COUNTS,
                permute_out_flag=False)
    for key, value in changes.items():
        if key in TENSORS:
            tensors[key] = None if value is None else TensorDesc(*value)
        else:
            args[key] = value
    return Call(product="A3", world_size=8, rank=0, tensors=tensors, ep_world_size=8,
                trans_gmm_weight=False, trans_mm_weight=False, entry=entry,
                comm_mode=None if entry == "v1" else ("ccu" if changes else "ai_cpu"), **args)


def sim_first_stage(call: Call) -> int:
    mat = materialise(None, 0, call, data_mode=False)  # placeholders: no case data is read
    extra = {"comm_mode": call.comm_mode} if call.entry == "v2" else {}
    ctx = RankContext(0, call.world_size, call.product, comm=None)
    return SimBackend(PROFILE).get_workspace_size(ctx, **mat.kwargs, **extra)[0]


def _agrees(status: int, asserted: object) -> bool:
    if asserted == FAIL:
        return status != 0
    if asserted == NOT_161002:
        return status != 161002
    return status == asserted


@pytest.mark.parametrize("arch, name, tensors, attrs, asserted, means, first", TILING_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in TILING_CASES])
def test_a_tiling_ut_gets_its_outcome(arch, name, tensors, attrs, asserted, means, first):
    call = tiling_call(arch, tensors, attrs)
    status, deciding = first_stage(call)
    assert _agrees(status, asserted), f"{TILING[arch]} {name}: profile gives {status}"
    assert sim_first_stage(call) == status, f"{name}: the sim disagrees with the profile"
    assert deciding == (first or means), f"{name}: decided by {deciding}"
    if first is not None:
        assert first in FIRST_WHY  # the report says why the vendor case breaks more


@pytest.mark.parametrize("entry, path", [("v1", OP_API), ("v2", OP_API_V2)])
@pytest.mark.parametrize("name, changes, asserted, deciding", OP_API_CASES,
                         ids=[c[0] for c in OP_API_CASES])
def test_an_op_api_ut_gets_its_code(entry, path, name, changes, asserted, deciding):
    call = op_api_call(changes, entry)
    status, clause = first_stage(call)
    assert _agrees(status, asserted), f"{path} {name}: profile gives {status} ({clause})"
    assert clause == deciding
    assert sim_first_stage(call) == status


def test_the_op_api_baseline_is_not_a_consistent_world():
    """The vendor's baseline only asserts "not 161002": its counts sum to 8192 against 4096 rows,
    so a real call fails in tiling (561002), which the profile and the sim both give."""
    call = op_api_call({}, "v1")
    assert sum(call.send_counts) == 8192 != call.tensors["gmmX"].shape[0]
    assert first_stage(call) == (561002, "COUNTS.send_sum") and sim_first_stage(call) == 561002


@pytest.mark.parametrize("name, ep", [("EpWorldSize2", 2), ("EpWorldSize16", 16),
                                      ("EpWorldSize32", 32), ("EpWorldSize64", 64)])
def test_the_world_an_ep_ut_names_is_accepted(name, ep):
    """The arch35 EpWorldSize UTs fail on their counts' length; the world each names, with counts
    e * ep long, passes the first stage on Ascend 950."""
    case = next(c for c in TILING_CASES if c[:2] == ("arch35", name))
    rows = 4096 // (4 * ep)
    attrs = {**case[3], "send": (rows,) * (4 * ep), "recv": (rows,) * (4 * ep)}
    call = tiling_call("arch35", case[2], attrs)
    assert first_stage(call) == (0, None) and sim_first_stage(call) == 0


def test_a_null_executor_in_the_second_stage_keeps_the_texts_code():
    assert load(PROFILE).enforces("STAGE2.executor_null").status == 161001
