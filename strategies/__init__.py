"""Hypothesis strategies over an operator's contract: for every clause, a case on each side.

The operator's strategies part (`Operator.part("strategies")`, e.g. ops/alltoallv_gmm/builders.py)
gives, per clause and side, a builder: a plain function of a `Choices` (strategies/choices.py)
that returns a case. Here they become hypothesis strategies (`clause_cases`) and deterministic
probes (`probe`). Every drawn case carries the clause it exercises (`case.clause`) and its side
(`case.side`); `intended` checks that it is what it claims (the valid side succeeds under the
profile; the invalid side breaks its clause and no other the operator does not tolerate).
"""

from __future__ import annotations

from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from spec.expect import expect_case
from spec.profiles import Profile
from strategies import tier
from strategies.choices import (
    Choices,
    Drawn,
    Minimal,
    Pinned,
    Recording,
    ReplayError,
    Replaying,
    Seeded,
    Unreachable,
)

__all__ = ["ReplayError", "clause_cases", "drawn_form", "intended", "probe", "reachable", "rebuild",
           "tier", "world_bytes"]


def _draw_from_the_seed_alone() -> None:
    """Hypothesis draws one integer in twenty from constants it reads in the source of the
    local modules loaded so far. A cell's cases would then depend on which modules its worker
    had imported (the other cells it ran), on the suite's source and on where the checkout lies
    (a path with a "tests" folder in it reads as no local module); the same seed must draw the
    same cases. The pinned hypothesis (requirements.txt) reads them through this one function."""
    from hypothesis.internal.conjecture import providers

    nothing = providers.Constants()
    providers._get_local_constants = lambda: nothing


_draw_from_the_seed_alone()


def _strategies(profile: Profile):
    return profile.operator.part("strategies")


def world_bytes(case: Any, profile: Profile) -> int:
    """Host bytes a world of `case` takes to compute (the operator's estimate)."""
    return _strategies(profile).world_bytes(case)


def intended(case: Any, profile: Profile) -> str | None:
    """None when the case is what its side claims under `profile`, else what is wrong."""
    exp = expect_case(case, profile)
    if case.side == "valid":
        if exp.outcome != "success":
            return f"not valid: {exp.describe()}"
        refused = getattr(_strategies(profile), "refused", None)  # a composite's halves
        return refused(case, profile) if refused is not None else None
    if case.clause not in exp.violated:
        return f"does not break {case.clause}"
    extra = _strategies(profile).tolerated(case, profile, set(exp.violated - {case.clause}))
    return f"also breaks {', '.join(sorted(extra))}" if extra else None


def _builder(profile: Profile, clause: str, side: str):
    part = _strategies(profile)
    table = part.INVALID if side == "invalid" else part.VALID
    if clause not in table:
        raise KeyError(f"no {side}-side builder for clause {clause!r} of "
                       f"{profile.operator.title}")
    return table[clause]


def _pinned(ch: Choices, dtype: str | None) -> Choices:
    return ch if dtype is None else Pinned(ch, {"dtype": dtype})


def on_entry(case: Any, entry: str, comm_mode: str | None) -> Any:
    """The case as a call of `entry` (V2 with the run's commMode), unless its clause already
    made it a V2 call of its own commMode."""
    if entry == "v2" and case.entry == "v1":
        return case.with_(entry="v2", comm_mode=comm_mode)
    return case


def _build(ch: Choices, clause: str, side: str, product: str, ep: int, profile: Profile,
           dtype: str | None, entry: str, comm_mode: str | None) -> Any:
    """The clause side's builder on `ch` (the cell's dtype pinned), as a call of `entry`: what
    a drawn case, a probe and a rebuilt record all are."""
    return on_entry(_builder(profile, clause, side)(_pinned(ch, dtype), product, ep, profile),
                    entry, comm_mode)


@st.composite
def clause_cases(draw, clause: str, side: str, product: str, ep: int, profile: Profile,
                 dtype: str | None = None, entry: str = "v1", comm_mode: str | None = None
                 ) -> Any:
    """A case of `profile`'s operator on `side` of `clause` in a world of `ep` ranks (of
    `dtype`, if given), a call of `entry`."""
    recording = Recording(Drawn(draw))
    try:
        case = _build(recording, clause, side, product, ep, profile, dtype, entry, comm_mode)
    except Unreachable:
        reject()
    if intended(case, profile) is not None:
        reject()
    return case.drawn_from(recording.values)


def drawn_form(drawn: Any, ran: Any, profile: Profile, entry: str, comm_mode: str | None
               ) -> dict | None:
    """What `rebuild` needs to make `ran` again (the case `clause_cases` drew, as it ran, maybe
    capped to its first stage): its choices and the run's profile, tier and entry, a few dozen
    bytes where the case is kilobytes; None when `ran` is not such a case."""
    if drawn.drawn_with is None or profile.path.parent != profile.operator.profile_dir:
        return None
    if ran is not drawn and ran != drawn.with_(stage=ran.stage):
        return None
    return {"choices": list(drawn.drawn_with), "profile": profile.name,
            "tier": tier.current().name, "entry": entry, "comm_mode": comm_mode,
            "stage": ran.stage}


def rebuild(op: Any, cell: dict, form: dict) -> Any:
    """The case of a record's `drawn_form`, for the cell it was drawn for (`cell`: operator,
    clause, side, product, ep, dtype), built again by the same builder from the same choices.
    ReplayError when the choices no longer build a case (the builders changed since the run)."""
    profile = op.profile(form["profile"])
    before = tier.current().name
    tier.use(form["tier"])
    try:
        case = _build(Replaying(form["choices"]), cell["clause"], cell["side"], cell["product"],
                      cell["ep"], profile, cell["dtype"], form["entry"], form["comm_mode"])
    except Unreachable as err:
        raise ReplayError(f"the recorded choices build no case: {err}") from err
    finally:
        tier.use(before)
    return case if case.stage == form["stage"] else case.with_(stage=form["stage"])


def probes() -> list[Choices]:
    return [Minimal(), Seeded(0, "max"), *(Seeded(s) for s in range(12))]


def probe(clause: str, side: str, product: str, ep: int, profile: Profile,
          dtype: str | None = None, entry: str = "v1", comm_mode: str | None = None
          ) -> tuple[Any | None, str | None]:
    """A case on `side` of `clause` at `ep` ranks built by deterministic probes, or why none
    exists (the builders are tried with minimal, maximal and seeded choices)."""
    why = "no probe built a case"
    for ch in probes():
        try:
            case = _build(ch, clause, side, product, ep, profile, dtype, entry, comm_mode)
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
