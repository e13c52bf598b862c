"""Computed worlds on the tile boundaries of a kernel (spec/tiles.py), cheap enough for the PR tier.

Each world puts one rank (the hot rank) on a boundary: one hot expert group of more than the
largest M tile, other groups on both sides of the smaller tiles or empty, a reduction H1 just
past a K pass (4097, 7168, 12289) or just short of one, N1 and the shared expert's N2 in the
tails of the N tiles, e on both sides of every chunking change. The other ranks receive a few
rows each: the routing is skewed the way real routing is (hot experts, empty experts, one rank
receiving most rows). Now and then the hot rank receives more rows than a 16-bit row index can
address. Every world stays cheap by keeping its other dimensions small (tall-thin or
short-wide): the budgets below bound the data a world generates and the products it computes.
"""

from __future__ import annotations

import numpy as np

from ops.alltoallv_gmm.case import Case, Shared
from ops.alltoallv_gmm.params import FLOAT_DTYPES
from ops.alltoallv_gmm.tiles import Tiling, tiling
from ops.alltoallv_gmm.worlds import Pins, Unreachable, world_bytes
from ops.moe.case import as_matrix
from spec.profiles import Profile
from strategies import tier as tiers
from strategies.choices import Choices
from strategies.volume import policy

ROWS_X_K = 1 << 22  # rows x H1 (or BS x H2) of the hot rank: the activations it generates
WEIGHTS = 1 << 23  # elements of every rank's weights together
MACS = 1 << 25  # multiply-adds of the hot rank's largest product (grouped or shared)
SMALL_N = (1, 2, 3, 8)  # where a boundary value of N does not fit the budgets
OUTPUT = 1 << 20  # elements of one rank's gmmY or mmY
COLD_MAX = 3  # rows a cold rank's group receives from each source
FAR_K_SHARE = 0.7  # of the others, those with H1 past a K pass


def _in(profile: Profile, cid: str, values: tuple[int, ...]) -> tuple[int, ...]:
    rule = profile.rule(cid)
    return tuple(v for v in values if rule.contains(v))


def _fits(values: tuple[int, ...], ok) -> tuple[int, ...]:
    return tuple(v for v in values if ok(v))


def _split(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """`total` rows over `parts` sources, unevenly (some sources send none)."""
    if parts == 1:
        return [total]
    cuts = np.sort(rng.integers(0, total + 1, parts - 1))
    return np.diff(np.concatenate([[0], cuts, [total]])).astype(int).tolist()


def tile_world(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins, clause: str,
               index_share: float = 0.0, t: Tiling | None = None) -> Case:
    """A valid, computed world whose hot rank sits on the tile boundaries of `t`.

    Raises Unreachable where the volume rules force large worlds (Atlas A3): there every world
    is already far past the tiles in rows, and the caller draws a volume world instead."""
    case = Case(**tile_fields(ch, product, ep, profile, pins, index_share, t), clause=clause,
                side="valid")
    if world_bytes(case) > tiers.current().small_world:
        raise Unreachable(f"a tile world of {world_bytes(case) >> 20} MiB is not small in this tier")
    return case


def tile_fields(ch: Choices, product: str, ep: int, profile: Profile, pins: Pins,
                index_share: float = 0.0, t: Tiling | None = None) -> dict:
    """The fields of `tile_world`'s case but its clause and side: the routing matrix (`send`,
    rows source s sends expert j of rank r), the sizes, flags and seed. The combine, which runs
    the same grouped matmul on the rows each expert received, builds its worlds from them."""
    t = t or tiling()
    if policy(product, ep, profile).constrained:
        raise Unreachable(f"{product} at ep={ep}: the volume rules decide the world's size")
    e_cap = min(profile.rule("RANGE.e").max_valid, profile.rule("RANGE.e_ep").max_valid // ep)
    es = _fits(_in(profile, "RANGE.e", (*t.chunk_edges(), 8)), lambda v: v <= e_cap)
    if not es:
        raise Unreachable(f"no e of the chunk table fits e*ep <= {e_cap * ep} at ep={ep}")
    e = ch.choice(tuple(sorted(es, key=lambda v: (v < 5, v))), "e (chunk table)")
    dtype = pins.dtype or ch.choice(FLOAT_DTYPES, "dtype")
    flag = pins.flag if pins.flag is not None else not ch.bool("permuteOutFlag=false")
    trans_gmm = pins.trans_gmm if pins.trans_gmm is not None else ch.bool("transGmmWeight")
    shared = pins.shared if pins.shared is not None else not ch.bool("no shared expert")
    trans_mm = pins.trans_mm if pins.trans_mm is not None else (shared and ch.bool("transMm"))
    rng = np.random.default_rng(ch.int(0, 2**32 - 1, "send matrix seed"))
    hot_rank = ch.int(0, ep - 1, "hot rank")
    hot_expert = ch.int(0, e - 1, "hot expert")
    ks = _in(profile, "RANGE.H1", t.k.values())
    # Weighted decisions come from the world's own generator: hypothesis favours the ends of
    # a range, which would make the rare world (the index width) the common one.
    index_world = rng.random() < index_share
    if index_world:  # past 65,536 rows: H1 and N1 tiny, the rows are the point
        h1 = ch.choice(tuple(v for v in ks if v <= 17), "H1 (tiny)")
        hot = t.row_index_limit + ch.choice((1, 4097), "rows past the index width")
        others = [0] * e
    else:
        far = rng.random() < FAR_K_SHARE
        side = t.k.past(t.k_block) if far else tuple(v for v in ks if v <= t.k_block)
        h1 = ch.choice(_in(profile, "RANGE.H1", side), "H1 (K table)")
        rows_cap = ROWS_X_K // h1
        hots = _fits(tuple(v for v in t.m.values() if v > t.m.largest), lambda v: v <= rows_cap)
        if not hots:
            raise Unreachable(f"no group past {t.m.largest} rows fits the budget at H1={h1}")
        hot = ch.choice(hots, "hot group rows (M table)")
        room = max(0, rows_cap - hot) // max(1, e - 1)
        smalls = (0, *_fits(t.m.values(), lambda v: v <= min(room, t.m.largest)))
        others = [smalls[int(rng.integers(0, len(smalls)))] for _ in range(e)]
    others[hot_expert] = hot
    a_hot = sum(others) + ep * COLD_MAX  # the hot rank's rows, and the padding it may get
    n1s = _fits(_in(profile, "RANGE.N1", (*SMALL_N, *t.n.values())),
                lambda n: ep * e * h1 * n <= WEIGHTS and max(others) * h1 * n <= MACS
                and a_hot * n <= OUTPUT)
    n1 = ch.choice(n1s, "N1 (N table)")
    # The send matrix: the hot rank's groups split over the sources; every other rank's groups
    # get 0..COLD_MAX rows from each source, some empty.
    send = np.zeros((ep, ep * e), dtype=np.int64)
    for j in range(e):
        send[:, hot_rank * e + j] = _split(rng, others[j], ep)
    cold = rng.integers(1, COLD_MAX + 1, (ep, ep * e))
    cold_rows = max(ep, min(COLD_MAX * ep * e, ROWS_X_K // (4 * h1)))  # all cold ranks
    cold[rng.random((ep, ep * e)) >= min(0.5, cold_rows / (2 * ep * ep * e))] = 0
    for r in range(ep):
        if r != hot_rank:
            send[:, r * e:(r + 1) * e] = cold[:, r * e:(r + 1) * e]
    # Every rank sends at least K rows with a shared expert: a small K where H1 is long.
    k_rule = profile.rule("RANGE.K")
    k_hi = max(k_rule.min_valid, min(k_rule.max_valid, ROWS_X_K // (4 * ep * h1)))
    k = ch.int(k_rule.min_valid, k_hi, "K of the shared expert") if shared else 1
    for s in range(ep):  # every rank sends (BSK > 0), a multiple of K with a shared expert
        pad = max(k - int(send[s].sum()), (-int(send[s].sum())) % k)
        cold_col = ((hot_rank + 1) % ep) * e if ep > 1 else hot_expert
        send[s, cold_col] += pad
    shared_desc = None
    if shared:
        bs = tuple(int(send[s].sum()) // k for s in range(ep))
        h2s = _in(profile, "RANGE.H2", t.k.values())
        h2 = ch.choice(_fits(h2s, lambda v: max(bs) * v <= ROWS_X_K), "H2 (K table)")
        n2s = _fits(_in(profile, "RANGE.N2", (*t.n.past(t.n.tiles[1]), *t.n.values(), *SMALL_N)),
                    lambda n: max(bs) * h2 * n <= MACS and ep * h2 * n <= WEIGHTS
                    and max(bs) * n <= OUTPUT)
        if not n2s:
            raise Unreachable(f"no N2 fits the budget at BS={max(bs)}, H2={h2}")
        tails = tuple(v for v in n2s if v > t.n.tiles[1] and v % t.n.tiles[1])
        n2 = ch.choice(tails or n2s, "N2 (N table)")
        shared_desc = Shared(bs, h2, n2)
    return dict(product=product, ep=ep, e=e, h1=h1, n1=n1, send=as_matrix(send), dtype=dtype,
                shared=shared_desc, trans_gmm_weight=trans_gmm, trans_mm_weight=trans_mm,
                permute_out_flag=flag, seed=ch.int(0, 2**31 - 1, "data seed"))


def categories(case: Case, t: Tiling | None = None) -> set[str]:
    """Which tile boundaries a case's computed world crosses (the issue's measures, by name)."""
    t = t or tiling()
    ranks = range(case.ep)
    groups = [sum(case.send[s][r * case.e + j] for s in ranks) for r in ranks for j in range(case.e)]
    n_tile, k_tile = t.n.tiles[1], t.k_block
    ns = [case.n1] + ([case.shared.n2] if case.shared else [])
    out = set()
    if max(groups, default=0) > t.m.largest:
        out.add("group_rows>M_tile")
    if any(n > n_tile and n % n_tile for n in ns):
        out.add("N_tail")
    if case.h1 > k_tile and case.h1 % k_tile:
        out.add("H1_K_tail")
    if case.e >= 5:
        out.add("e>=5")
    if max(case.a(r) for r in ranks) > t.row_index_limit:
        out.add("rows>index_width")
    return out


# The least number of computed cases a PR run must have in each category (reports.census).
REQUIRED: dict[str, int] = {
    "group_rows>M_tile": 50,
    "N_tail": 50,
    "H1_K_tail": 50,
    "e>=5": 50,
    "rows>index_width": 1,
}


def describe() -> dict[str, str]:
    """Each category in words, with the current tiling's numbers."""
    t = tiling()
    return {
        "group_rows>M_tile": f"an expert group of more than {t.m.largest} rows",
        "N_tail": f"N1 or N2 above {t.n.tiles[1]} and not a multiple of it",
        "H1_K_tail": f"H1 above {t.k_block} and not a multiple of it",
        "e>=5": "e >= 5",
        "rows>index_width": f"a rank receiving more than {t.row_index_limit} rows",
    }
