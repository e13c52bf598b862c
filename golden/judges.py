"""Accuracy judges: each compares an output with its golden and returns a verdict with statistics.

Every judge rejects a non-finite output element whose golden is finite, whatever its ratio rule
would say: one NaN is a fault, not a rounding error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import ml_dtypes
import numpy as np

from golden import standards as S

_BF16 = np.dtype(ml_dtypes.bfloat16)
_MIN_EXP = {"float16": -14, "bfloat16": -126, "float32": -126}


@dataclass(frozen=True)
class Verdict:
    """A judge's finding on one output. `diagnosis`, where an operator's oracle can tell what
    went wrong (a data-movement fault's pattern and where its wrong rows came from), is data for
    reports; `reason` says the same in one line."""

    passed: bool
    standard: str
    output: str
    elements: int
    matched_ratio: float
    max_abs_error: float
    mere: float
    mare: float
    worst_index: tuple[int, ...] | None
    worst_value: float | None
    worst_golden: float | None
    reason: str = ""
    diagnosis: dict | None = None

    def as_dict(self) -> dict:
        """The fields as they are (`dataclasses.asdict` deep-copies each, for every rank's
        verdict of every case: a frozen verdict's values are never changed in place)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self) -> str:
        head = f"{self.output}: {self.standard} {'passed' if self.passed else 'FAILED'}"
        stats = (f"matched {self.matched_ratio:.4%} of {self.elements}, max abs error "
                 f"{self.max_abs_error:.3g}, MERE {self.mere:.3g}, MARE {self.mare:.3g}")
        worst = ""
        if self.worst_index is not None:
            worst = (f"; worst at {list(self.worst_index)}: got {self.worst_value!r}, "
                     f"expected {self.worst_golden!r}")
        reason = f" ({self.reason})" if self.reason else ""
        return f"{head}{reason}: {stats}{worst}"


def as_f64(a: np.ndarray) -> np.ndarray:
    """`a` in float64, exactly (every float16, bfloat16 and float32 value is a float64 value);
    a float64 array is returned as it is."""
    a = np.asarray(a)
    return a if a.dtype == np.float64 else a.astype(np.float64)


def ulp(golden: np.ndarray, dtype: str) -> np.ndarray:
    """The spacing of `dtype` at each golden value (subnormal spacing below the normal range)."""
    mag = np.maximum(np.abs(golden), np.finfo(np.float64).tiny)
    exp = np.maximum(np.floor(np.log2(mag)), _MIN_EXP[dtype])
    return np.exp2(exp - S.MANTISSA_BITS[dtype])


def _stats(out: np.ndarray, golden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o, g = as_f64(out), as_f64(golden)
    with np.errstate(invalid="ignore"):  # inf - inf: a non-finite output, counted as inf
        err = np.abs(o - g)
    err[~np.isfinite(err)] = np.inf
    rel = err / (np.abs(g) + S.MERE_EPS)
    return err, rel


def _verdict(standard: str, output: str, out: np.ndarray, golden: np.ndarray,
             ok: np.ndarray, passed: bool, err: np.ndarray, rel: np.ndarray, reason: str = ""
             ) -> Verdict:
    n = int(err.size)
    if n == 0:
        return Verdict(passed, standard, output, 0, 1.0, 0.0, 0.0, 0.0, None, None, None, reason)
    finite_rel = np.where(np.isfinite(rel), rel, np.inf)
    # The worst element among those that fail the rule, or the largest error when all pass.
    worst = np.unravel_index(int(np.argmax(err if ok.all() else np.where(ok, -np.inf, err))),
                             err.shape)
    return Verdict(
        passed=bool(passed),
        standard=standard,
        output=output,
        elements=n,
        matched_ratio=float(ok.mean()),
        max_abs_error=float(err.max()),
        mere=float(finite_rel.mean()),
        mare=float(finite_rel.max()),
        worst_index=tuple(int(i) for i in worst),
        worst_value=float(as_f64(out)[worst]),
        worst_golden=float(as_f64(golden)[worst]),
        reason=reason,
    )


def mixed(output: str, out: np.ndarray, golden: np.ndarray, dtype: str) -> Verdict:
    rtol, atol, limit = S.MIXED[dtype]
    err, rel = _stats(out, golden)
    g = np.abs(as_f64(golden))
    ok = err <= atol + rtol * g
    cap = np.maximum(limit, S.MIXED_ULPS * ulp(g, dtype))
    within = err <= cap
    ratio = float(ok.mean()) if ok.size else 1.0
    passed = ratio >= S.MIXED_MATCH_RATIO and bool(within.all())
    reason = ""
    if not passed:
        reason = (f"only {ratio:.2%} within {atol:g} + {rtol:g}*|golden| (needs "
                  f"{S.MIXED_MATCH_RATIO:.0%})" if ratio < S.MIXED_MATCH_RATIO else
                  f"an error above max({limit:g}, {S.MIXED_ULPS} ULP)")
    return _verdict("mixed", output, out, golden, ok & within, passed, err, rel, reason)


def mere_mare(output: str, out: np.ndarray, golden: np.ndarray, dtype: str) -> Verdict:
    t = S.MERE_T[dtype]
    small_thr, small_atol = S.SMALL_VALUE[dtype]
    err, rel = _stats(out, golden)
    small = np.abs(as_f64(golden)) < small_thr
    big_rel = rel[~small]
    mere = float(big_rel.mean()) if big_rel.size else 0.0
    mare = float(big_rel.max()) if big_rel.size else 0.0
    ok = np.where(small, err <= small_atol, rel < S.MARE_FACTOR * t)
    passed = mere < t and mare < S.MARE_FACTOR * t and bool(ok.all())
    reason = "" if passed else (
        f"MERE {mere:.3g} >= {t:g}" if mere >= t else
        f"MARE {mare:.3g} >= {S.MARE_FACTOR * t:g}" if mare >= S.MARE_FACTOR * t else
        f"a small-value element off by more than {small_atol:g}")
    v = _verdict("mere-mare", output, out, golden, ok, passed, err, rel, reason)
    return Verdict(**{**v.as_dict(), "mere": mere, "mare": mare})


def allclose(output: str, out: np.ndarray, golden: np.ndarray, dtype: str) -> Verdict:
    rtol, atol = S.ALLCLOSE
    err, rel = _stats(out, golden)
    ok = err <= atol + rtol * np.abs(as_f64(golden))
    reason = "" if ok.all() else f"not allclose(rtol={rtol}, atol={atol})"
    return _verdict("allclose", output, out, golden, ok, bool(ok.all()), err, rel, reason)


JUDGES: dict[str, Callable[[str, np.ndarray, np.ndarray, str], Verdict]] = {
    "mixed": mixed,
    "mere-mare": mere_mare,
    "allclose": allclose,
}


def judge(name: str, output: str, out: np.ndarray, golden: np.ndarray, dtype: str) -> Verdict:
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; accepted: {', '.join(JUDGES)}")
    if out.shape != golden.shape:
        return _shape_mismatch(name, output, out, golden)
    return JUDGES[name](output, out, golden, dtype)


def exact(output: str, out: np.ndarray, golden: np.ndarray) -> Verdict:
    """Bit-for-bit equality (data movement: AlltoAllv and Permute move values, never round)."""
    if out.shape != golden.shape or out.dtype != golden.dtype:
        return _shape_mismatch("bitwise", output, out, golden)
    width = np.dtype(f"u{out.dtype.itemsize}")
    ok = np.ascontiguousarray(out).view(width) == np.ascontiguousarray(golden).view(width)
    if ok.all():  # the common case: no float64 copies of a large tensor
        return Verdict(True, "bitwise", output, int(ok.size), 1.0, 0.0, 0.0, 0.0, None, None,
                       None)
    err, rel = _stats(out, golden)
    reason = f"{int((~ok).sum())} elements differ in their bits"
    return _verdict("bitwise", output, out, golden, ok, False, err, rel, reason)


def _shape_mismatch(standard: str, output: str, out: np.ndarray, golden: np.ndarray) -> Verdict:
    return Verdict(False, standard, output, int(golden.size), 0.0, float("inf"), float("inf"),
                   float("inf"), None, None, None,
                   f"shape/dtype {out.shape}/{out.dtype} but expected {golden.shape}/{golden.dtype}")
