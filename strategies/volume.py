"""The communication-volume rules a world must honour, read off an operator's VOLUME clauses
(`VOLUME.A3.per_peer_min`, `VOLUME.A3.card_min`, `VOLUME.A3.card_max`: whichever it has).

The rules are stated on a world's routing matrix (`send[s][r*e + j]`, the rows rank s routes to
expert j of rank r): a peer block is what two ranks exchange, a card's volume what one rank
sends or receives. Both directions of the pair of MoE operators move the same blocks (the
combine sends back what the dispatch sent), so one matrix serves either; the width of a moved
row (H1 for the dispatch, N1 for the combine) is the caller's.

Valid worlds honour the volume rules of every known profile at once where one world can (the
published per-card range and the shipped per-peer floor), so a world valid under one reading is
valid under the other; where no world can (Atlas A3 at ep=64: 64 peers x 2 MiB > 100 MB), only
the chosen profile's rules apply, and the report names the profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.operator import Operator
from spec.profiles import Profile, known

PEER, CARD_MIN, CARD_MAX = "VOLUME.A3.per_peer_min", "VOLUME.A3.card_min", "VOLUME.A3.card_max"
ROW_BYTES_PER_ELEMENT = 2  # the rules count two bytes per row element


@dataclass(frozen=True)
class Volume:
    peer_min: int = 0  # bytes every peer block must carry, both directions
    card_min: int = 0  # bytes every card must send and receive
    card_max: int | None = None  # bytes no card may send or receive beyond
    strict: bool = True  # True when every profile's rules hold at once

    @property
    def constrained(self) -> bool:
        return bool(self.peer_min or self.card_min or self.card_max)

    def feasible(self, ep: int) -> bool:
        return self.card_max is None or ep * self.peer_min <= self.card_max


def _rules(op: Operator, product: str, profiles: list[Profile]) -> Volume:
    def enforced(cid: str) -> bool:
        return cid in op.clause and product in op.clause[cid].products and any(
            p.enforces(cid, product).kind == "status" for p in profiles)

    return Volume(
        peer_min=op.clause[PEER].rule.lo if enforced(PEER) else 0,
        card_min=op.clause[CARD_MIN].rule.lo if enforced(CARD_MIN) else 0,
        card_max=op.clause[CARD_MAX].rule.hi if enforced(CARD_MAX) else None,
    )


def policy(product: str, ep: int, profile: Profile) -> Volume:
    op = profile.operator
    strict = _rules(op, product, list(known(op)))
    if strict.feasible(ep):
        return strict
    own = _rules(op, product, [profile])
    return Volume(own.peer_min, own.card_min, own.card_max, strict=False)


def unmet(vol: Volume, send, e: int, width: int) -> str | None:
    """Which volume rule a world's routing matrix breaks (None when it honours them all), its
    moved rows `width` elements wide."""
    ep, row = len(send), ROW_BYTES_PER_ELEMENT * width
    blocks = [[sum(send[s][r * e:(r + 1) * e]) for r in range(ep)] for s in range(ep)]
    sent = [sum(b) * row for b in blocks]
    got = [sum(blocks[s][r] for s in range(ep)) * row for r in range(ep)]
    if vol.peer_min and min(min(b) for b in blocks) * row < vol.peer_min:
        return "a peer block under the per-peer floor"
    if vol.card_min and min(sent + got) < vol.card_min:
        return "a card under the volume floor"
    if vol.card_max is not None and max(sent + got) > vol.card_max:
        return "a card over the volume ceiling"
    return None


def min_rows_per_rank(vol: Volume, ep: int, width: int) -> int:
    """The fewest rows a rank can send (spread over its peers) and honour the volume rules."""
    row = ROW_BYTES_PER_ELEMENT * width
    return max(ep * -(-vol.peer_min // row), -(-vol.card_min // row), 1)
