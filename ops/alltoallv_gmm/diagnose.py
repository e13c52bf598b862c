"""Where the wrong rows of permuteOut (and of gmmY) came from, and the pattern of the fault.

The rows of permuteOut are content-addressed (data.py): the rows rank s sends to local expert j of
rank r are the block (seed, "gmmX", s, r, j), each row a function of (block key, index). A wrong
row is therefore not only wrong: its bytes say where it came from, and a permute fault can be
diagnosed, not just detected.

`permute` indexes the rows the rank receives (the golden's own rows) by their first eight bytes,
looks every wrong row up and confirms it on the whole row. A row not among them is looked for in
the blocks addressed to the other ranks (a row routed to the wrong rank) while those number at
most WORLD_ROWS: only their first eight bytes are generated (spec.data.block_elements), so that
costs WORLD_ROWS x 8 bytes whatever H1; past it they are left unsearched, and the diagnosis says
so. The cost is linear in the output and, when searched, in the world's rows.

A pattern is named when it explains every wrong row bit for bit: the rows it moves hold exactly
what it predicts and the rows it leaves in place are right. The candidates, read off the first
and the last wrong rows that came from this rank's rows, are two experts' blocks swapped, a block
reversed and rows shifted by k with or without wrapping round (each within a block of one
source, an expert's block or the whole output), then source-major order: at most 21, each decided
in one pass over the rows it moves (a wrong one mostly in its first chunk). Two that explain the
same rows are both named, but a shift, the least specific, only where nothing else fits.
Otherwise the wrong rows are named by kind: rows of
this rank in the wrong places, stale rows (copies of rows that are also in their own places),
rows addressed to another rank, and rows of no input (zeros, non-finite values, or other values:
stale memory, another tensor).

`gmm` does the like for gmmY where permuteOut is not requested and gmmY is judged by the float64
oracle. It diagnoses rows that equal an expected row of the rank (the products moved after the
matmul) or a received row times the weight of the expert whose place the row holds (the rows
moved before the matmul, which then grouped them by the right offsets), each within NEAR times
the standard's allowance per element, and the same patterns over either kind. Candidates are
found by one +-1 projection (gmmY's expected rows, and the received rows times W_j v: A x H1 x e
multiply-adds) and confirmed whole, for the first FIRST wrong rows; a pattern is confirmed on
every row it moves, each candidate at most the oracle's own cost. Not diagnosed: gmmY judged by
the linear judge (its golden is never formed), a row under the weight of an expert other than
its place's, rows from another rank, and the rows of an arithmetic fault (they are reported as
no expected row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from golden.judges import Verdict, as_f64
from golden.linear import tolerance
from ops.alltoallv_gmm import data
from spec.data import block_elements

FIRST = 4  # wrong rows described one by one
IN_LINE = 2  # of them, named in the verdict's one line
WORLD_ROWS = 1 << 21  # rows of the other ranks' blocks indexed, at most
CHUNK_ELEMENTS = 1 << 22  # elements compared, generated or multiplied at a time
SIGNATURE_BYTES = 8  # a row's index key: its first bytes
ALIKE = 8  # rows sharing a signature confirmed whole, at most, before a row counts as not found
NEAR = 8.0  # a gmmY row equals a candidate within NEAR times the standard's allowance
CANDIDATES = 32  # candidate rows confirmed whole, per wrong gmmY row and kind

Same = Callable[[np.ndarray, np.ndarray], np.ndarray]  # output rows p, golden rows q: alike?


class Layout:
    """The rank's rows as permuteOut and gmmY hold them, expert-major and source-minor: where the
    block of (expert j, source s) starts, and the origin of every position."""

    def __init__(self, case, rank: int) -> None:
        e, ep = case.e, case.ep
        self.rank, self.e, self.ep = rank, e, ep
        self.counts = np.array([[case.send[s][rank * e + j] for s in range(ep)] for j in range(e)],
                               np.int64).reshape(e, ep)
        flat = self.counts.reshape(-1)
        self.starts = (np.cumsum(flat) - flat).reshape(e, ep)
        self.rows = int(flat.sum())
        block = np.repeat(np.arange(e * ep), flat)
        self.expert, self.source = np.divmod(block, ep)
        self.index = np.arange(self.rows) - self.starts.reshape(-1)[block]
        self.bounds = np.concatenate([[0], np.cumsum(self.counts.sum(1))])

    def origin(self, q: int) -> dict:
        return {"source": int(self.source[q]), "rank": self.rank, "expert": int(self.expert[q]),
                "index": int(self.index[q])}

    def identity(self) -> np.ndarray:
        return np.arange(self.rows)

    def source_major(self) -> np.ndarray:
        """Position: the golden row a for-source, for-expert layout puts there."""
        order = [(j, s) for s in range(self.ep) for j in range(self.e)]
        golden = np.array([self.starts[j, s] for j, s in order], np.int64)
        counts = np.array([self.counts[j, s] for j, s in order], np.int64)
        return np.repeat(golden - (np.cumsum(counts) - counts), counts) + self.identity()

    def experts_swapped(self, j1: int, j2: int) -> np.ndarray:
        order = list(range(self.e))
        order[j1], order[j2] = j2, j1
        return np.concatenate([np.arange(self.bounds[j], self.bounds[j + 1]) for j in order])

    def reversed(self, lo: int, hi: int) -> np.ndarray:
        perm = self.identity()
        perm[lo:hi] = perm[lo:hi][::-1].copy()
        return perm

    def shifted(self, lo: int, hi: int, k: int, wrap: bool) -> np.ndarray:
        """Rows of [lo, hi) moved k places later: those pushed past an end come back at the other
        (`wrap`), or the rows vacated (-1) may hold anything."""
        perm = self.identity()
        seg = np.arange(lo, hi) - k
        outside = (seg < lo) | (seg >= hi)
        seg[outside] = (seg[outside] - lo) % (hi - lo) + lo if wrap else -1
        perm[lo:hi] = seg
        return perm

    def regions(self, p: int) -> list[tuple[str, int, int]]:
        """The regions around position p, smallest first: its (expert, source) block, its
        expert's block, the whole output."""
        j, s = int(self.expert[p]), int(self.source[p])
        lo = int(self.starts[j, s])
        return [(f"the block of source {s} for expert {j}", lo, lo + int(self.counts[j, s])),
                (f"expert {j}'s block", int(self.bounds[j]), int(self.bounds[j + 1])),
                ("the whole output", 0, self.rows)]


def hypotheses(lay: Layout, anchors: list[tuple[int, int]]) -> Iterator[tuple[dict, np.ndarray]]:
    """(pattern, the golden row each position holds under it) for an output whose row p holds
    golden row q, for each (p, q) of `anchors` (a shift's vacated rows sit at one end of its
    region, so the first and the last wrong rows anchor it from both): the local patterns first,
    the smallest region first, each once."""
    seen: set[tuple] = set()

    def once(*key) -> bool:
        new = key not in seen
        seen.add(key)
        return new

    for p, q in anchors:
        a, b = sorted((int(lay.expert[p]), int(lay.expert[q])))
        if a != b and once("swap", a, b):
            yield ({"name": "experts_swapped", "experts": [a, b],
                    "text": f"experts {a} and {b} swapped (each one's rows in the other's place)"},
                   lay.experts_swapped(a, b))
    for p, q in anchors:
        regions = lay.regions(p)
        for where, lo, hi in (regions[1], regions[0], regions[2]):
            if lo <= q < hi and once("reversed", lo, hi):
                yield ({"name": "block_reversed", "rows": [lo, hi], "text": f"{where} reversed"},
                       lay.reversed(lo, hi))
    for p, q in anchors:
        for where, lo, hi in lay.regions(p):
            if not lo <= q < hi:
                continue
            span = "across the output" if where == "the whole output" else f"within {where}"
            size, k = hi - lo, p - q
            turn = (k + size // 2) % size - size // 2  # the same rotation, the fewest places
            if once("rotated", lo, hi, turn):
                yield ({"name": "shifted", "k": turn, "rows": [lo, hi], "wrap": True,
                        "text": f"rows shifted by {turn:+d} {span}, wrapping round (row p holds "
                        f"expected row p{-turn:+d})"}, lay.shifted(lo, hi, turn, True))
            if size - abs(k) >= max(2, abs(k)) and once("shifted", lo, hi, k):
                yield ({"name": "shifted", "k": k, "rows": [lo, hi], "wrap": False,
                        "text": f"rows shifted by {k:+d} {span} (row p holds expected row "
                        f"p{-k:+d})"}, lay.shifted(lo, hi, k, False))
    yield ({"name": "source_major", "text": "source-major order (laid out for source, for "
            "expert; expected for expert, for source)"}, lay.source_major())


def explains(perm: np.ndarray, wrong: np.ndarray, same: Same, step: int) -> bool:
    """Whether `perm` explains the output: every wrong row is one it moves, and every row it
    moves holds what it predicts (checked `step` rows at a time, stopping at the first miss)."""
    moved = perm != np.arange(len(perm))
    if (wrong & ~moved).any():
        return False
    ps = np.flatnonzero(moved & (perm >= 0))
    for a in range(0, len(ps), step):
        if not same(ps[a:a + step], perm[ps[a:a + step]]).all():
            return False
    return len(ps) > 0


def pattern_of(lay: Layout, anchors: list[tuple[int, int]], wrong: np.ndarray, same: Same,
               step: int) -> dict | None:
    """The first pattern that explains the output, or None; any other that explains it as well
    (the same rows can be two patterns at once, e.g. source-major order on a rank whose expert 0
    rows all come from a later source than its expert 1 rows) is named beside it. A shift is the
    least specific (two adjacent experts swapped are their rows rotated), so it is named only
    where nothing else fits; and one that does not wrap round, which leaves the rows it vacates
    unexplained, only where no rotation fits (it needs more rows placed than vacated, and two at
    least: a single row copied is a stale row)."""
    fits: dict[tuple[str, bool], dict] = {}
    for pattern, perm in hypotheses(lay, anchors):
        partial = bool((perm < 0).any())
        if (pattern["name"], partial) not in fits and explains(perm, wrong, same, step):
            fits[pattern["name"], partial] = pattern
    named = ([f for (name, _), f in fits.items() if name != "shifted"]
             or [fits[k] for k in (("shifted", False), ("shifted", True)) if k in fits][:1])
    if not named:
        return None
    first, *others = named
    if others:
        first["also"] = [o["name"] for o in others]
        first["text"] += "".join(f"; equally, {o['text']}" for o in others)
    return first


# -- permuteOut --------------------------------------------------------------------------------


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _signatures(bits: np.ndarray) -> np.ndarray:
    """Each row's first SIGNATURE_BYTES bytes as one uint64 (zero-padded)."""
    width = min(bits.shape[1], SIGNATURE_BYTES // bits.itemsize)
    raw = np.zeros((bits.shape[0], SIGNATURE_BYTES), np.uint8)
    raw[:, :width * bits.itemsize] = np.ascontiguousarray(bits[:, :width]).view(np.uint8)
    return raw.view(np.uint64).reshape(-1)


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b).all(axis=1)


class _Index:
    """Rows by signature; a lookup returns, for each row asked, the first indexed row equal to it
    on the whole row, or -1."""

    def __init__(self, signatures: np.ndarray, whole: Callable[[np.ndarray], np.ndarray]) -> None:
        self.order = np.argsort(signatures, kind="stable")
        self.sorted = signatures[self.order]
        self.whole = whole  # indexed rows -> their bits

    def lookup(self, bits: np.ndarray, step: int) -> np.ndarray:
        sig = _signatures(bits)
        lo = np.searchsorted(self.sorted, sig, "left")
        hi = np.searchsorted(self.sorted, sig, "right")
        hit = np.full(len(bits), -1, np.int64)
        for k in range(ALIKE):
            ask = np.flatnonzero((hit < 0) & (lo + k < hi))
            if not len(ask):
                break
            for a in range(0, len(ask), step):
                rows = ask[a:a + step]
                cand = self.order[lo[rows] + k]
                ok = _rows_equal(bits[rows], self.whole(cand))
                hit[rows[ok]] = cand[ok]
        return hit


def _world(case, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The rows addressed to ranks other than `rank`: (block key, block address (s, r, j), index
    in the block) per row, or None past WORLD_ROWS rows."""
    e = case.e
    blocks = [(s, r, j, case.send[s][r * e + j]) for s in range(case.ep) for r in range(case.ep)
              if r != rank for j in range(e) if case.send[s][r * e + j] > 0]
    counts = np.array([c for *_, c in blocks], np.int64)
    if counts.sum() > WORLD_ROWS:
        return None
    keys = np.array([data.key(case.seed, "gmmX", s, r, j) for s, r, j, _ in blocks], np.uint64)
    address = np.array([(s, r, j) for s, r, j, _ in blocks], np.int64).reshape(-1, 3)
    block = np.repeat(np.arange(len(blocks)), counts)
    index = np.arange(len(block)) - np.repeat(np.cumsum(counts) - counts, counts)
    return keys[block], address[block], index


def _generated(case, keys: np.ndarray, index: np.ndarray, width: int) -> np.ndarray:
    """Bits of the first `width` elements of rows `index` of blocks `keys`."""
    cols = np.arange(width)
    values = block_elements(np.repeat(keys, width), (index[:, None] * case.h1 + cols).reshape(-1),
                            case.dtype)
    return _bits(values.reshape(len(keys), width))


def _content(row: np.ndarray) -> str:
    v = as_f64(row)
    if (v == 0).all():
        return "zeros"
    if not np.isfinite(v).all():
        return "non-finite values" if not np.isfinite(v).any() else "some non-finite values"
    return "other values"


def _origin_text(o: dict) -> str:
    if o["kind"] in ("row", "repeated"):
        return f"source {o['source']} expert {o['expert']} row {o['index']}"
    if o["kind"] == "other_rank":
        return f"source {o['source']}'s row {o['index']} for rank {o['rank']} expert {o['expert']}"
    if o["kind"] == "unsearched":
        return "no row this rank receives (the other ranks' rows were not searched)"
    return f"no row of any input ({o['content']})"


def _expected_text(o: dict) -> str:
    return f"source {o['source']} expert {o['expert']} row {o['index']}"


KIND_TEXT = {
    "row": "rows of this rank in the wrong places (no simple pattern)",
    "repeated": "stale rows (copies of rows that are also in their own places)",
    "other_rank": "rows addressed to another rank",
    "foreign": "rows of no input",
    "unsearched": "rows this rank does not receive (the other ranks' rows were not searched)",
}


def permute(case, rank: int, out: np.ndarray, golden: np.ndarray) -> dict | None:
    """The diagnosis of a permuteOut that differs from its golden (same shape and dtype), or
    None when it does not."""
    ob, gb = _bits(out), _bits(golden)
    rows, h1 = gb.shape
    step = max(1, CHUNK_ELEMENTS // max(h1, 1))
    wrong = np.zeros(rows, bool)
    for a in range(0, rows, step):
        wrong[a:a + step] = ~_rows_equal(ob[a:a + step], gb[a:a + step])
    if not wrong.any():
        return None
    lay = Layout(case, rank)
    bad = np.flatnonzero(wrong)
    found = _Index(_signatures(gb), lambda q: gb[q]).lookup(ob[bad], step)
    kinds = np.where(found >= 0, "row", "foreign").astype(object)
    uses = (np.bincount(np.flatnonzero(~wrong), minlength=rows)
            + np.bincount(found[found >= 0], minlength=rows))  # output rows holding each row
    kinds[(found >= 0) & (uses[np.maximum(found, 0)] > 1)] = "repeated"
    elsewhere: dict[int, dict] = {}
    missing = np.flatnonzero(found < 0)
    world = "not needed"
    if len(missing):
        width = min(h1, SIGNATURE_BYTES // gb.itemsize)
        rows_of = _world(case, rank)
        if rows_of is None:
            kinds[missing] = "unsearched"
            world = f"not searched: more than {WORLD_ROWS} rows"
        else:
            keys, address, index = rows_of
            sig = np.concatenate([_signatures(_generated(case, keys[a:a + step], index[a:a + step],
                                                         width))
                                  for a in range(0, len(keys), step)] or [np.zeros(0, np.uint64)])
            hit = _Index(sig, lambda i: _generated(case, keys[i], index[i], h1)).lookup(
                ob[bad[missing]], step)
            for m, i in zip(missing, hit, strict=True):
                if i >= 0:
                    kinds[m] = "other_rank"
                    s, r, j = address[i].tolist()
                    elsewhere[int(m)] = {"source": s, "rank": r, "expert": j, "index": int(index[i])}
            world = f"searched {len(keys)} rows"
    described = []
    for m, p in enumerate(bad[:FIRST].tolist()):
        kind = str(kinds[m])
        got: dict = {"kind": kind}
        if kind in ("row", "repeated"):
            got.update(lay.origin(int(found[m])))
        elif kind == "other_rank":
            got.update(elsewhere[m])
        elif kind == "foreign":
            got["content"] = _content(out[p])
        described.append({"row": p, "expected": lay.origin(p), "found": got})
    local = np.flatnonzero(found >= 0)
    anchors = [(int(bad[m]), int(found[m])) for m in dict.fromkeys(local[[0, -1]].tolist())
               ] if len(local) else []
    pattern = pattern_of(lay, anchors, wrong, lambda ps, qs: _rows_equal(ob[ps], gb[qs]),
                         step) if anchors else None
    counts = {k: int((kinds == k).sum()) for k in KIND_TEXT if (kinds == k).any()}
    if pattern is None:
        pattern = _by_kind(counts, described)
    return {
        "output": "permuteOut", "rows": rows, "wrong_rows": len(bad), "pattern": pattern,
        "first": described, "kinds": counts,
        "searched": {"own_rows": rows, "other_ranks": world},
    }


def _by_kind(counts: dict[str, int], described: list[dict]) -> dict:
    if len(counts) > 1:
        return {"name": "mixed", "text": "mixed: " + ", ".join(
            f"{n} {KIND_TEXT[k].split(' (')[0]}" for k, n in counts.items())}
    (kind,) = counts
    text = KIND_TEXT[kind]
    if kind == "foreign":
        text += f" ({described[0]['found']['content']}: stale memory or another tensor)"
    return {"name": {"row": "misplaced", "repeated": "stale"}.get(kind, kind), "text": text}


def _line(diagnosis: dict, found_text: Callable[[dict], str]) -> str:
    rows = "; ".join(f"row {d['row']} holds {found_text(d['found'])} (expected "
                     f"{_expected_text(d['expected'])})" for d in diagnosis["first"][:IN_LINE])
    return (f"{diagnosis['wrong_rows']} of {diagnosis['rows']} rows wrong: "
            f"{diagnosis['pattern']['text']}; {rows}")


def explain_permute(verdict: Verdict, case, rank: int, out: np.ndarray, golden: np.ndarray
                    ) -> Verdict:
    """`verdict` (the bitwise judge's on permuteOut) with the diagnosis when it failed on an
    output of the golden's shape and dtype."""
    if verdict.passed or out.shape != golden.shape or out.dtype != golden.dtype:
        return verdict
    d = permute(case, rank, out, golden)
    if d is None:
        return verdict
    return replace(verdict, reason=f"{verdict.reason}; {_line(d, _origin_text)}", diagnosis=d)


# -- gmmY ----------------------------------------------------------------------------------------


def gmm(case, rank: int, y: np.ndarray, golden: np.ndarray, permuted: np.ndarray,
        weight: np.ndarray, standard: str) -> dict | None:
    """The diagnosis of a gmmY whose rows differ from the float64 golden beyond NEAR times the
    allowance, or None when none does. `permuted` is the golden permuteOut, `weight` (e, H1, N1)."""
    a, b = tolerance(standard, case.dtype)
    yf = as_f64(y)

    def near(got: np.ndarray, want: np.ndarray) -> np.ndarray:
        return (np.abs(got - want) <= NEAR * (a + b * np.abs(want))).all(axis=-1)

    wrong = ~near(yf, golden)
    if not wrong.any():
        return None
    lay = Layout(case, rank)
    rows, n1 = golden.shape
    w = as_f64(weight)
    step = max(1, CHUNK_ELEMENTS // max(case.h1 * n1, 1))

    def products(qs: np.ndarray, experts: np.ndarray) -> np.ndarray:
        """Received rows qs times the weights of `experts`, in float64."""
        x, out = as_f64(permuted[qs]), np.empty((len(qs), n1))
        for j in np.unique(experts):
            sel = experts == j
            out[sel] = x[sel] @ w[j]
        return out

    def same_row(ps: np.ndarray, qs: np.ndarray) -> np.ndarray:
        return near(yf[ps], golden[qs])

    def same_weighted(ps: np.ndarray, qs: np.ndarray) -> np.ndarray:
        return near(yf[ps], products(qs, lay.expert[ps]))

    v = np.random.default_rng(0).choice((-1.0, 1.0), n1)
    u = w @ v  # (e, H1): expert j's weight times the probe
    xstep = max(1, CHUNK_ELEMENTS // max(case.h1, 1))
    xu = np.concatenate([as_f64(permuted[i:i + xstep]) @ u.T for i in range(0, rows, xstep)])
    projected: dict[str | int, np.ndarray] = {"expected": golden @ v, **dict(enumerate(xu.T))}
    ordered: dict[str | int, tuple[np.ndarray, np.ndarray]] = {}
    yv = yf @ v

    def candidates(key: str | int, p: int) -> np.ndarray:
        """The rows whose projection under `key` (the expected rows, or the received rows times
        expert key's weight) lies nearest gmmY row p's, within what the allowance lets it move."""
        if key not in ordered:
            order = np.argsort(projected[key], kind="stable")
            ordered[key] = order, projected[key][order]
        (order, values), t = ordered[key], yv[p]
        if not np.isfinite(t):
            return np.zeros(0, np.int64)
        window = 2 * NEAR * (a + b * np.abs(yf[p])).sum()
        lo, hi = np.searchsorted(values, [t - window, t + window])
        cand = order[lo:hi]
        return cand[np.argsort(np.abs(projected[key][cand] - t), kind="stable")][:CANDIDATES]

    described: list[dict] = []
    origins: list[tuple[int, int]] = []
    for p in np.flatnonzero(wrong)[:FIRST].tolist():
        j = int(lay.expert[p])
        got: dict = {"kind": "none", "expert": j}
        cand = candidates("expected", p)
        hit = cand[same_row(np.full(len(cand), p), cand)]
        if len(hit):
            got = {"kind": "expected_row", "row": int(hit[0]), **lay.origin(int(hit[0]))}
        else:
            cand = candidates(j, p)
            hit = cand[near(yf[p], products(cand, np.full(len(cand), j)))] if len(cand) else cand
            if len(hit):
                got = {"kind": "weighted", "weight": j, **lay.origin(int(hit[0]))}
        if got["kind"] != "none":
            origins.append((p, int(hit[0])))
        described.append({"row": p, "expected": lay.origin(p), "found": got})
    pattern = None
    stages = ((same_row, "after_matmul", "after the matmul (the expected rows moved)"),
              (same_weighted, "before_matmul", "before the matmul (its rows under the weights "
               "of the places they took)"))
    anchors = list(dict.fromkeys(origins[:1] + origins[-1:]))
    for same, stage, text in stages if anchors else ():
        pattern = pattern_of(lay, anchors, wrong, same, step)
        if pattern is not None:
            pattern.update(stage=stage, text=f"{pattern['text']}, {text}")
            break
    if pattern is None:
        kinds = sorted({d["found"]["kind"] for d in described})
        pattern = ({"name": kinds[0], "text": GMM_KIND_TEXT[kinds[0]]} if len(kinds) == 1 else
                   {"name": "mixed", "text": "mixed: " + ", ".join(GMM_KIND_TEXT[k].split(" (")[0]
                                                                  for k in kinds)})
    return {"output": "gmmY", "rows": rows, "wrong_rows": int(wrong.sum()), "pattern": pattern,
            "first": described, "near": f"within {NEAR:g} x the {standard} allowance"}


GMM_KIND_TEXT = {
    "expected_row": "expected rows in the wrong places (no simple pattern)",
    "weighted": "received rows under the weight of the place they took (no simple pattern)",
    "none": "rows that are no expected row, nor a received row under their place's weight",
}


def _gmm_found_text(o: dict) -> str:
    if o["kind"] == "expected_row":
        return f"expected row {o['row']} ({_expected_text(o)})"
    if o["kind"] == "weighted":
        return f"{_expected_text(o)} under expert {o['weight']}'s weight"
    return f"no expected row, nor a received row under expert {o['expert']}'s weight"


def explain_gmm(verdict: Verdict, case, rank: int, y: np.ndarray, golden: np.ndarray,
                permuted: np.ndarray, standard: str) -> Verdict:
    """`verdict` (gmmY's, by the float64 oracle) with the diagnosis when it failed on an output
    of the golden's shape."""
    if verdict.passed or y.shape != golden.shape:
        return verdict
    d = gmm(case, rank, y, golden, permuted, data.gmm_weight_logical(case, rank), standard)
    if d is None:
        return verdict
    return replace(verdict, reason=f"{verdict.reason}; {_line(d, _gmm_found_text)}", diagnosis=d)
