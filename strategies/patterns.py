"""Builder patterns every operator's strategies share: the values on either side of a range,
the faults that break a rule of a generic kind (a null pointer, a dtype, a format, a rank), and
the bad values they draw from.

An operator's builders (ops/<name>/builders.py) put these into worlds of their own; the
labels of the choices are part of what a drawn case is, so they stay the same here for every
operator.
"""

from __future__ import annotations

from spec.case import Fault
from spec.rules import DtypeIn, FormatIn, InRange, IsNull, NotNull, RankIs, Rule
from strategies.choices import Choices

BAD_DTYPES = ("float32", "int8", "int32")
BAD_FORMATS = ("FRACTAL_NZ", "NCHW", "NHWC")
COMM_MODE_TYPOS = ("aicpu", "AI_CPU", "ai_cpu ", "ccu_", "hccs")  # not an engine anywhere


# The least valid value of a quantity whose range states no lower bound because its empty value
# is a clause of its own (GROUP.empty): the valid side of the range still has that edge.
LEAST_VALID = {"len.group": 1}


def range_values(rule: InRange, side: str) -> tuple[int, ...]:
    """The values just inside (valid) or just outside (invalid) each bound of a range."""
    if side == "valid":
        least = rule.min_valid if rule.lo is not None else LEAST_VALID.get(rule.quantity)
        vals = (least, rule.max_valid)
    else:
        vals = (None if rule.lo is None else rule.lo if not rule.lo_closed else rule.lo - 1,
                None if rule.hi is None else rule.hi if not rule.hi_closed else rule.hi + 1)
    return tuple(v for v in vals if v is not None)


def dimension_change(ch: Choices, size: int) -> int:
    """A change of a dimension that keeps it non-negative."""
    return ch.choice((1, 7, -1) if size >= 1 else (1, 7), "dimension change")


def is_ep_set(cid: str) -> bool:
    """A PRODUCT.<p>.epWorldSize clause: the world size itself is the value it tests."""
    return cid.startswith("PRODUCT.") and cid.endswith(".epWorldSize")


def rule_fault(ch: Choices, rule: Rule, unchecked: bool) -> Fault | None:
    """The fault that breaks a rule of a generic kind, or None for any other kind. `unchecked`:
    the profile does not check this rank rule, so only dims 0 and 1 are read and one trailing
    dimension more keeps them (merging the last two would break a shape clause too)."""
    if isinstance(rule, NotNull):
        return Fault("null", rule.param)
    if isinstance(rule, IsNull):
        return Fault("present", rule.param)
    if isinstance(rule, DtypeIn):
        return Fault("dtype", rule.param, ch.choice(BAD_DTYPES, "bad dtype"))
    if isinstance(rule, FormatIn):
        return Fault("format", rule.param, ch.choice(BAD_FORMATS, "bad format"))
    if isinstance(rule, RankIs):
        return Fault("rank", rule.param, 1 if unchecked else ch.choice((1, -1), "rank change"))
    return None
