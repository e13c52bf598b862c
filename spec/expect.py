"""The expected outcome of a world's calls under a spec profile.

Rules decide which clauses a call breaks; the profile decides what each broken clause returns.
When a call breaks several enforced clauses, the first in spec order decides (clauses are listed
in the shipped check order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from spec.call import CallBase as Call
from spec.call import Undefined
from spec.operator import Clause
from spec.profiles import Profile
from spec.rules import Rule
from spec.views import Varies, Varying, shared_views


@dataclass(frozen=True)
class Expectation:
    outcome: str  # "success", "reject", "unchecked" or "undefined"
    status1: tuple[int, ...]  # per rank, the first stage's status
    status2: int | None  # the second stage's status (all ranks), None if it is not run
    clause: str | None  # the clause that decides a non-success outcome
    violated: frozenset[str]  # every clause some rank breaks (under this profile's rules)

    def describe(self) -> str:
        if self.outcome == "reject":
            if self.status2 is not None:
                return f"status {self.status2} from the second stage ({self.clause})"
            codes = sorted(set(self.status1))
            return f"status {'/'.join(map(str, codes))} from the first stage ({self.clause})"
        if self.outcome == "unchecked":
            return f"status 0 from the first stage ({self.clause} is not checked)"
        if self.outcome == "undefined":
            return f"undefined behaviour ({self.clause} is a precondition)"
        return "status 0 from both stages and outputs matching the oracle"


def _applies(clause: Clause, product: str) -> bool:
    return clause.rule is not None and product in clause.products


@cache
def _per_call_rules(profile: Profile, product: str, stage: int) -> tuple[tuple[str, Rule], ...]:
    """(id, rule under `profile`) of each per-call clause of `stage` on `product`, in spec
    order: read once, every rank of every case asks."""
    return tuple((c.id, profile.rule(c.id)) for c in profile.operator.clauses
                 if _applies(c, product) and not c.world_rule and c.stage == stage)


@cache
def _per_call_checks(profile: Profile, product: str, stage: int, call_type: type
                     ) -> tuple[tuple[str, Callable[[Call], bool]], ...]:
    """Those rules as checkers of `call_type`'s calls (Rule.checker)."""
    return tuple((cid, rule.checker(call_type.QUANTITIES))
                 for cid, rule in _per_call_rules(profile, product, stage))


def broken(call: Call, profile: Profile, stage: int = 1) -> list[str]:
    """Ids of the per-call clauses of `stage` that this call breaks, in spec order."""
    return [cid for cid, holds in _per_call_checks(profile, call.product, stage, type(call))
            if _breaks(holds, call)]


def _breaks(holds: Callable[[Call], bool], call: Call) -> bool:
    try:
        return not holds(call)
    except Undefined:
        return False


def broken_each(calls: Sequence[Call], profile: Profile, stages: Sequence[int] = (1,)
                ) -> dict[int, list[list[str]]]:
    """`broken` of every call for each of `stages`: a rule is read once on a view of the ranks
    that share what it reads (spec.views), and rank by rank only where it read what differs."""
    out = {stage: [[] for _ in calls] for stage in stages}
    for view, ranks in shared_views(calls):
        if len(ranks) == 1 or type(view.product) is Varying:
            for r in ranks:
                for stage in stages:
                    out[stage][r] = broken(calls[r], profile, stage)
            continue
        for stage in stages:
            shared, each = [], []
            for i, (cid, holds) in enumerate(
                    _per_call_checks(profile, view.product, stage, type(view))):
                try:
                    if _breaks(holds, view):
                        shared.append((i, cid))
                except (Varies, Exception):  # it read what differs, or failed on a stand-in
                    each.append((i, cid, holds))
            for r in ranks:
                mine = [(i, cid) for i, cid, holds in each if _breaks(holds, calls[r])]
                out[stage][r] = [cid for _, cid in (sorted(shared + mine) if mine else shared)]
    return out


def broken_world(calls: Sequence[Call], profile: Profile) -> list[str]:
    out = []
    for clause in profile.operator.clauses:
        if _applies(clause, calls[0].product) and clause.world_rule:
            try:
                if not profile.rule(clause.id).holds_world(calls):
                    out.append(clause.id)
            except Undefined:
                continue
    return out


def expect(calls: Sequence[Call], profile: Profile) -> Expectation:
    each = broken_each(calls, profile, (1, 2))
    per_rank = each[1]
    world = broken_world(calls, profile)
    stage2 = sorted({cid for ids in each[2] for cid in ids},
                    key=profile.operator.order.__getitem__)
    violated = frozenset(cid for ids in per_rank for cid in ids) | set(world) | set(stage2)

    product = calls[0].product

    def enforced(cid: str):
        return profile.enforces(cid, product)

    status1, deciding = [], None
    for ids in per_rank:
        first = next((cid for cid in ids if enforced(cid).kind == "status"), None)
        status1.append(enforced(first).status if first else 0)
        deciding = deciding or first
    if deciding is not None:
        return Expectation("reject", tuple(status1), None, deciding, violated)

    stage1_ids = [cid for ids in per_rank for cid in ids] + world
    for kind in ("undefined", "unchecked"):
        hit = next((cid for cid in stage1_ids if enforced(cid).kind == kind), None)
        if hit is not None:
            return Expectation(kind, tuple(status1), None, hit, violated)

    enforced2 = next((cid for cid in stage2 if enforced(cid).kind == "status"), None)
    if enforced2 is not None:
        return Expectation("reject", tuple(status1), enforced(enforced2).status,
                           enforced2, violated)
    return Expectation("success", tuple(status1), 0, None, violated)


def expect_case(case, profile: Profile) -> Expectation:
    """`expect` for a whole case, remembered: strategies and the runner both ask. A case's
    stage does not enter its calls, so a case capped to its first stage (a world too large for
    the tier) finds the expectation of the case as drawn."""
    return _expect_case(case if case.stage == "both" else case.with_(stage="both"), profile)


@lru_cache(maxsize=32)  # a cell's probe and draws; a mutation replay's case on each entry
def _expect_case(case, profile: Profile) -> Expectation:
    return expect(case.calls(), profile)


def forget_expectations() -> None:
    """Drop every remembered expectation (ci.bench_cases times one afresh)."""
    _expect_case.cache_clear()
