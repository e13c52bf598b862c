"""The round trip's strategies: worlds valid for both operators of the pair.

A world is drawn by the dispatch operator's own world builder (its volume rules, e.g. Atlas A3's
per-peer floor, its ranges, zero counts, uneven splits and a rank that receives nothing), with
empty experts and, at times, one hot expert every rank routes many tokens to (skewed routing).
Each half is then read by its own operator under its own profile of the run's version: a world
either half would reject is no world of the pair (Unreachable, with that half's reason).

The round trip checks computed outputs, so a world the tier cannot compute is unreachable here
(never run first-stage-only and passed); the PR tier keeps to ep <= 8, the nightly tier runs
every size, in
worlds of the tier's small size (so Atlas A3's volume floor leaves its round trip to nightly
under a profile that enforces the floor).
"""

from __future__ import annotations

from collections.abc import Callable

from ops.alltoallv_gmm import worlds as dispatch_worlds
from ops.gmm_alltoallv import worlds as combine_worlds
from ops.moe_layer.case import Case
from ops.moe_layer.clauses import CLAUSES, HALVES, PRODUCTS
from spec.expect import expect_case
from spec.profiles import Profile
from strategies import tier as tiers
from strategies.choices import Choices, Unreachable
from strategies.volume import _rules, policy

# tier: the most ranks it computes the round trip at, in small worlds only (else: every world)
MAX_EP = {"pr": 8}
IDENTITY_H = (16, 8, 64, 128, 256)  # H1 = N1 of an identity world: e H1 x H1 weights
ROUND_H1 = (16, 1, 7, 64, 128, 256, 1024)  # H1 of a composite or backward world
Builder = Callable[[Choices, str, int, Profile], Case]


def half_profiles(profile: Profile) -> tuple[Profile, Profile]:
    """Each operator's profile of the run's contract version."""
    return tuple(half.profile(profile.name) for half in HALVES)  # type: ignore[return-value]


def _skew(ch: Choices, send: list[list[int]], e: int, ep: int) -> list[list[int]]:
    """One hot global expert that every rank sends extra tokens to."""
    if not ch.bool("skewed routing"):
        return send
    hot = ch.int(0, ep * e - 1, "hot expert")
    extra = ch.int(1, 4, "hot share") * tiers.current().max_count
    return [[v + extra if k == hot else v for k, v in enumerate(row)] for row in send]


def drawn_as(product: str, ep: int, profile: Profile) -> str:
    """The product whose worlds to draw: `product`, unless only another version than the run's
    has its volume floor (the dispatch's builder draws worlds every version accepts): then as on
    a product without one, small, and both halves' checks on `product` decide (a world either
    rejects is unreachable)."""
    own = [_rules(p.operator, product, [p]).constrained for p in half_profiles(profile)]
    if any(own) or not policy(product, ep, half_profiles(profile)[0]).constrained:
        return product
    free = [p for p in PRODUCTS if p != product and ep in HALVES[0].world_sizes(p)
            and not policy(p, ep, half_profiles(profile)[0]).constrained]
    return free[0] if free else product


def world_bytes(case: Case) -> int:
    """Host bytes of the composite: both halves' worlds, the oracle's float64 copy of y."""
    return (dispatch_worlds.world_bytes(case.dispatch) + combine_worlds.world_bytes(case.combine)
            + sum(8 * case.bsk(r) * case.h1 for r in range(case.ep)))


def build(mode: str) -> Builder:
    clause = f"ROUNDTRIP.{mode}"

    def draw(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        tier = tiers.current()
        if ep > MAX_EP.get(tier.name, ep):
            raise Unreachable(f"the {tier.name} tier computes the round trip at ep <= "
                              f"{MAX_EP[tier.name]}; the nightly tier at every size")
        dispatch_profile = half_profiles(profile)[0]
        if mode == "identity":
            h = ch.choice(IDENTITY_H, "H1 = N1")
            pins = dispatch_worlds.Pins(h1=h, n1=h, shared=False, flag=True, trans_gmm=False)
        else:
            pins = dispatch_worlds.Pins(shared=False, flag=True, trans_gmm=False,
                                        h1=ch.choice(ROUND_H1, "H1")
                                        if not policy(drawn_as(product, ep, profile), ep,
                                                      dispatch_profile).constrained
                                        else None)
        world = dispatch_worlds.build_world(ch, drawn_as(product, ep, profile), ep,
                                            dispatch_profile, pins)
        send = _skew(ch, [list(row) for row in world.send], world.e, ep)
        world = world.with_(product=product, send=tuple(tuple(row) for row in send))
        case = Case(world, mode, mode == "backward" and ch.bool("transGmmWeight"), clause)
        why = refused(case, profile)
        if why:
            raise Unreachable(why)
        size = world_bytes(case)
        why = tier.computable(size, ep)
        if why:
            raise Unreachable(f"the round trip needs computed outputs, and {why}")
        if tier.name in MAX_EP and size > tier.small_world:
            floor = (" (Atlas A3's per-peer volume floor: every world at least ep x ep x 2 MiB)"
                     if policy(product, ep, dispatch_profile).constrained else "")
            raise Unreachable(f"the {tier.name} tier computes the round trip in worlds of up to "
                              f"{tier.small_world >> 20} MiB; this one needs {size >> 20} MiB"
                              f"{floor}; the nightly tier computes it")
        return case

    return draw


def refused(case: Case, profile: Profile) -> str | None:
    """Why a half of the pair rejects the case as it is called (its entry point and commMode
    included: the run sets those after the builder, strategies.intended asks again), or None."""
    for half, half_profile in zip((case.dispatch, case.combine), half_profiles(profile),
                                  strict=True):
        if case.mode == "backward" and half is case.dispatch:
            continue  # the backward pairing calls the combine alone
        exp = expect_case(half, half_profile)
        if exp.outcome != "success":
            return f"{half_profile.operator.title} rejects this world: {exp.describe()}"
    return None


VALID: dict[str, Builder] = {c.id: build(c.id.split(".")[1]) for c in CLAUSES
                             if c.id.startswith("ROUNDTRIP.")}
INVALID: dict[str, Builder] = {}  # each operator's own suite tests what it rejects


def tolerated(case: Case, profile: Profile, extra: set[str]) -> set[str]:
    """No invalid side: any clause broken is one too many."""
    return extra


def engines_of(profile: Profile) -> tuple[str, ...]:
    """The commModes both operators accept under their profiles of this version."""
    dispatch, combine = (p.operator.part("strategies").engines_of(p)
                         for p in half_profiles(profile))
    return tuple(m for m in dispatch if m in combine)
