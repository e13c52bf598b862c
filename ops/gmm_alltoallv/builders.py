"""The strategies part of aclnnGroupedMatMulAlltoAllv: for every clause, a case that breaks it
alone (invalid side) and one on its valid side, as close to the edge as the rule allows.

Most builders follow from the rule's kind (a null pointer, a dtype, a format, a rank, a range:
strategies/patterns.py, shared with the dispatch operator); the rest are written out per clause.
Ranges are read from the profile's rule, so the boundary values (H1 = 65535 and 65536, K = 2, 8
and 1, 9, ...) are never restated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ops.gmm_alltoallv.case import Case, Fault
from ops.gmm_alltoallv.clauses import CLAUSE, PRODUCTS, SHIPPED
from ops.gmm_alltoallv.params import FLOAT_DTYPES
from ops.gmm_alltoallv.worlds import Pins, build_world, tile_world, world_bytes
from spec.profiles import Profile
from spec.rules import DtypeMatches, InRange
from strategies.choices import Choices, Seeded, Unreachable
from strategies.patterns import (
    COMM_MODE_TYPOS,
    dimension_change,
    is_ep_set,
    range_values,
    rule_fault,
)

__all__ = ["INVALID", "VALID", "doctor_cases", "engines_of", "tolerated", "world_bytes"]

MM_PARAMS = ("mmX", "mmWeight", "mmY")
VOLUME_N1 = 16384  # a volume world's N1: 64 rows of y carry 2 MiB

# Violations that cannot come alone: with ep >= 8, e > 32 means e*ep > 256 and e*ep > 256
# means e > 32; "" is no engine on any product; a card under the floor has a peer under it.
IMPLIED: dict[str, frozenset[str]] = {
    "RANGE.e": frozenset({"RANGE.e_ep"}),
    "RANGE.e_ep": frozenset({"RANGE.e"}),
    "COMMMODE.empty": frozenset({"PRODUCT.A3.commMode", "PRODUCT.910_95.commMode"}),
    "VOLUME.A3.card_min": frozenset({"VOLUME.A3.per_peer_min"}),
}

Builder = Callable[[Choices, str, int, Profile], Case]


def tolerated(case: Case, profile: Profile, extra: set[str]) -> set[str]:
    """Of the clauses `case` breaks besides its own, those that still make it more than a
    single-clause case: the ones its violation implies, a volume rule or a check only the
    shipped code has where this profile accepts it, are no second violation."""
    extra = extra - IMPLIED.get(case.clause, frozenset())
    return {c for c in extra
            if not ((c.startswith("VOLUME.") or CLAUSE[c].source == SHIPPED)
                    and profile.enforces(c, case.product).kind == "accepted")}


def _param_pins(param: str, **extra) -> Pins:
    """A world in which `param` is passed at all."""
    if param in MM_PARAMS:
        extra.setdefault("shared", True)
    return Pins(**extra)


def _world(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins, clause: str,
           side: str, *faults: Fault) -> Case:
    case = build_world(ch, product, ep, profile, pins, clause, side)
    return case.with_(faults=tuple(faults)) if faults else case


# -- ranges: the knob that sets each ranged quantity -----------------------------------------


def _range_pins(quantity: str, value: int, ep: int, side: str, profile: Profile
                ) -> tuple[Pins, tuple[Fault, ...]]:
    budget = "boundary"
    if quantity in ("H1", "N1", "H2", "N2", "K"):
        return Pins(**{quantity.lower(): value, "budget": budget}), ()
    if quantity == "e":
        return Pins(e=value, wide=True, budget=budget), ()
    if quantity == "e*ep":  # the e whose product with ep is nearest the limit, on `side`
        if side == "valid":
            e = value if value <= 1 else min(value // ep, profile.rule("RANGE.e").max_valid)
        else:
            e = value if value <= 1 else -(-value // ep)
        return Pins(e=e, wide=True, budget=budget), ()
    if quantity == "BSK":  # H1 = N1 = 1 keep the rows of the largest BSK narrow
        narrow = 1 if value > 1 << 20 else None
        return Pins(bsk=value, h1=narrow, n1=narrow, shared=False, budget=budget), ()
    if quantity == "BS":  # every rank's BS, BSK = 2 * BS (BS = 0: below, after the draw)
        return Pins(k=2, bsk=2 * value if value else None, shared=True, budget=budget), ()
    if quantity == "len.group":
        return Pins(budget="first"), (Fault("value", "group", "g" * value),)
    raise KeyError(quantity)


def _range_builder(cid: str, side: str) -> Builder:
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        rule = profile.rule(cid)
        value = ch.choice(range_values(rule, side), f"{rule.quantity} ({side} edge)")
        pins, faults = _range_pins(rule.quantity, value, ep, side, profile)
        case = _world(ch, product, ep, profile, pins, cid, side, *faults)
        if rule.quantity == "BS" and value == 0:  # mmX and mmY without rows on every rank
            case = case.with_(shared=replace(case.shared, bs=(0,) * ep))
        return case

    return build


# -- invalid side ---------------------------------------------------------------------------


def _generic_invalid(cid: str) -> Builder:
    rule = CLAUSE[cid].rule

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        fault = rule_fault(ch, rule, profile.enforces(cid, product).kind != "status")
        param = getattr(rule, "param", "")
        if fault is None and isinstance(rule, DtypeMatches):
            case = _world(ch, product, ep, profile, _param_pins(param, budget="first"), cid,
                          "invalid")
            other = next(d for d in FLOAT_DTYPES if d != case.dtype)
            return case.with_(faults=(Fault("dtype", param, other),))
        if fault is None:
            raise KeyError(cid)
        return _world(ch, product, ep, profile, _param_pins(param, budget="first"), cid,
                      "invalid", fault)

    return build


def _resize(cid: str, param: str, dim: Callable[[Case], int], size: Callable[[Case], int],
            **pins) -> Builder:
    """`param` one dimension off (a size read off the case, so it stays non-negative)."""
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        case = _world(ch, product, ep, profile, _param_pins(param, budget="first", **pins), cid,
                      "invalid")
        change = dimension_change(ch, size(case))
        return case.with_(faults=(Fault("resize", param, (dim(case), change)),))

    return build


def _fault(cid: str, pins: Pins, *faults: Fault) -> Builder:
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        return _world(ch, product, ep, profile, pins, cid, "invalid", *faults)

    return build


def _mm_pair(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    which = ch.choice(("mmWeight", "mmX"), "which of the pair is null")
    return _world(ch, product, ep, profile, Pins(shared=True, budget="first"), "OPTPAIR.mm",
                  "invalid", Fault("null", which))


def _unrequested_mm_y(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    shape = (ch.int(1, 8, "mmY rows"), ch.int(1, 8, "mmY columns"))
    return _world(ch, product, ep, profile, Pins(shared=False, budget="boundary"),
                  "OPTPAIR.mmY_unexpected", "invalid", Fault("present", "mmY", shape))


def _ep_world_size(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    case = build_world(ch, product, ep, profile, Pins(budget="first"), "COMM.epWorldSize",
                       "invalid")
    most = profile.rule("RANGE.e_ep").max_valid
    bigger = [v for v in profile.operator.world_sizes(product) if v > ep and case.e * v <= most]
    if not bigger:
        raise Unreachable(f"no larger supported epWorldSize keeps e*ep <= {most} at ep={ep}")
    return case.with_(faults=(Fault("value", "epWorldSize", bigger[0]),))


def _bsk_not_multiple(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    """A shared expert whose BS does not divide BSK, K = BSK // BS still in [2, 8]."""
    case = build_world(ch, product, ep, profile, Pins(shared=True, min_bsk=7, budget="first"),
                       "COUNTS.bsk_multiple", "invalid")
    bs = []
    for r in range(ep):
        bsk = case.bsk(r)
        fits = [b for b in range(2, bsk // 2 + 1) if bsk % b and 2 <= bsk // b <= 8]
        if not fits:
            raise Unreachable(f"no BS leaves a remainder for BSK={bsk} with K in [2, 8]")
        bs.append(ch.choice(tuple(fits), "BS with a remainder"))
    return case.with_(shared=replace(case.shared, bs=tuple(bs)))


def _peer_floor(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    """Each rank (or one) exchanges nothing with its next peer: one peer block under the floor
    on both of its ends, while every rank still gets rows back."""
    if ep < 2:
        raise Unreachable("a peer block under the floor needs a peer")
    case = build_world(ch, product, ep, profile, Pins(n1=VOLUME_N1, h1=16, shared=False,
                       bsk=ep * 64 * ch.choice((1, 2), "blocks of 64 rows"), budget="boundary"),
                       "VOLUME.A3.per_peer_min", "invalid")
    e, rows = case.e, [list(r) for r in case.dispatch]
    senders = [ch.int(0, ep - 1, "the rank")] if ch.bool("one rank only") else range(ep)
    for s in senders:
        nxt = (s + 1) % ep
        rows[s][nxt * e:(nxt + 1) * e] = [0] * e
    return case.with_(dispatch=tuple(tuple(r) for r in rows))


def _card_floor(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    """Every card under the floor: a few rows per rank."""
    return _world(ch, product, ep, profile, Pins(n1=ch.choice((8, 1024), "N1"), shared=False,
                  budget="boundary"), "VOLUME.A3.card_min", "invalid")


def _invalid_builders() -> dict[str, Builder]:
    first = Pins(budget="first")
    b: dict[str, Builder] = {
        "GROUP.empty": _fault("GROUP.empty", first, Fault("value", "group", "")),
        "OPTPAIR.mm": _mm_pair,
        "OPTPAIR.mmY": _fault("OPTPAIR.mmY", Pins(shared=True, budget="first"),
                              Fault("null", "mmY")),
        "OPTPAIR.mmY_unexpected": _unrequested_mm_y,
        "COUNTS.send_empty": _fault("COUNTS.send_empty", first,
                                    Fault("counts", "sendCounts", "empty")),
        "COUNTS.recv_empty": _fault("COUNTS.recv_empty", first,
                                    Fault("counts", "recvCounts", "empty")),
        "SHAPE.mmY.BS": _resize("SHAPE.mmY.BS", "mmY", lambda c: 0, lambda c: min(c.shared.bs)),
        "OPTPAIR.transMm": _fault("OPTPAIR.transMm",
                                  Pins(shared=False, trans_mm=True, budget="boundary")),
        "SHAPE.H1": _resize("SHAPE.H1", "gmmWeight", lambda c: 2 if c.trans_gmm_weight else 1,
                            lambda c: c.h1),
        "SHAPE.y.N1": _resize("SHAPE.y.N1", "y", lambda c: 1, lambda c: c.n1),
        "SHAPE.H2": _resize("SHAPE.H2", "mmWeight", lambda c: 1 if c.trans_mm_weight else 0,
                            lambda c: c.shared.h2),
        "SHAPE.mmY.N2": _resize("SHAPE.mmY.N2", "mmY", lambda c: 1, lambda c: c.shared.n2),
        "COUNTS.send_len": _fault("COUNTS.send_len", first,
                                  Fault("counts", "sendCounts", "append_zero")),
        "COUNTS.recv_len": _fault("COUNTS.recv_len", first,
                                  Fault("counts", "recvCounts", "append_zero")),
        "COUNTS.send_sum": _resize("COUNTS.send_sum", "gmmX", lambda c: 0,
                                   lambda c: min(c.a(r) for r in range(c.ep))),
        "COUNTS.recv_sum": _resize("COUNTS.recv_sum", "y", lambda c: 0,
                                   lambda c: min(c.bsk(r) for r in range(c.ep))),
        "COUNTS.send_nonneg": _fault("COUNTS.send_nonneg", Pins(e=2, budget="first"),
                                     Fault("counts", "sendCounts", "negative")),
        "COUNTS.recv_nonneg": _fault("COUNTS.recv_nonneg", Pins(e=2, budget="first"),
                                     Fault("counts", "recvCounts", "negative")),
        "COUNTS.bsk_multiple": _bsk_not_multiple,
        "VOLUME.A3.per_peer_min": _peer_floor,
        "VOLUME.A3.card_min": _card_floor,
        "COMM.epWorldSize": _ep_world_size,
        "CONSIST.counts": _fault("CONSIST.counts", Pins(e=2, budget="first"),
                                 Fault("counts", "sendCounts", "shift")),
        "STAGE2.executor_null": _fault("STAGE2.executor_null", first,
                                       Fault("null", "stage2.executor")),
        "STAGE2.workspace_null": _fault("STAGE2.workspace_null", first,
                                        Fault("null", "stage2.workspace")),
    }

    def short(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        return _world(ch, product, ep, profile, first, "STAGE2.workspace_small", "invalid",
                      Fault("stage2", "workspace_short", ch.int(1, 4096, "bytes short")))

    b["STAGE2.workspace_small"] = short
    for c in CLAUSE.values():
        if c.rule is None or c.id in b or is_ep_set(c.id) or "v1" not in c.entries:
            continue
        b[c.id] = _range_builder(c.id, "invalid") if isinstance(c.rule, InRange) else (
            _generic_invalid(c.id))
    return b


def _engines(product: str, profile: Profile) -> tuple[str, ...]:
    return profile.rule(f"PRODUCT.{product}.commMode").values


def engines_of(profile: Profile) -> tuple[str, ...]:
    """Every commMode some product accepts under `profile`, in the order the profile lists them."""
    return tuple(dict.fromkeys(m for p in PRODUCTS for m in _engines(p, profile)))


def _comm_mode(cid: str, side: str) -> Builder:
    """A V2 call whose commMode is on `side` of the clause (the run's own commMode aside)."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        engines = _engines(product, profile)
        mode: str | None = ch.choice(engines, "engine")
        if side == "invalid":
            if cid == "COMMMODE.null":
                mode = None
            elif cid == "COMMMODE.empty":
                mode = ""
            else:
                others = {m for p in PRODUCTS for m in _engines(p, profile)} - set(engines)
                mode = ch.choice(tuple(sorted(others)) + COMM_MODE_TYPOS, "not an engine here")
        budget = "first" if side == "invalid" else "boundary"
        case = build_world(ch, product, ep, profile, Pins(budget=budget), cid, side)
        return case.with_(entry="v2", comm_mode=mode)

    return build


def _product_builder(cid: str, side: str) -> Builder:
    """The world size itself is the value: the item's ep is in or out of the product's set."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        return build_world(ch, product, ep, profile, Pins(budget="first"), cid, side)

    return build


# -- valid side -----------------------------------------------------------------------------


_OUTPUT_CLAUSE_PINS = {  # valid worlds that put each output clause to work; computed
    "CALC.gmm": Pins(min_e=2),
    "CALC.unpermute": Pins(identity=True, min_e=2),  # with one expert every order is the same
    "CALC.mm": Pins(shared=True),
    "CALC.transGmmWeight": Pins(trans_gmm=True),
    "CALC.transMmWeight": Pins(shared=True, trans_mm=True),
}


def _valid_pins(cid: str) -> Pins:
    rule = CLAUSE[cid].rule
    if rule is None:
        return _OUTPUT_CLAUSE_PINS.get(cid, Pins())
    if cid.startswith(("OPTPAIR.mm", "SHAPE.H2", "SHAPE.mmY", "COUNTS.bsk_multiple")):
        return Pins(shared=True, budget="boundary")
    if cid == "OPTPAIR.transMm":
        return Pins(shared=True, trans_mm=True, budget="boundary")
    if cid.startswith("STAGE2.") or cid in ("NULL.workspaceSize", "NULL.executor"):
        return Pins(budget="compute")  # the valid side is the honest second stage: run it
    return _param_pins(getattr(rule, "param", ""), budget="boundary")


def _volume_valid(cid: str) -> Builder:
    """Exactly on the floor: every peer block (or every card) carries 2 MiB of y's rows."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        rows = CLAUSE[cid].rule.lo // (2 * VOLUME_N1)
        per_rank = ep * rows if cid == "VOLUME.A3.per_peer_min" else rows
        pins = Pins(n1=VOLUME_N1, h1=16, bsk=max(per_rank, ep), shared=False,
                    e=ch.choice((1, 2, 4), "e"), budget="boundary")
        return _world(ch, product, ep, profile, pins, cid, "valid")

    return build


def _plain_valid(cid: str) -> Builder:
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        return build_world(ch, product, ep, profile, _valid_pins(cid), cid, "valid")

    return build


# The output clauses whose valid worlds sit on the grouped matmul's tile boundaries (worlds.py:
# tile_world), and the share of those in which a rank computes more rows than a 16-bit index
# addresses. The unpermute's worlds keep identity weights (H1 = N1), which no tile world has.
TILE_CLAUSES = {"CALC.gmm": 0.25, "CALC.mm": 0.0, "CALC.transGmmWeight": 0.0,
                "CALC.transMmWeight": 0.0}


def _tile_valid(cid: str) -> Builder:
    """A world on the tile boundaries where the product's volume rules leave the size free;
    elsewhere the clause's ordinary valid world."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        pins = _valid_pins(cid)
        try:
            return tile_world(ch, product, ep, profile, pins, cid, TILE_CLAUSES[cid])
        except Unreachable:
            return build_world(ch, product, ep, profile, pins, cid, "valid")

    return build


def _valid_builders() -> dict[str, Builder]:
    b: dict[str, Builder] = {}
    for c in CLAUSE.values():
        if is_ep_set(c.id):
            b[c.id] = _product_builder(c.id, "valid")
        elif "v1" not in c.entries:
            b[c.id] = _comm_mode(c.id, "valid")
        elif c.id.startswith("VOLUME."):
            b[c.id] = _volume_valid(c.id)
        elif c.id in TILE_CLAUSES:
            b[c.id] = _tile_valid(c.id)
        elif isinstance(c.rule, InRange):
            b[c.id] = _range_builder(c.id, "valid")
        else:
            b[c.id] = _plain_valid(c.id)
    return b


INVALID = _invalid_builders()
INVALID.update({cid: _product_builder(cid, "invalid") for cid in CLAUSE if is_ep_set(cid)})
INVALID.update({c.id: _comm_mode(c.id, "invalid") for c in CLAUSE.values()
                if "v1" not in c.entries})
VALID = _valid_builders()


GROUP_TOO_LONG = "g" * 128  # RANGE.group_len: 161002 from the first stage on every product


def doctor_cases(product: str, ep: int, profile: Profile) -> tuple[Case, Case]:
    """A new runner's first two cases (ci.doctor): a valid world with a shared expert, and the
    same world with a group name of 128 characters, which every version's first stage rejects
    with 161002 on every rank."""
    valid = build_world(Seeded(1), product, ep, profile, Pins(dtype="float16", shared=True),
                        "CALC.gmm")
    reject = valid.with_(faults=(Fault("value", "group", GROUP_TOO_LONG),), side="invalid",
                         clause="RANGE.group_len")
    return valid, reject


