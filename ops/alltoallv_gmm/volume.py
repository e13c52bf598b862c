"""The communication-volume rules a world must honour, read off the VOLUME clauses of `spec`.

Valid worlds honour the volume rules of every known profile at once where one world can (the
published per-card range and the shipped per-peer floor), so a world valid under one reading is
valid under the other; where no world can (Atlas A3 at ep=64: 64 peers x 2 MiB > 100 MB), only
the chosen profile's rules apply, and the report names the profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from ops.alltoallv_gmm.clauses import CLAUSE
from spec.profiles import Profile, known

PEER, CARD_MIN, CARD_MAX = "VOLUME.A3.per_peer_min", "VOLUME.A3.card_min", "VOLUME.A3.card_max"
ROW_BYTES_PER_H1 = 2  # the rule counts two bytes per row element


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


def _rules(product: str, profiles: list[Profile]) -> Volume:
    def enforced(cid: str) -> bool:
        return product in CLAUSE[cid].products and any(
            p.enforces(cid, product).kind == "status" for p in profiles)

    return Volume(
        peer_min=CLAUSE[PEER].rule.lo if enforced(PEER) else 0,
        card_min=CLAUSE[CARD_MIN].rule.lo if enforced(CARD_MIN) else 0,
        card_max=CLAUSE[CARD_MAX].rule.hi if enforced(CARD_MAX) else None,
    )


def policy(product: str, ep: int, profile: Profile) -> Volume:
    strict = _rules(product, list(known(profile.operator)))
    if strict.feasible(ep):
        return strict
    own = _rules(product, [profile])
    return Volume(own.peer_min, own.card_min, own.card_max, strict=False)


def unmet(vol: Volume, send, e: int, h1: int) -> str | None:
    """Which volume rule a world's send matrix breaks (None when it honours them all)."""
    ep, row = len(send), ROW_BYTES_PER_H1 * h1
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


def min_rows_per_rank(vol: Volume, ep: int, h1: int) -> int:
    """The fewest rows a rank can send (spread over its peers) and honour the volume rules."""
    row = ROW_BYTES_PER_H1 * h1
    return max(ep * -(-vol.peer_min // row), -(-vol.card_min // row), 1)
