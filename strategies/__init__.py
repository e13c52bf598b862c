"""Hypothesis strategies drawn from `spec`: valid worlds, and for every clause a case on each side.

Every drawn case carries the clause it exercises (`case.clause`) and its side (`case.side`).
`intended` checks that a case is what it claims (the valid side succeeds under the profile; the
invalid side breaks its clause and no other), and `reachable` tells, before any draw, whether a
clause can be broken alone at a world size at all.
"""

from __future__ import annotations

from hypothesis import reject
from hypothesis import strategies as st

from spec.case import Case
from spec.clauses import CLAUSE, SHIPPED_2026
from spec.expect import expect_case
from spec.profiles import Profile
from strategies import tier
from strategies.choices import Choices, Drawn, Minimal, Pinned, Seeded
from strategies.clauses import IMPLIED, INVALID, VALID
from strategies.volume import policy
from strategies.worlds import Pins, Unreachable, build_world, world_bytes

__all__ = [
    "Pins",
    "clause_cases",
    "intended",
    "probe",
    "reachable",
    "tier",
    "valid_worlds",
    "world_bytes",
]


def intended(case: Case, profile: Profile) -> str | None:
    """None when the case is what its side claims under `profile`, else what is wrong."""
    exp = expect_case(case, profile)
    if case.side == "valid":
        return None if exp.outcome == "success" else f"not valid: {exp.describe()}"
    if case.clause not in exp.violated:
        return f"does not break {case.clause}"
    extra = exp.violated - {case.clause} - IMPLIED.get(case.clause, frozenset())
    # A check only a later version has is, where this profile accepts it, no second violation.
    extra = {c for c in extra if not (CLAUSE[c].source == SHIPPED_2026 and
                                      profile.enforces(c, case.product).kind == "accepted")}
    if not policy(case.product, case.ep, profile).strict:
        # No world honours every profile's volume rules here: those this profile accepts hold.
        extra = {c for c in extra if not (c.startswith("VOLUME.")
                                          and profile.enforces(c, case.product).kind == "accepted")}
    return f"also breaks {', '.join(sorted(extra))}" if extra else None


def _builder(clause: str, side: str):
    table = INVALID if side == "invalid" else VALID
    if clause not in table:
        raise KeyError(f"no {side}-side builder for clause {clause!r}")
    return table[clause]


def _pinned(ch: Choices, dtype: str | None) -> Choices:
    return ch if dtype is None else Pinned(ch, {"dtype": dtype})


def on_entry(case: Case, entry: str, comm_mode: str | None) -> Case:
    """The case as a call of `entry` (V2 with the run's commMode), unless its clause already
    made it a V2 call of its own commMode."""
    if entry == "v2" and case.entry == "v1":
        return case.with_(entry="v2", comm_mode=comm_mode)
    return case


@st.composite
def clause_cases(draw, clause: str, side: str, product: str, ep: int, profile: Profile,
                 dtype: str | None = None, entry: str = "v1", comm_mode: str | None = None
                 ) -> Case:
    """A case on `side` of `clause` in a world of `ep` ranks (of `dtype`, if given), a call of
    `entry`."""
    try:
        case = on_entry(_builder(clause, side)(_pinned(Drawn(draw), dtype), product, ep, profile),
                        entry, comm_mode)
    except Unreachable:
        reject()
    if intended(case, profile) is not None:
        reject()
    return case


@st.composite
def valid_worlds(draw, product: str, ep: int, profile: Profile, pins: Pins | None = None,
                 clause: str = "CALC.gmm") -> Case:
    try:
        case = build_world(Drawn(draw), product, ep, profile, pins or Pins(), clause, "valid")
    except Unreachable:
        reject()
    if intended(case, profile) is not None:
        reject()
    return case


def probes() -> list[Choices]:
    return [Minimal(), Seeded(0, "max"), *(Seeded(s) for s in range(12))]


def probe(clause: str, side: str, product: str, ep: int, profile: Profile,
          dtype: str | None = None, entry: str = "v1", comm_mode: str | None = None
          ) -> tuple[Case | None, str | None]:
    """A case on `side` of `clause` at `ep` ranks built by deterministic probes, or why none
    exists (the builders are tried with minimal, maximal and seeded choices)."""
    why = "no probe built a case"
    for ch in probes():
        try:
            case = on_entry(_builder(clause, side)(_pinned(ch, dtype), product, ep, profile),
                            entry, comm_mode)
        except Unreachable as err:
            why = str(err)
            continue
        problem = intended(case, profile)
        if problem is None:
            return case, None
        why = problem
    return None, why


def reachable(clause: str, side: str, product: str, ep: int, profile: Profile,
              dtype: str | None = None) -> str | None:
    """None when some world of `ep` ranks puts a case on `side` of `clause`; else why not."""
    return probe(clause, side, product, ep, profile, dtype)[1]
