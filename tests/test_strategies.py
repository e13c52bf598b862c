"""The strategies produce what they claim: each invalid builder breaks its clause and no other
(confirmed by the independent sim, behavior=doc), valid worlds are always valid, and boundary
cases sit exactly on the edges the rules state."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.backends import BackendSpec
from fixtures.runner import Worlds
from ops.alltoallv_gmm import OPERATOR as OP
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm.builders import INVALID, VALID, range_values
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.clauses import CLAUSE, CLAUSES
from ops.alltoallv_gmm.worlds import Unreachable, build_world
from spec.rules import InRange
from strategies import clause_cases, intended, reachable
from strategies.choices import Drawn, Minimal, Seeded
from suites._conformance import INVALID_WORLD_SIZES

DOC = load("doc")
SETTINGS = settings(max_examples=4, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _first_reachable_ep(clause: str, side: str, product: str) -> int | None:
    sizes = OP.world_sizes(product)
    if clause.startswith("PRODUCT.") and clause.endswith(".epWorldSize") and side == "invalid":
        sizes = tuple(s for s in INVALID_WORLD_SIZES if s not in sizes)
    return next((ep for ep in sorted(sizes) if reachable(clause, side, product, ep, DOC) is None),
                None)


# The clause sides no world can reach alone: padding the counts for absent ranks leaves those
# peers under Atlas A3's per-peer floor (and the clause is undefined in both profiles); more GMM
# groups than the cap needs ep 256 (cann-2026.07 on 950), which the text's sizes lack; BS = 1
# leaves a rank at most K <= 8 rows, under Atlas A3's 2 MiB card floor at any H1.
NOWHERE = {("COMM.epWorldSize", "invalid", "A3"), ("RANGE.group_num", "invalid", "910_95"),
           ("RANGE.BS", "valid", "A3")}


def _cells(side: str) -> list[tuple[str, str, int]]:
    cells = []
    for c in CLAUSES:
        if "v1" not in c.entries:  # V2's commMode: tests/test_versions.py, under V2 profiles
            continue
        if side == "invalid" and not c.has_invalid_side:
            continue
        for product in c.products:
            ep = _first_reachable_ep(c.id, side, product)
            if (c.id, side, product) in NOWHERE:
                assert ep is None, f"{c.id} is reachable on {product} after all: update NOWHERE"
                continue
            assert ep is not None, f"{c.id} ({side}) is reachable at no world size on {product}"
            cells.append((c.id, product, ep))
    return cells


@pytest.fixture(scope="module")
def doc_sim():
    worlds = Worlds(BackendSpec("sim", {"behavior": "doc"}))
    yield worlds
    worlds.close()


@pytest.mark.parametrize("clause, product, ep", _cells("invalid"))
def test_each_invalid_builder_breaks_its_clause_and_no_other(clause, product, ep, doc_sim):
    built: list[Case] = []

    @SETTINGS
    @given(st.data())
    def draw(data):
        try:
            case = INVALID[clause](Drawn(data.draw), product, ep, DOC)
        except Unreachable:
            return
        assert (case.clause, case.side) == (clause, "invalid")
        assert intended(case, DOC) is None, f"{case.label()}: {intended(case, DOC)}"
        built.append(case)

    draw()
    assert built, "the builder never produced a case"
    if DOC.enforces(clause, product).kind == "undefined":
        return  # nothing to run: the sim cannot be asked about undefined behaviour
    result = doc_sim.run(built[-1], DOC)
    assert result.passed, f"the sim disagrees with spec on {clause}: " + "; ".join(
        f.message for f in result.findings)


@pytest.mark.parametrize("clause, product, ep", _cells("valid"))
def test_each_valid_side_builder_builds_valid_calls(clause, product, ep):
    built = []

    @SETTINGS
    @given(st.data())
    def draw(data):
        try:
            case = VALID[clause](Drawn(data.draw), product, ep, DOC)
        except Unreachable:
            return
        assert (case.clause, case.side) == (clause, "valid")
        assert intended(case, DOC) is None, f"{case.label()}: {intended(case, DOC)}"
        built.append(case)

    draw()
    assert built, f"no valid-side case for {clause} at ep={ep}"


@pytest.mark.parametrize("product, ep", [("910_95", 4), ("910_95", 64), ("A3", 8), ("A3", 32),
                                         ("A3", 64)])
def test_valid_worlds_are_never_invalid(product, ep, doc_sim):
    @settings(SETTINGS, max_examples=25)
    @given(st.data())
    def draw(data):
        case = build_world(Drawn(data.draw), product, ep, DOC)
        assert intended(case, DOC) is None, intended(case, DOC)
        assert sum(case.a(r) for r in range(ep)) == sum(case.bsk(r) for r in range(ep))

    draw()
    # and the independent sim accepts one of them in both stages
    case = build_world(Seeded(7), product, ep, DOC)
    if ep <= 8:
        assert doc_sim.run(case, DOC).passed


RANGE_CLAUSES = [c.id for c in CLAUSES if isinstance(c.rule, InRange)
                 and c.rule.quantity in ("H1", "N1", "H2", "N2", "e", "K", "BSK", "len.group")]
# e = 0 empties the counts, which breaks BSK > 0 as well: that edge is never drawn alone.
UNREACHABLE_EDGES = {("RANGE.e", "invalid", 0)}


@pytest.mark.parametrize("clause", RANGE_CLAUSES)
@pytest.mark.parametrize("side", ["valid", "invalid"])
def test_boundary_cases_sit_exactly_on_the_edges(clause, side):
    rule = CLAUSE[clause].rule
    edges = set(range_values(rule, side))
    seen = set()
    product, ep = "910_95", 4
    for ch in (Minimal(), Seeded(0, "max"), *(Seeded(s) for s in range(12))):
        builder = (VALID if side == "valid" else INVALID)[clause]
        try:
            case = builder(ch, product, ep, DOC)
        except Unreachable:
            continue
        value = case.call(0).quantity(rule.quantity)
        assert value in edges, f"{rule.quantity}={value} is not an edge {sorted(edges)}"
        seen.add(value)
    expected = {v for v in edges if (clause, side, v) not in UNREACHABLE_EDGES}
    assert seen == expected, f"{clause} {side}: edges {sorted(expected)}, reached {sorted(seen)}"
    for v in edges:
        assert rule.contains(v) == (side == "valid")


def test_unreachable_cells_say_why():
    # at ep=4, e*ep > 256 needs e > 32: allowed, as RANGE.e is implied
    assert reachable("RANGE.e_ep", "invalid", "910_95", 4, DOC) is None
    assert reachable("RANGE.H1", "invalid", "A3", 8, DOC) is None  # 65536 is; 0 is not
    cann = load("cann-2025.12")
    assert reachable("PRODUCT.A3.epWorldSize", "invalid", "A3", 128, cann) == (
        "does not break PRODUCT.A3.epWorldSize")
    assert reachable("PRODUCT.A3.epWorldSize", "invalid", "A3", 128, DOC) is None
    assert "161002" in reachable("VOLUME.A3.per_peer_min", "valid", "A3", 64, DOC)


def _cell_draws(count: int) -> list[str]:
    """The ids of the cases a seeded cell draws (a valid world with random sizes and counts)."""
    seen: list[str] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=clause_cases("CALC.gmm", "valid", "910_95", 4, load("doc"), "float16"))
    def draw(case: Case) -> None:
        seen.append(case.id)

    draw()
    return seen


def test_a_cells_draws_depend_on_its_seed_not_on_the_modules_loaded(tmp_path, monkeypatch):
    """Hypothesis would draw some integers from constants in the source of the local modules
    loaded so far; a module full of integers, imported between two runs of a cell, leaves its
    cases as they were."""
    before = _cell_draws(60)
    (tmp_path / "full_of_integers.py").write_text(
        "VALUES = [" + ", ".join(str(101 + 7 * i) for i in range(600)) + "]\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("full_of_integers")
    assert _cell_draws(60) == before


def test_drawn_choices_are_those_of_fresh_strategies():
    """Drawn makes a strategy once per range or option list; the choices it draws are those of
    strategies made afresh for every draw, example by example."""
    def draws(choose):
        seen = []

        @st.composite
        def world(draw):
            return choose(draw)

        @settings(max_examples=30, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(world())
        def run(values):
            seen.append(values)

        run()
        return seen

    def cached(draw):
        ch = Drawn(draw)
        return [ch.int(0, 9, "a"), ch.choice(["x", "y", "z"], "b"), ch.bool("c"),
                ch.int(0, 9, "a"), ch.choice(("x", "y", "z"), "b"), ch.choice([[1], [2]], "d")]

    def fresh(draw):
        return [draw(st.integers(0, 9), label="a"), draw(st.sampled_from(["x", "y", "z"]),
                                                         label="b"),
                draw(st.booleans(), label="c"), draw(st.integers(0, 9), label="a"),
                draw(st.sampled_from(("x", "y", "z")), label="b"),
                draw(st.sampled_from([[1], [2]]), label="d")]

    assert draws(cached) == draws(fresh)
    assert len({str(v) for v in draws(cached)}) > 10
