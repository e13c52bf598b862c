"""Valid EP worlds: consistent send matrices, every rank's arguments derived from them.

Small worlds by default: zero counts, uneven splits and a rank that receives nothing; on Atlas A3
worlds large enough for the volume rules (`strategies.volume`). `Pins` fix what a boundary or a
violation needs (an H1, a BSK, a K, ...); everything else is drawn.

"A rank that sends nothing" is read as a rank that sends nothing to some peers: a rank with
BSK = 0 breaks RANGE.BSK (BSK in (0, 52428800)) and is drawn only as that clause's violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ops.alltoallv_gmm.case import Case, Shared
from ops.alltoallv_gmm.params import FLOAT_DTYPES
from ops.moe.case import as_matrix
from spec.profiles import Profile
from strategies import tier as tiers
from strategies.choices import Choices, Unreachable
from strategies.volume import ROW_BYTES_PER_ELEMENT, Volume, min_rows_per_rank, policy, unmet
from strategies.worlds import balanced_matrix, shared_bs, small_matrix

SMALL_H1 = (16, 1, 2, 3, 7, 32, 64, 100, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
VOLUME_H1 = (16384, 8192, 32768, 65535, 12288, 20000, 4096)
SMALL_N = (8, 1, 2, 3, 5, 16, 31, 64)
SMALL_H2 = (16, 1, 2, 7, 32, 64, 128, 300)


@dataclass(frozen=True)
class Pins:
    e: int | None = None
    h1: int | None = None
    n1: int | None = None
    bsk: int | None = None  # every rank sends exactly this many rows, spread evenly
    k: int | None = None  # every rank's K = BSK // BS (a shared expert)
    h2: int | None = None
    n2: int | None = None
    shared: bool | None = None
    flag: bool | None = None
    trans_gmm: bool | None = None
    trans_mm: bool | None = None
    dtype: str | None = None
    peer_rows: int | None = None  # rows of every peer block (volume boundaries)
    card_rows: int | None = None  # every rank sends and receives exactly this many rows
    min_bsk: int = 1
    min_e: int = 1
    wide: bool = False  # may use as many experts as RANGE.e allows
    # "compute": both stages run (memory permitting); "boundary": only while the world is
    # small (the tier's boundary budget); "first": the first stage alone (validation).
    budget: str = "compute"


def world_bytes(case: Case) -> int:
    """Host bytes a world needs to compute and check its outputs: per rank gmmX, and for the
    received rows the wire copy, the workspace buffers, permuteOut and the oracle's copy."""
    total = 0
    for r in range(case.ep):
        a, bsk = case.a(r), case.bsk(r)
        total += 2 * case.h1 * (bsk + 5 * a) + 2 * case.e * case.h1 * case.n1 + 12 * a * case.n1
        if case.shared is not None:
            bs, h2, n2 = case.shared.bs[r], case.shared.h2, case.shared.n2
            total += 2 * (bs * h2 + h2 * n2) + 12 * bs * n2
    return total


def volume_matrix(rng: np.random.Generator, ep: int, e: int, h1: int, vol: Volume,
                  pins: Pins) -> list[list[int]]:
    row = ROW_BYTES_PER_ELEMENT * h1
    low = max(math.ceil(vol.peer_min / row), math.ceil(vol.card_min / (ep * row)))
    high = math.inf if vol.card_max is None else vol.card_max // (ep * row)
    if pins.peer_rows is not None:
        low = high = pins.peer_rows
    if pins.card_rows is not None:
        return balanced_matrix(ep, e, pins.card_rows)
    if low > high:
        raise Unreachable(f"no block of H1={h1} rows fits the volume rules at ep={ep}")
    extra = min(high - low, max(1, low // 4)) if high != low else 0
    # every (sender, receiver) block: a total in [low, low + extra], split over the e experts
    totals = low + rng.integers(0, extra + 1, (ep, ep))
    cuts = np.sort(rng.integers(0, totals[..., None] + 1, (ep, ep, e - 1)), axis=-1)
    edges = np.concatenate([np.zeros((ep, ep, 1), int), cuts, totals[..., None]], axis=-1)
    return np.diff(edges, axis=-1).reshape(ep, ep * e).astype(int).tolist()


def build_world(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins | None = None,
                clause: str = "", side: str = "valid") -> Case:
    pins = pins or Pins()
    tier = tiers.current()
    vol = policy(product, ep, profile)
    e_max, e_ep_max = profile.rule("RANGE.e").max_valid, profile.rule("RANGE.e_ep").max_valid
    e_cap = min(e_max, e_ep_max // ep) if pins.wide else min(4, e_ep_max // ep)
    e = pins.e if pins.e is not None else ch.int(min(pins.min_e, e_cap), max(1, e_cap), "e")
    dtype = pins.dtype or ch.choice(FLOAT_DTYPES, "dtype")
    flag = pins.flag if pins.flag is not None else not ch.bool("permuteOutFlag=false")
    trans_gmm = pins.trans_gmm if pins.trans_gmm is not None else ch.bool("transGmmWeight")
    wants_shared = pins.k is not None or pins.h2 is not None or pins.n2 is not None
    shared = pins.shared if pins.shared is not None else (wants_shared or ch.bool("shared"))
    trans_mm = pins.trans_mm if pins.trans_mm is not None else (shared and ch.bool("transMm"))
    if pins.h1 is not None:
        h1 = pins.h1
    elif vol.constrained:
        h1 = ch.choice(VOLUME_H1, "H1")
    else:
        cap = max(16, tier.max_h1 // max(1, ep // 8))
        h1 = ch.choice(tuple(h for h in SMALL_H1 if h <= cap), "H1")
    n1 = pins.n1 if pins.n1 is not None else ch.choice(SMALL_N, "N1")
    if e <= 0:
        raise Unreachable("e = 0 leaves no counts to send: BSK > 0 breaks too")
    rng = np.random.default_rng(ch.int(0, 2**32 - 1, "send matrix seed"))
    min_bsk = max(pins.min_bsk, 2 if shared else 1, (pins.k or 0))
    bsk = pins.bsk
    if pins.k is not None and bsk is None:  # K = BSK // BS exactly: BSK a multiple of BS
        floor = min_rows_per_rank(vol, ep, h1) if vol.constrained else 1
        bsk = pins.k * max(-(-floor // max(pins.k, 1)), ch.int(1, 4, "BS for the pinned K"))
    if bsk is not None:
        send = balanced_matrix(ep, e, bsk)
        if vol.constrained and unmet(vol, send, e, h1):
            raise Unreachable(f"BSK={bsk} at H1={h1} leaves {unmet(vol, send, e, h1)}")
    elif vol.constrained:
        if h1 <= 0:
            raise Unreachable("the volume rules need H1 > 0")
        send = volume_matrix(rng, ep, e, h1, vol, pins)
    else:
        silent = ch.int(0, ep - 1, "rank receiving nothing") if ch.bool("silent rank") else None
        zero_share = ch.choice((0.3, 0.0, 0.7), "share of zero counts")
        send = small_matrix(rng, ep, e, tier.max_count, min_bsk, silent, zero_share)
    shared_desc = None
    if shared:
        h2 = pins.h2 if pins.h2 is not None else ch.choice(SMALL_H2, "H2")
        n2 = pins.n2 if pins.n2 is not None else ch.choice(SMALL_N, "N2")
        # A version that rejects a BSK with a remainder (COUNTS.bsk_multiple) gets divisors.
        divides = profile.enforces("COUNTS.bsk_multiple", product).kind == "status"
        shared_desc = Shared(shared_bs(rng, send, pins.k, divides), h2, n2)
    case = Case(
        product=product, ep=ep, e=e, h1=h1, n1=n1,
        send=as_matrix(send), dtype=dtype,
        shared=shared_desc, trans_gmm_weight=trans_gmm, trans_mm_weight=trans_mm,
        permute_out_flag=flag, seed=ch.int(0, 2**31 - 1, "data seed"), clause=clause, side=side,
    )
    if pins.budget == "compute":
        return case  # computed whenever the runner's memory budget allows
    small = (pins.budget == "boundary" and ep <= tier.boundary_max_ep
             and world_bytes(case) <= tier.small_world)
    return case.with_(stage="both" if small else "first")
