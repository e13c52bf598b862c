"""Valid EP worlds of the combine: a consistent dispatch matrix, every rank's arguments derived
from it (ops/gmm_alltoallv/case.py).

Small worlds by default, drawn with the engine's matrix draws (strategies/worlds.py): zero
counts, uneven splits, and a rank whose experts receive nothing (its gmmX has no rows and it
sends nothing back). Every rank gets rows back (BSK > 0: RANGE.BSK). Where a profile enforces
Atlas A3's volume rules (strategies/volume.py, rows N1 wide: y's rows travel), worlds are
balanced and large enough. `Pins` fix what a boundary or a violation needs; the rest is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.alltoallv_gmm.tile_worlds import tile_fields
from ops.alltoallv_gmm.worlds import Pins as DispatchPins
from ops.gmm_alltoallv.case import Case, Shared
from ops.gmm_alltoallv.params import FLOAT_DTYPES
from ops.moe.case import as_matrix
from spec.profiles import Profile, known
from strategies import tier as tiers
from strategies.choices import Choices, Unreachable
from strategies.volume import min_rows_per_rank, policy, unmet
from strategies.worlds import balanced_matrix, shared_bs, small_matrix

SMALL_H1 = (16, 1, 2, 3, 7, 32, 64, 100, 128, 256, 512, 1024, 2048, 4096, 8192)
SMALL_N = (8, 1, 2, 3, 5, 16, 31, 64)
SMALL_H2 = (16, 1, 2, 7, 32, 64, 128, 300)
IDENTITY_H = (16, 1, 2, 8, 64, 100, 256)  # H1 = N1 of an identity world: e H1 x H1 weights


@dataclass(frozen=True)
class Pins:
    e: int | None = None
    h1: int | None = None
    n1: int | None = None
    bsk: int | None = None  # every rank gets exactly this many rows back, spread evenly
    k: int | None = None  # every rank's K = BSK // BS (a shared expert)
    h2: int | None = None
    n2: int | None = None
    shared: bool | None = None
    trans_gmm: bool | None = None
    trans_mm: bool | None = None
    dtype: str | None = None
    identity: bool = False  # identity weights (H1 == N1): y is the routed rows, exactly
    min_bsk: int = 1
    min_e: int = 1
    wide: bool = False  # may use as many experts as RANGE.e allows
    # "compute": both stages run (memory permitting); "boundary": only while the world is
    # small (the tier's boundary budget); "first": the first stage alone (validation).
    budget: str = "compute"


def world_bytes(case: Case) -> int:
    """Host bytes a world needs to compute and check its outputs: per rank gmmX, its weights,
    the two gmmY-sized workspace buffers, y with the oracle's float64 copy, and the float64
    expert weights the oracle regenerates for the rows coming back."""
    total = 0
    weight = case.h1 * case.n1
    for r in range(case.ep):
        a, bsk = case.a(r), case.bsk(r)
        total += 2 * case.h1 * a + 2 * case.e * weight + 4 * case.n1 * a + 12 * case.n1 * bsk
        total += 8 * weight * (len(case.dispatch[r]) - case.dispatch[r].count(0))
        if case.shared is not None:
            bs, h2, n2 = case.shared.bs[r], case.shared.h2, case.shared.n2
            total += 2 * (bs * h2 + h2 * n2) + 12 * bs * n2
    return total


def _matrix(ch: Choices, rng: np.random.Generator, product: str, ep: int, e: int, n1: int,
            pins: Pins, profile: Profile, min_bsk: int) -> list[list[int]]:
    vol = policy(product, ep, profile)
    tier = tiers.current()
    if pins.bsk is not None:
        send = balanced_matrix(ep, e, pins.bsk)
    elif vol.constrained:
        if n1 <= 0:
            raise Unreachable("the volume rules need N1 > 0")
        rows = max(min_rows_per_rank(vol, ep, n1), min_bsk)
        send = balanced_matrix(ep, e, rows + ch.int(0, ep * e, "rows over the floor"))
    else:
        silent = ch.int(0, ep - 1, "rank receiving nothing") if ch.bool("silent rank") else None
        zero_share = ch.choice((0.3, 0.0, 0.7), "share of zero counts")
        return small_matrix(rng, ep, e, tier.max_count, min_bsk, silent, zero_share)
    if vol.constrained and unmet(vol, send, e, n1):
        raise Unreachable(f"{unmet(vol, send, e, n1)} at N1={n1}")
    return send


def remainder_rejected(profile: Profile, product: str) -> bool:
    """Whether some version (or some reading of one) rejects a BSK that is no multiple of BS:
    then valid worlds draw divisors, so a world valid under one version is valid under all."""
    return any(r.kind == "status" for p in known(profile.operator)
               for r in p.readings("COUNTS.bsk_multiple", product))


def build_world(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins | None = None,
                clause: str = "", side: str = "valid") -> Case:
    pins = pins or Pins()
    tier = tiers.current()
    e_max, e_ep_max = profile.rule("RANGE.e").max_valid, profile.rule("RANGE.e_ep").max_valid
    e_cap = min(e_max, e_ep_max // ep) if pins.wide else min(4, e_ep_max // ep)
    e = pins.e if pins.e is not None else ch.int(min(pins.min_e, e_cap), max(1, e_cap), "e")
    if e <= 0:
        raise Unreachable("e = 0 leaves no counts to send: BSK > 0 breaks too")
    dtype = pins.dtype or ch.choice(FLOAT_DTYPES, "dtype")
    trans_gmm = pins.trans_gmm if pins.trans_gmm is not None else ch.bool("transGmmWeight")
    wants_shared = pins.k is not None or pins.h2 is not None or pins.n2 is not None
    shared = pins.shared if pins.shared is not None else (wants_shared or ch.bool("shared"))
    trans_mm = pins.trans_mm if pins.trans_mm is not None else (shared and ch.bool("transMm"))
    if pins.identity:
        h1 = n1 = pins.h1 if pins.h1 is not None else ch.choice(IDENTITY_H, "H1 = N1")
    else:
        cap = max(16, tier.max_h1 // max(1, ep // 8))
        h1 = pins.h1 if pins.h1 is not None else ch.choice(
            tuple(h for h in SMALL_H1 if h <= cap), "H1")
        n1 = pins.n1 if pins.n1 is not None else ch.choice(SMALL_N, "N1")
    rng = np.random.default_rng(ch.int(0, 2**32 - 1, "send matrix seed"))
    min_bsk = max(pins.min_bsk, 2 if shared else 1, pins.k or 0)
    bsk = pins.bsk
    if pins.k is not None and bsk is None:  # K = BSK // BS exactly: BSK a multiple of BS
        bsk = pins.k * ch.int(1, 4, "BS for the pinned K")
    send = _matrix(ch, rng, product, ep, e, n1, Pins(**{**pins.__dict__, "bsk": bsk}), profile,
                   min_bsk)
    shared_desc = None
    if shared:
        h2 = pins.h2 if pins.h2 is not None else ch.choice(SMALL_H2, "H2")
        n2 = pins.n2 if pins.n2 is not None else ch.choice(SMALL_N, "N2")
        bs = shared_bs(rng, send, pins.k, remainder_rejected(profile, product))
        shared_desc = Shared(bs, h2, n2)
    case = Case(
        product=product, ep=ep, e=e, h1=h1, n1=n1,
        dispatch=as_matrix(send), dtype=dtype,
        shared=shared_desc, trans_gmm_weight=trans_gmm, trans_mm_weight=trans_mm,
        weights="identity" if pins.identity else "random",
        seed=ch.int(0, 2**31 - 1, "data seed"), clause=clause, side=side,
    )
    if pins.budget == "compute":
        return case  # computed whenever the runner's memory budget allows
    small = (pins.budget == "boundary" and ep <= tier.boundary_max_ep
             and world_bytes(case) <= tier.small_world)
    return case.with_(stage="both" if small else "first")


def tile_world(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins, clause: str,
               index_share: float = 0.0) -> Case:
    """A valid, computed world on the tile boundaries of the grouped matmul the combine shares
    with the dispatch (ops/alltoallv_gmm/tile_worlds.py): the dispatch's tile world, whose hot
    rank's experts receive groups past the kernel's M tiles, with H1, N1, e and the shared
    expert on its K, N and chunk tables, sent back. Raises Unreachable where the volume rules
    decide the world's size (Atlas A3), or where the world is not small in this tier."""
    fields = tile_fields(
        ch, product, ep, profile,
        DispatchPins(dtype=pins.dtype, flag=True, trans_gmm=pins.trans_gmm, shared=pins.shared,
                    trans_mm=pins.trans_mm), index_share)
    fields["dispatch"] = fields.pop("send")
    del fields["permute_out_flag"]
    case = Case(**fields, clause=clause, side="valid")
    if world_bytes(case) > tiers.current().small_world:
        raise Unreachable(f"a tile world of {world_bytes(case) >> 20} MiB is not small in this tier")
    return case
