"""Valid worlds of aclnnAlltoAllvGroupedMatMul as a hypothesis strategy, for the suite's own tests
(the suites draw per clause through strategies.clause_cases)."""

from __future__ import annotations

from hypothesis import reject
from hypothesis import strategies as st

from ops.alltoallv_gmm.worlds import Pins, build_world
from spec.profiles import Profile
from strategies import intended
from strategies.choices import Drawn, Unreachable


@st.composite
def valid_worlds(draw, product: str, ep: int, profile: Profile, pins: Pins | None = None,
                 clause: str = "CALC.gmm"):
    try:
        case = build_world(Drawn(draw), product, ep, profile, pins or Pins(), clause, "valid")
    except Unreachable:
        reject()
    if intended(case, profile) is not None:
        reject()
    return case
