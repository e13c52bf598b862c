"""Accuracy standards used on Ascend (OPERATOR.md section 5), as data.

`mixed`: an element matches when |out - golden| <= atol + rtol * |golden|; a case passes when at
least 99 % of the elements match and every error is within max(limit, 32 ULP of the golden value).

`mere-mare`: MERE = mean(|out - golden| / (|golden| + 1e-7)) < T and MARE = max(...) < 10 T.
Near zero that ratio measures nothing but the accumulation order (a correct fp32 accumulation
leaves absolute errors around 1e-6, which against a golden of 1e-5 is 10 %), so elements whose
golden lies below `small` are judged by absolute error <= `small_atol` instead: the small-value
region of Ascend's benchmark-comparison standard. Without it a correct operator fails.

`allclose`: the op-plugin test's numpy.allclose(rtol=0.005, atol=0.005).
"""

from __future__ import annotations

MIXED = {
    # dtype: (rtol, atol, max-error limit)
    "float16": (2.0**-9, 2.0**-9, 0.1),
    "bfloat16": (2.0**-6, 2.0**-6, 1.0),
    "float32": (2.0**-10, 2.0**-16, 0.01),
}
MIXED_MATCH_RATIO = 0.99
MIXED_ULPS = 32

MERE_T = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-13}
MERE_EPS = 1e-7
MARE_FACTOR = 10
SMALL_VALUE = {  # dtype: (small-value threshold, absolute tolerance inside it)
    "float16": (2.0**-10, 2.0**-14),
    "bfloat16": (2.0**-8, 2.0**-12),
    "float32": (2.0**-14, 2.0**-24),
}

ALLCLOSE = (0.005, 0.005)  # rtol, atol

MANTISSA_BITS = {"float16": 10, "bfloat16": 7, "float32": 23}
