"""Small deterministic cases and plans for the pool's tests (any world size)."""

from __future__ import annotations

from ci.bench_pool import valid_cases
from fixtures.harness import RankPlan, RankReport
from fixtures.runner import CaseResult, plan_case, summarise
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.worlds import Pins, build_world
from spec.expect import Expectation
from strategies.choices import Seeded

ALL_CAPS = frozenset({"null_inputs", "null_attributes", "output_args", "null_out_pointers",
                      "stage_control", "formats"})


def plan_for(case: Case, profile: str = "doc", repeat: bool = True) -> RankPlan:
    """The runner's plan for a case under a profile (as the suite would run it)."""
    _, plan, why = plan_case(case, load(profile), ALL_CAPS, "mixed", repeat)
    assert plan is not None, why
    return plan


def valid_plan(ep: int = 4, seed: int = 0, product: str = "910_95") -> RankPlan:
    return plan_for(valid_cases(1, product, ep, load("doc"), seed=seed)[0])


def any_world_plan(ep: int, seed: int = 1, repeat: bool = True, **pins) -> RankPlan:
    """A valid-looking world of any size, expected to succeed (for backends with `any_ep`)."""
    case = build_world(Seeded(seed), "910_95", ep, load("doc"), Pins(**pins), "CALC.gmm",
                       "valid")
    exp = Expectation("success", (0,) * ep, 0, None, frozenset())
    return RankPlan(case, exp, "mixed", True, True, repeat)


def result_of(plan: RankPlan, reports: list[RankReport]) -> CaseResult:
    return summarise(plan.case, plan.expectation, reports, plan, 0.0)
