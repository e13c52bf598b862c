"""For every clause: a case that breaks it alone (invalid side) and one that sits on its valid
side, as close to the edge as the rule allows.

Most builders follow from the rule's kind (a null pointer, a dtype, a rank, a range); the rest
are written out per clause. Ranges are read from the rule, so the boundary values (H1 = 65535 and
65536, K = 2, 8 and 1, 9, ...) are never restated here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from ops.alltoallv_gmm.case import Case, Fault
from ops.alltoallv_gmm.clauses import CLAUSE, PRODUCTS, SHIPPED_2026
from ops.alltoallv_gmm.params import FLOAT_DTYPES
from ops.alltoallv_gmm.tile_worlds import tile_world
from ops.alltoallv_gmm.worlds import Pins, build_world, world_bytes
from spec.profiles import Profile
from spec.rules import DtypeMatches, InRange
from strategies.choices import Choices, Unreachable
from strategies.patterns import (
    COMM_MODE_TYPOS,
    dimension_change,
    is_ep_set,
    range_values,
    rule_fault,
)
from strategies.volume import policy

__all__ = ["INVALID", "VALID", "doctor_cases", "engines_of", "tolerated", "world_bytes"]

MM_PARAMS = ("mmX", "mmWeight", "mmY")
MIB = 1 << 20

# Violations that cannot come alone: a card below 2 MiB always has a peer below 2 MiB; with
# ep >= 8, e > 32 means e*ep > 256 and e*ep > 256 means e > 32 (Atlas A3 knows no ep below 8).
IMPLIED: dict[str, frozenset[str]] = {
    "VOLUME.A3.card_min": frozenset({"VOLUME.A3.per_peer_min"}),
    "RANGE.e": frozenset({"RANGE.e_ep"}),
    # e * ep > 256 at ep = 64 needs e >= 5, whose GMM groups (4 experts each) pass the cap.
    "RANGE.e_ep": frozenset({"RANGE.e", "RANGE.group_num"}),
    # "" is no engine on any product.
    "COMMMODE.empty": frozenset({"PRODUCT.A3.commMode", "PRODUCT.910_95.commMode"}),
}

Builder = Callable[[Choices, str, int, Profile], Case]


def tolerated(case: Case, profile: Profile, extra: set[str]) -> set[str]:
    """Of the clauses `case` breaks besides its own, those that still make it more than a
    single-clause case: the ones its violation implies, a check only a later version has
    (where this profile accepts it) and, where no world honours every profile's volume rules,
    the volume rules this profile accepts, are no second violation."""
    extra = extra - IMPLIED.get(case.clause, frozenset())
    extra = {c for c in extra if not (CLAUSE[c].source == SHIPPED_2026 and
                                      profile.enforces(c, case.product).kind == "accepted")}
    if not policy(case.product, case.ep, profile).strict:
        extra = {c for c in extra if not (c.startswith("VOLUME.")
                                          and profile.enforces(c, case.product).kind == "accepted")}
    return extra


def _param_pins(param: str, **extra) -> Pins:
    """A world in which `param` is passed at all."""
    if param in MM_PARAMS:
        extra.setdefault("shared", True)
    if param == "permuteOut":
        extra.setdefault("flag", True)
    return Pins(**extra)


def _world(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins, clause: str,
           side: str, *faults: Fault) -> Case:
    case = build_world(ch, product, ep, profile, pins, clause, side)
    return case.with_(faults=tuple(faults)) if faults else case


# -- ranges: the knob that sets each ranged quantity -----------------------------------------


def _range_pins(quantity: str, value: int, ep: int, side: str, profile: Profile
                ) -> tuple[Pins, tuple[Fault, ...]]:
    budget = "boundary"
    if quantity == "H1":
        return Pins(h1=value, budget=budget), ()
    if quantity == "N1":
        return Pins(n1=value, budget=budget), ()
    if quantity == "gmmWeight.dim1":  # a range read off dim 1 is N1's only when transposed
        return Pins(n1=value, trans_gmm=True, budget=budget), ()
    if quantity == "H2":
        return Pins(h2=value, budget=budget), ()
    if quantity == "N2":
        return Pins(n2=value, budget=budget), ()
    if quantity == "e":
        return Pins(e=value, wide=True, budget=budget), ()
    if quantity == "e*ep":  # the e whose product with ep is nearest the limit, on `side`
        if side == "valid":  # as near as e <= 32 allows (256 itself is out of reach below ep=8)
            e = value if value <= 1 else min(value // ep, profile.rule("RANGE.e").max_valid)
        else:
            e = value if value <= 1 else math.ceil(value / ep)
        return Pins(e=e, wide=True, budget=budget), ()
    if quantity == "K":
        return Pins(k=value, budget=budget), ()
    if quantity == "BSK":  # H1 = 1 keeps the largest BSK within the A3 card volume
        return Pins(bsk=value, h1=1 if value > 1 << 20 else None, shared=False,
                    budget=budget), ()
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
        if fault is None and isinstance(rule, DtypeMatches):
            case = _world(ch, product, ep, profile, _param_pins(rule.param, budget="first"),
                          cid, "invalid")
            other = next(d for d in FLOAT_DTYPES if d != case.dtype)
            return case.with_(faults=(Fault("dtype", rule.param, other),))
        if fault is None:
            raise KeyError(cid)
        param = getattr(rule, "param", "")
        return _world(ch, product, ep, profile, _param_pins(param, budget="first"), cid,
                      "invalid", fault)

    return build


def _resize(cid: str, param: str, dim: Callable[[Case], int], size: Callable[[Case], int],
            **pins) -> Builder:
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


def _peer_floor(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    """Each rank (or just one) sends nothing to its next peer: one peer block under the floor,
    seen by its sender as a send and by its receiver as a receive, while every card still moves
    more than 2 MiB. With one rank only, its receiver's own sends are all above the floor: a
    check of the send side alone misses the receiver's error."""
    case = build_world(ch, product, ep, profile, Pins(budget="compute"),
                       "VOLUME.A3.per_peer_min", "invalid")
    e = case.e
    send = [list(row) for row in case.send]
    senders = [ch.int(0, ep - 1, "the rank")] if ch.bool("one rank only") else range(ep)
    for s in senders:
        nxt = (s + 1) % ep
        send[s][nxt * e:(nxt + 1) * e] = [0] * e
    return case.with_(send=tuple(tuple(r) for r in send), shared=None, trans_mm_weight=False)


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


def _group_num(side: str) -> Builder:
    """More GMM groups than the tiling's cap (ep 256 with one expert on Ascend 950), or a world
    within it, as close to the cap as e allows."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        cap = profile.rule("RANGE.group_num").hi
        if side == "invalid":
            if ep <= cap:
                raise Unreachable(f"at most {cap} groups: ep={ep} with one expert each is within")
            return build_world(ch, product, ep, profile, Pins(e=1, budget="first"),
                               "RANGE.group_num", side)
        e = max(1, min(cap // ep, profile.rule("RANGE.e_ep").max_valid // ep, 4))
        return build_world(ch, product, ep, profile, Pins(e=e, budget="boundary"),
                           "RANGE.group_num", side)

    return build


def _card_rows(limit: int, h1: int) -> int:
    return limit // (2 * h1)


ONE_CARD_SIDES = ("receive", "send", "both")  # which side of a card a volume case breaks


def _one_card(ch: Choices, product: str, ep: int, profile: Profile, cid: str, h1: int,
              side: str, odd: int, rest: int) -> Case:
    """One card (drawn) off the volume rule on one side only: every block it receives (or
    sends) holds `odd` rows, every other peer block `rest`, so its other side and every other
    card stay within the rule. A check of one direction alone passes such a world."""
    if ep < 2:
        raise Unreachable("one card off the rule needs a peer")
    case = build_world(ch, product, ep, profile, Pins(h1=h1, shared=False, budget="first"), cid,
                       "invalid")
    card = ch.int(0, ep - 1, "the card off the rule")
    e = case.e

    def block(s: int, r: int) -> list[int]:
        rows = odd if (r if side == "receive" else s) == card else rest
        q, extra = divmod(rows, e)
        return [q + (1 if j < extra else 0) for j in range(e)]

    send = tuple(tuple(v for r in range(ep) for v in block(s, r)) for s in range(ep))
    return case.with_(send=send)


def _card_min(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    side = ch.choice(ONE_CARD_SIDES, "which side of a card is under the floor")
    if side != "both":
        h1 = 1024
        floor = -(-CLAUSE["VOLUME.A3.card_min"].rule.lo // (2 * h1))
        return _one_card(ch, product, ep, profile, "VOLUME.A3.card_min", h1, side,
                         ch.int(1, 3, "rows per block of that side"), -(-floor // max(ep - 1, 1)))
    h1 = ch.choice((16, 64, 1024), "H1")
    rows = ch.int(1, 3, "rows per peer")
    if ep * rows * 2 * h1 >= CLAUSE["VOLUME.A3.card_min"].rule.lo:
        raise Unreachable("the card would reach the floor")
    return _world(ch, product, ep, profile, Pins(h1=h1, peer_rows=rows, shared=False,
                  budget="boundary"), "VOLUME.A3.card_min", "invalid")


def _card_max(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
    side = ch.choice(ONE_CARD_SIDES, "which side of a card is over the ceiling")
    h1 = ch.choice((4096, 16384), "H1")
    if side != "both":
        ceiling = _card_rows(CLAUSE["VOLUME.A3.card_max"].rule.hi, h1)
        peer = -(-CLAUSE["VOLUME.A3.per_peer_min"].rule.lo // (2 * h1))
        odd = ceiling // ep + ch.int(1, 16, "rows over, per block")
        # Where the per-peer floor leaves no room (ep = 64) only both sides can go over.
        if odd >= peer and odd + (ep - 1) * peer <= ceiling and ep * peer <= ceiling:
            return _one_card(ch, product, ep, profile, "VOLUME.A3.card_max", h1, side, odd, peer)
    total = _card_rows(CLAUSE["VOLUME.A3.card_max"].rule.hi, h1) + ch.int(1, 64, "rows over")
    return _world(ch, product, ep, profile, Pins(h1=h1, card_rows=total, shared=False,
                  budget="boundary"), "VOLUME.A3.card_max", "invalid")


def _invalid_builders() -> dict[str, Builder]:
    first = Pins(budget="first")
    b: dict[str, Builder] = {
        "GROUP.empty": _fault("GROUP.empty", first, Fault("value", "group", "")),
        "OPTPAIR.mm": _mm_pair,
        "OPTPAIR.mmY": _fault("OPTPAIR.mmY", Pins(shared=True, budget="first"),
                              Fault("null", "mmY")),
        "OPTPAIR.mmY_unexpected": _unrequested_mm_y,
        "PAIR.permuteOut.required": _fault("PAIR.permuteOut.required",
                                           Pins(flag=True, budget="first"),
                                           Fault("null", "permuteOut")),
        "PAIR.permuteOut.unexpected": _fault("PAIR.permuteOut.unexpected",
                                             Pins(flag=False, budget="boundary"),
                                             Fault("present", "permuteOut")),
        "COUNTS.send_empty": _fault("COUNTS.send_empty", first,
                                    Fault("counts", "sendCounts", "empty")),
        "COUNTS.recv_empty": _fault("COUNTS.recv_empty", first,
                                    Fault("counts", "recvCounts", "empty")),
        "SHAPE.H1": _resize("SHAPE.H1", "gmmWeight", lambda c: 2 if c.trans_gmm_weight else 1,
                            lambda c: c.h1),
        "SHAPE.gmmY.N1": _resize("SHAPE.gmmY.N1", "gmmY", lambda c: 1, lambda c: c.n1),
        "SHAPE.H2": _resize("SHAPE.H2", "mmWeight", lambda c: 1 if c.trans_mm_weight else 0,
                            lambda c: c.shared.h2),
        "SHAPE.mmY.BS": _resize("SHAPE.mmY.BS", "mmY", lambda c: 0, lambda c: min(c.shared.bs)),
        "SHAPE.mmY.N2": _resize("SHAPE.mmY.N2", "mmY", lambda c: 1, lambda c: c.shared.n2),
        "SHAPE.permuteOut.rows": _resize("SHAPE.permuteOut.rows", "permuteOut", lambda c: 0,
                                         lambda c: min(c.a(r) for r in range(c.ep))),
        "SHAPE.permuteOut.H1": _resize("SHAPE.permuteOut.H1", "permuteOut", lambda c: 1,
                                       lambda c: c.h1),
        "COUNTS.send_len": _fault("COUNTS.send_len", first,
                                  Fault("counts", "sendCounts", "append_zero")),
        "COUNTS.recv_len": _fault("COUNTS.recv_len", first,
                                  Fault("counts", "recvCounts", "append_zero")),
        "COUNTS.send_sum": _resize("COUNTS.send_sum", "gmmX", lambda c: 0,
                                   lambda c: min(c.bsk(r) for r in range(c.ep))),
        "COUNTS.recv_sum": _resize("COUNTS.recv_sum", "gmmY", lambda c: 0, lambda c: 0,
                                   flag=False),
        "COUNTS.send_nonneg": _fault("COUNTS.send_nonneg", Pins(e=2, budget="first"),
                                     Fault("counts", "sendCounts", "negative")),
        "COUNTS.recv_nonneg": _fault("COUNTS.recv_nonneg", Pins(e=2, budget="first"),
                                     Fault("counts", "recvCounts", "negative")),
        "COUNTS.bsk_multiple": _bsk_not_multiple,
        "RANGE.group_num": _group_num("invalid"),
        "OPTPAIR.transMm": _fault("OPTPAIR.transMm",
                                  Pins(shared=False, trans_mm=True, budget="boundary")),
        "VOLUME.A3.per_peer_min": _peer_floor,
        "VOLUME.A3.card_min": _card_min,
        "VOLUME.A3.card_max": _card_max,
        "COMM.epWorldSize": _ep_world_size,
        "CONSIST.counts": _fault("CONSIST.counts", Pins(e=2, budget="first"),
                                 Fault("counts", "recvCounts", "shift")),
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
        if c.rule is None or c.id in b or is_ep_set(c.id):
            continue
        b[c.id] = _range_builder(c.id, "invalid") if isinstance(c.rule, InRange) else (
            _generic_invalid(c.id))
    return b


def _engines(product: str, profile: Profile) -> tuple[str, ...]:
    return profile.rule(f"PRODUCT.{product}.commMode").values


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
        case = build_world(ch, product, ep, profile, Pins(budget="first" if side == "invalid"
                                                          else "boundary"), cid, side)
        return case.with_(entry="v2", comm_mode=mode)

    return build


def engines_of(profile: Profile) -> tuple[str, ...]:
    """Every commMode some product accepts under `profile`, in the order the profile lists them."""
    return tuple(dict.fromkeys(m for p in PRODUCTS for m in _engines(p, profile)))


def _product_builder(cid: str, side: str) -> Builder:
    """The world size itself is the value: the item's ep is in or out of the product's set."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        return build_world(ch, product, ep, profile, Pins(budget="first"), cid, side)

    return build


# -- valid side -----------------------------------------------------------------------------


_OUTPUT_CLAUSE_PINS = {  # valid worlds that put each output clause to work; computed
    "CALC.permute": Pins(flag=True, min_e=2),  # with one expert every order is the same
    "CALC.mm": Pins(shared=True),
    "CALC.transGmmWeight": Pins(trans_gmm=True),
    "CALC.transMmWeight": Pins(shared=True, trans_mm=True),
}


def _valid_pins(cid: str) -> Pins:
    rule = CLAUSE[cid].rule
    if rule is None:
        return _OUTPUT_CLAUSE_PINS.get(cid, Pins())
    param = getattr(rule, "param", "")
    if cid.startswith(("OPTPAIR.mm", "SHAPE.H2", "SHAPE.mmY")):
        return Pins(shared=True, budget="boundary")
    if cid.startswith(("PAIR.permuteOut", "SHAPE.permuteOut")):
        return _param_pins("permuteOut", budget="boundary")
    if cid == "OPTPAIR.transMm":
        return Pins(shared=True, trans_mm=True, budget="boundary")
    if cid.startswith("STAGE2.") or cid in ("NULL.workspaceSize", "NULL.executor"):
        return Pins(budget="compute")  # the valid side is the honest second stage: run it
    return _param_pins(param, budget="boundary")


def _volume_valid(cid: str) -> Builder:
    """Exactly on the floor or the ceiling of the volume rule."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        if cid == "VOLUME.A3.per_peer_min":
            h1 = ch.choice((16384, 8192, 32768), "H1")
            pins = Pins(h1=h1, peer_rows=CLAUSE[cid].rule.lo // (2 * h1), shared=False)
        elif cid == "VOLUME.A3.card_min":
            floor = CLAUSE[cid].rule.lo
            rows = max(1, floor // (ep * 2 * 32768))
            pins = Pins(h1=floor // (ep * 2 * rows), peer_rows=rows, shared=False)
        else:  # e a power of two: the balanced matrix then fills the ceiling exactly both ways
            h1 = 4096
            pins = Pins(h1=h1, card_rows=_card_rows(CLAUSE[cid].rule.hi, h1), shared=False,
                        e=ch.choice((1, 2, 4), "e"))
        return _world(ch, product, ep, profile, Pins(**{**pins.__dict__, "budget": "boundary"}),
                      cid, "valid")

    return build


# Where a rank receives more rows than a 16-bit index addresses: a fault there misplaces rows,
# so the permute clause draws such worlds (a quarter of its tile worlds).
INDEX_SHARE = {"CALC.permute": 0.25}


def _tile_valid(cid: str) -> Builder:
    """A world on the tile boundaries (strategies/tiles.py) where the product's volume rules
    leave the size free; elsewhere the clause's ordinary valid world."""

    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        pins = _valid_pins(cid)
        try:
            return tile_world(ch, product, ep, profile, pins, cid,
                              index_share=INDEX_SHARE.get(cid, 0.0))
        except Unreachable:
            return build_world(ch, product, ep, profile, pins, cid, "valid")

    return build


def _plain_valid(cid: str) -> Builder:
    def build(ch: Choices, product: str, ep: int, profile: Profile) -> Case:
        return build_world(ch, product, ep, profile, _valid_pins(cid), cid, "valid")

    return build


def _valid_builders() -> dict[str, Builder]:
    b: dict[str, Builder] = {}
    for c in CLAUSE.values():
        if is_ep_set(c.id):
            b[c.id] = _product_builder(c.id, "valid")
        elif "v1" not in c.entries:
            b[c.id] = _comm_mode(c.id, "valid")
        elif c.id == "RANGE.group_num":
            b[c.id] = _group_num("valid")
        elif c.id.startswith("VOLUME."):
            b[c.id] = _volume_valid(c.id)
        elif c.id in _OUTPUT_CLAUSE_PINS or c.id == "CALC.gmm":
            b[c.id] = _tile_valid(c.id)
        elif isinstance(c.rule, InRange) and c.rule.quantity in (
                "H1", "N1", "H2", "N2", "e", "e*ep", "K", "BS", "BSK", "len.group"):
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
    same world with a group name of 128 characters, which every product's first stage rejects
    with 161002 on every rank."""
    from strategies.choices import Seeded

    valid = build_world(Seeded(1), product, ep, profile, Pins(dtype="float16", shared=True),
                        "CALC.gmm")
    reject = valid.with_(faults=(Fault("value", "group", GROUP_TOO_LONG),), side="invalid",
                         clause="RANGE.group_len")
    return valid, reject
