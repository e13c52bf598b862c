"""aclnnGroupedMatMulAlltoAllv (ops/gmm_alltoallv): every clause reachable on both sides and
each violation alone, the combine's count layout, the oracle catching the catalog's unpermute fault
and a wrong expert weight, the simulator agreeing with the oracle, complete profiles whose
departures are exactly the shipped code's, and cases that round-trip JSON and compact form."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ops
from fixtures.backends import BackendSpec
from fixtures.runner import Worlds
from golden.judges import as_f64, judge
from ops.gmm_alltoallv import OPERATOR as OP
from ops.gmm_alltoallv import available, data, load, oracle
from ops.gmm_alltoallv.builders import INVALID, VALID
from ops.gmm_alltoallv.case import Case, CaseFormatError, Fault, Shared
from ops.gmm_alltoallv.clauses import CLAUSE, CLAUSES
from ops.gmm_alltoallv.sim import SimBackend
from ops.gmm_alltoallv.torch_backend import unpermute_index
from ops.gmm_alltoallv.worlds import Pins, build_world
from reports.results import record_case
from spec.data import np_dtype
from spec.expect import expect_case
from spec.profiles import ProfileError, inconsistent_mappings, missing_mappings
from spec.rules import CountsConsistent
from strategies import clause_cases, intended, probe
from strategies.choices import Drawn, Seeded
from suites._conformance import INVALID_WORLD_SIZES

DOC, CANN = load("doc"), load("cann-2026.07")
SETTINGS = settings(max_examples=12, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

def _sizes(clause: str, side: str, product: str) -> tuple[int, ...]:
    sizes = DOC.rule(f"PRODUCT.{product}.epWorldSize").values
    if clause.startswith("PRODUCT.") and clause.endswith(".epWorldSize") and side == "invalid":
        return tuple(s for s in INVALID_WORLD_SIZES if s not in sizes)
    return tuple(sorted(sizes))


def _first_case(clause: str, side: str, product: str, profile=DOC, decisive: bool = False):
    """The first probe case of that side at the smallest world size that has one (`decisive`:
    whose violation of the clause decides the outcome, as RANGE.e_ep does not where e > 32
    comes with it)."""
    for ep in _sizes(clause, side, product):
        case, _ = probe(clause, side, product, ep, profile, "float16")
        exp = None if case is None else expect_case(case, profile)
        if case is not None and not (decisive and exp.outcome == "reject"
                                     and exp.clause != clause):
            return case
    return None


def _sides() -> list[tuple[str, str, str]]:
    return [(c.id, side, product) for c in CLAUSES for product in c.products
            for side in (("valid", "invalid") if c.has_invalid_side else ("valid",))]


# -- every clause, both sides --------------------------------------------------------------------


def test_every_clause_has_a_builder_for_each_of_its_sides():
    assert set(VALID) == set(CLAUSE)
    assert set(INVALID) == {c.id for c in CLAUSES if c.has_invalid_side}


@pytest.fixture(scope="module")
def worlds():
    w = {b: Worlds(BackendSpec("sim", {"behavior": b}, OP.name, OP.home))
         for b in ("doc", "cann-2026.07")}
    yield w
    for each in w.values():
        each.close()


@pytest.mark.parametrize("clause, side, product", _sides())
def test_each_side_is_reachable_alone_and_the_sim_agrees(clause, side, product, worlds):
    """A probe builds a case on that side (an invalid one breaks its clause and no other it does
    not tolerate: `intended`), and the independent sim gives what the profile expects."""
    for profile in (DOC, CANN):
        case = _first_case(clause, side, product, profile)
        assert case is not None, f"{clause} ({side}) reachable at no world size on {product}"
        assert (case.clause, case.side) == (clause, side)
        assert intended(case, profile) is None
        result = worlds[profile.name].run(case, profile)
        if profile.enforces(clause, product).kind == "undefined" and side == "invalid":
            assert result.outcome == "not_applicable"
            continue
        assert result.outcome == "passed", (case.label(), [f.message for f in result.findings])
        if side == "invalid":
            assert clause in result.expectation.violated


@pytest.mark.parametrize("clause, product", [(c, p) for c, s, p in _sides() if s == "invalid"
                                              and "v1" in CLAUSE[c].entries])
def test_drawn_invalid_cases_break_their_clause(clause, product):
    ep = next(ep for ep in _sizes(clause, "invalid", product)
              if probe(clause, "invalid", product, ep, DOC)[0] is not None)
    built = []

    @SETTINGS
    @given(st.data())
    def draw(d):
        from strategies.choices import Unreachable

        try:
            case = INVALID[clause](Drawn(d.draw), product, ep, DOC)
        except Unreachable:
            return
        if intended(case, DOC) is None:
            built.append(case)

    draw()
    assert built, f"no drawn case of {clause} on {product} at ep={ep} breaks it alone"


# -- the count layout ----------------------------------------------------------------------------


def test_counts_are_the_dispatch_matrix_read_both_ways():
    case = build_world(Seeded(3), "910_95", 4, DOC, Pins(e=3), "CALC.gmm")
    e, d = case.e, case.dispatch
    for r in range(case.ep):
        call = case.call(r)
        assert call.send_counts == tuple(d[s][r * e + j] for s in range(case.ep) for j in range(e))
        assert call.recv_counts == d[r]
        assert call.tensors["gmmX"].shape == (sum(call.send_counts), case.h1)
        assert call.tensors["y"].shape == (sum(d[r]), case.n1)
    rule = CLAUSE["CONSIST.counts"].rule
    assert isinstance(rule, CountsConsistent) and rule.holds_world(case.calls())
    shifted = case.with_(faults=(Fault("counts", "sendCounts", "shift"),))
    assert not rule.holds_world(shifted.calls())


def test_gmm_x_is_the_dispatch_permute_out_of_the_same_world():
    """Rank r's gmmX holds, expert-major and source-minor, the blocks its peers' tokens sent to
    its experts: each block is addressed (source, r, expert) and regenerated alone."""
    case = build_world(Seeded(5), "910_95", 4, DOC, Pins(e=2, bsk=16, h1=8), "CALC.gmm")
    r = 2
    x = data.gmm_x(case, r)
    parts = [data.gmm_x_blocks(case, [(s, r, j)]) for j in range(case.e) for s in range(case.ep)]
    assert np.array_equal(x.view(np.uint16), np.concatenate(parts).view(np.uint16))


# -- the oracle catches what it must -------------------------------------------------------------


def _run(target: str, case: Case):
    worlds = Worlds(BackendSpec(target, {"behavior": "doc"}, OP.name, OP.home))
    try:
        return worlds.run(case, DOC)
    finally:
        worlds.close()


@pytest.mark.parametrize("identity", [False, True])
def test_a_planted_unpermute_fault_is_caught(identity):
    case = build_world(Seeded(11), "910_95", 4, DOC,
                       Pins(e=2, bsk=16, identity=identity, dtype="bfloat16",
                            trans_gmm=False), "CALC.gmm")
    result = _run("ops.gmm_alltoallv.mutants.routing:expert_major_unpermute", case)
    assert result.outcome == "failed"
    want = ("CALC.unpermute", "movement") if identity else ("CALC.gmm", "numeric")
    assert want in {(f.clause, f.kind) for f in result.findings}


def test_a_wrong_expert_weight_is_caught():
    case = build_world(Seeded(12), "910_95", 4, DOC, Pins(e=3, bsk=24, trans_gmm=False),
                       "CALC.gmm")
    result = _run("ops.gmm_alltoallv.mutants.weights:wrong_expert_weight", case)
    assert result.outcome == "failed"
    assert ("CALC.gmm", "numeric") in {(f.clause, f.kind) for f in result.findings}


def test_the_oracle_rejects_rows_of_the_wrong_expert_rank():
    """y judged directly: the right rows times another rank's weight of the same expert fail."""
    case = build_world(Seeded(13), "910_95", 4, DOC, Pins(e=2, bsk=32, shared=False), "CALC.gmm")
    rank = 1
    rows, off = oracle.returned_rows(case, rank), oracle.group_offsets(case, rank)
    wrong = np.empty((off[-1], case.n1))
    for g in range(case.ep * case.e):
        r, j = divmod(g, case.e)
        w = as_f64(data.gmm_weight_expert(case, (r + 1) % case.ep, j))
        wrong[off[g]:off[g + 1]] = as_f64(rows[off[g]:off[g + 1]]) @ w
    y = wrong.astype(np.float32).astype(np_dtype(case.dtype))
    checks, _ = oracle.judge_outputs(case, rank, {"y": y}, {"y": True, "mmY": False}, "mixed")
    assert not checks[0][2].passed


def test_the_linear_judge_catches_an_unpermute_fault(monkeypatch):
    """Where the float64 oracle is out of reach, y is judged linearly, (rank, expert) groups."""
    from golden import linear

    case = build_world(Seeded(14), "910_95", 4, DOC, Pins(e=2, bsk=64, h1=64, n1=16,
                                                        shared=False, trans_gmm=False),
                       "CALC.gmm")
    monkeypatch.setattr(linear, "ORACLE_MACS", 0)
    rank = 0
    good = oracle.y_golden(case, rank).astype(np.float32).astype(np_dtype(case.dtype))
    checks, _ = oracle.judge_outputs(case, rank, {"y": good}, {"y": True, "mmY": False}, "mixed")
    assert checks[0][2].passed and checks[0][2].standard == "linear(mixed)"
    off = oracle.group_offsets(case, rank)
    bad = good.copy()
    g = next(g for g in range(len(off) - 1) if off[g + 1] - off[g] >= 2)
    bad[[off[g], off[g] + 1]] = bad[[off[g] + 1, off[g]]]  # two rows of one group swapped
    checks, _ = oracle.judge_outputs(case, rank, {"y": bad}, {"y": True, "mmY": False}, "mixed")
    assert not checks[0][2].passed


# -- the sim agrees with the oracle --------------------------------------------------------------

FLAVOURS = list(itertools.product(("float16", "bfloat16"), (False, True),
                                  ("none", "plain", "transposed"), (False, True)))


@pytest.mark.parametrize("dtype, trans_gmm, shared, identity", FLAVOURS)
def test_sim_outputs_pass_the_oracle(dtype, trans_gmm, shared, identity, worlds):
    pins = Pins(dtype=dtype, trans_gmm=trans_gmm, shared=shared != "none",
                trans_mm=shared == "transposed", identity=identity)
    for product, ep in (("910_95", 4), ("910_95", 8), ("A3", 8)):
        case = build_world(Seeded(ep + len(product)), product, ep, DOC, pins, "CALC.gmm")
        assert intended(case, DOC) is None
        result = worlds["doc"].run(case, DOC, "mixed")
        assert result.passed, [f.message for f in result.findings]
        assert result.plan.data_mode
        judged = {v["clause"] for r in result.reports for v in r.verdicts}
        y_clause = ("CALC.unpermute" if identity else
                    "CALC.transGmmWeight" if trans_gmm else "CALC.gmm")
        assert y_clause in judged
        if shared != "none":
            assert ("CALC.transMmWeight" if shared == "transposed" else "CALC.mm") in judged


def test_sim_y_is_the_float64_golden_within_the_standard():
    """The sim's y itself (not just a verdict) against the golden, every rank of a world with a
    rank whose experts get nothing."""
    from fixtures.harness import materialise
    from fixtures.protocol import RankContext
    from fixtures.world import ThreadComm, ThreadExchange

    case = build_world(Seeded(21), "910_95", 4, DOC, Pins(e=3, bsk=24, shared=False,
                                                         dtype="float16"), "CALC.gmm")
    case = case.with_(dispatch=tuple(tuple(0 if k // case.e == 3 else v for k, v in
                                           enumerate(row)) for row in case.dispatch))
    case = case.with_(shared=Shared(tuple(case.bsk(r) // 2 for r in range(case.ep)), 16, 8))
    assert case.a(3) == 0 and all(case.bsk(r) > 0 for r in range(case.ep))
    exchange = ThreadExchange(case.ep, timeout=60)
    from concurrent.futures import ThreadPoolExecutor

    def rank(r: int) -> dict:
        backend = SimBackend("doc")
        ctx = RankContext(r, case.ep, case.product, ThreadComm(exchange, r), "sim")
        mat = materialise(case, r, case.call(r), data_mode=True)
        status, size, executor = backend.get_workspace_size(ctx, **mat.kwargs)
        assert status == 0
        assert backend.execute(ctx, np.zeros(size, np.uint8), size, executor, None) == 0
        return {k: b.view.copy() for k, b in mat.outputs.items()}

    with ThreadPoolExecutor(case.ep) as pool:
        outs = list(pool.map(rank, range(case.ep)))
    for r, out in enumerate(outs):
        assert judge("mixed", "y", out["y"], oracle.y_golden(case, r), case.dtype).passed
        assert judge("mixed", "mmY", out["mmY"], oracle.mm_y(case, r), case.dtype).passed


@pytest.mark.parametrize("seed", range(6))
def test_the_torch_unpermute_index_is_the_sims_unpermute(seed):
    rng = np.random.default_rng(seed)
    e, ep = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    sc = [int(v) for v in rng.integers(0, 4, e * ep)]
    sc[0] = 0
    rows = np.arange(sum(sc))[:, None]
    want = np.zeros_like(rows)
    SimBackend().unpermute({"gmm_weight": np.zeros((e, 1, 1)), "ep_world_size": ep,
                            "send_counts": sc}, rows, want)
    assert np.array_equal(rows[unpermute_index(sc, e, ep)], want)


def test_the_torch_world_passes():
    profile = DOC
    cases = [build_world(Seeded(s), "910_95", 4, profile, pins, "CALC.gmm") for s, pins in
             enumerate([Pins(dtype="bfloat16", e=2), Pins(identity=True, e=3, dtype="float16"),
                        Pins(shared=True, trans_mm=True, trans_gmm=True, dtype="float16")])]
    case, why = probe("STAGE2.workspace_small", "invalid", "910_95", 4, profile, "float16")
    assert case is not None, why
    cases.append(case)
    worlds = Worlds(BackendSpec("torch", {"behavior": "doc"}, OP.name, OP.home), timeout=60)
    try:
        results = [worlds.run(c, profile) for c in cases]
    finally:
        worlds.close()
    assert [r.outcome for r in results] == ["passed"] * len(cases), [
        [f.message for f in r.findings] for r in results]
    assert results[-1].reports[0].status2 == 161002


# -- profiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", available())
def test_every_clause_is_mapped_by_every_profile(name):
    profile = load(name)
    assert missing_mappings(profile) == []
    assert inconsistent_mappings(profile) == []
    assert profile.entries == ("v1", "v2")


def test_a_version_the_operator_lacks_says_what_is_missing():
    with pytest.raises(ProfileError, match=r"aclnnGroupedMatMulAlltoAllv has no spec profile "
                       r"'cann-2025.12': .*per-peer 2 MiB floor.*available: cann-2026.07, doc, "
                       r"doc-2026.07"):
        load("cann-2025.12")
    assert set(ops.get("alltoallv_gmm").profiles()) >= {"cann-2025.12", "cann-2026.07", "doc",
                                                         "doc-2026.07"}


def test_every_profile_has_a_sim_behaviour():
    from ops.gmm_alltoallv.sim import BEHAVIORS

    assert set(BEHAVIORS) == set(available())


# contracts/gmm_alltoallv.md section 5, read by hand: where the code at 3a280bcc returns what
# the published text does not (the text: 161001 for a null, 161002 for anything else).
DEPARTURES = {
    "COUNTTENSOR.send", "COUNTTENSOR.recv",  # step 1: 161001
    "GROUP.empty",  # step 1: 161001
    "NULL.sendCounts", "NULL.recvCounts",  # step 3: 161002
    # tiling: 561002
    "RANK.gmmX", "RANK.gmmWeight", "RANK.y", "RANK.mmX", "RANK.mmWeight", "RANK.mmY",
    "SHAPE.mmY.BS", "SHAPE.H1", "SHAPE.y.N1", "SHAPE.H2", "SHAPE.mmY.N2",
    "RANGE.e", "RANGE.e_ep", "RANGE.H1", "RANGE.BSK", "RANGE.N1", "RANGE.BS", "RANGE.K", "RANGE.H2",
    "RANGE.N2", "COUNTS.send_len", "COUNTS.recv_len", "COUNTS.send_sum", "COUNTS.recv_sum",
    "COUNTS.send_nonneg", "COUNTS.recv_nonneg",
    # checks the text does not have: transMmWeight alone, a BSK with a remainder
    "OPTPAIR.transMm", "COUNTS.bsk_multiple",
}
DEPARTURES_V2 = {"COMMMODE.null"}  # V2 op_api: 161002 for a null commMode


@pytest.mark.parametrize("product", ["910_95", "A3"])
def test_the_doc_profile_against_the_shipped_sim_fails_exactly_the_departures(product, worlds):
    failed = set()
    for clause, side, p in _sides():
        if p != product:
            continue
        case = _first_case(clause, side, product, decisive=True)
        result = worlds["cann-2026.07"].run(case, DOC)
        if result.outcome == "failed":
            failed |= {f.clause for f in result.findings}
    assert failed == DEPARTURES | DEPARTURES_V2 | {f"PRODUCT.{product}.epWorldSize"}


# -- the case as data ----------------------------------------------------------------------------

CELLS = [("RANGE.H1", "invalid", "910_95", 4), ("NULL.y", "invalid", "A3", 8),
         ("STAGE2.workspace_small", "invalid", "910_95", 8), ("COUNTS.recv_nonneg", "invalid",
         "A3", 16), ("OPTPAIR.mmY_unexpected", "invalid", "910_95", 4),
         ("COMMMODE.empty", "invalid", "910_95", 2), ("CALC.unpermute", "valid", "910_95", 4),
         ("RANGE.K", "valid", "A3", 8), ("COUNTS.bsk_multiple", "invalid", "910_95", 4)]


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(CELLS).flatmap(lambda c: clause_cases(*c, DOC)))
def test_json_and_compact_round_trips_change_nothing(case):
    text = case.to_json()
    back = Case.from_json(text)
    assert back == case and back.to_json() == text
    assert back.id == case.id and back.calls() == case.calls()
    assert Case.dict_from_compact(case.to_compact()) == json.loads(case.to_json(None))
    assert ops.case_from_dict(json.loads(text)) == case
    record = {"cell": {"operator": OP.name}, "case_z": case.to_compact()}
    assert Case.from_dict(record_case(record)) == case
    assert ops.of(case) is OP


def _valid_dict() -> dict:
    case = Case("910_95", 4, 1, 8, 2, ((1, 0, 2, 1),) * 4, shared=Shared((2, 2, 2, 2), 4, 3),
                faults=(Fault("dtype", "gmmX", "float32"),))
    return json.loads(case.to_json())


@pytest.mark.parametrize("field, value, fragment", [
    ("schema", "alltoallv-gmm-case/1", "case field 'schema': expected 'gmm-alltoallv-case/1'"),
    ("dispatch", [[1, 0, 2, 1]], "case field 'dispatch': expected a list of ep=4 rows"),
    ("dispatch", [[1, 0, 2]] * 4, "case field 'dispatch[0]': expected ep*e=4 non-negative"),
    ("weights", "ones", "case field 'weights': expected one of ('random', 'identity')"),
    ("weights", "identity", "case field 'weights': expected identity weights only where H1 == N1"),
    ("permute_out_flag", True, "case field 'permute_out_flag' is unknown"),
    ("faults", [{"op": "null", "param": "nothing"}], "case field 'faults': cannot be applied"),
])
def test_a_malformed_case_names_its_field(field, value, fragment):
    d = _valid_dict()
    d[field] = value
    with pytest.raises(CaseFormatError, match=re.escape(fragment)):
        Case.from_dict(d)


def test_the_two_operators_cases_are_told_apart_by_schema():
    mine = Case.from_dict(_valid_dict())
    dispatch = ops.get("alltoallv_gmm").case_type
    assert isinstance(ops.case_from_dict(_valid_dict()), Case)
    with pytest.raises(CaseFormatError):
        dispatch.from_dict(_valid_dict())
    assert mine.label().startswith("910_95 ep=4 e=1")


def test_a_backend_of_its_own_runs_the_operator_it_names():
    assert BackendSpec("ops.gmm_alltoallv.mutants.weights:wrong_expert_weight").operator_of() == OP.name
    assert BackendSpec("tests.support.faulty:factory").operator_of() == "alltoallv_gmm"
    assert BackendSpec("sim").operator_of() is None


@pytest.mark.parametrize("args, message", [
    (["--operator", "gmm_alltoallv", "--spec-profile", "cann-2025.12"],
     "--spec-profile: aclnnGroupedMatMulAlltoAllv has no spec profile 'cann-2025.12': "),
    (["--spec-profile", "cann-2025.12"],
     "--spec-profile: aclnnGroupedMatMulAlltoAllv has no spec profile 'cann-2025.12': "),
    (["--operator", "gmm_alltoallv", "--backend", "tests.support.faulty:factory"],
     "--operator gmm_alltoallv: --backend tests.support.faulty:factory implements "
     "alltoallv_gmm only"),
    (["--operator", "gmm_alltoallv", "--backend-option", "behavior=cann-2025.12"],
     "sim: unknown behavior 'cann-2025.12'; accepted: doc, doc-2026.07, cann-2026.07"),
])
def test_a_run_the_operator_cannot_make_stops_with_one_line(args, message):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *args], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_a_backend_of_one_operator_runs_that_one_alone_in_a_run_of_both():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--product", "910_95", "--world-sizes", "4",
                           "--backend", "ops.gmm_alltoallv.mutants.weights:wrong_expert_weight"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    cells = [line for line in proc.stdout.splitlines() if "::" in line and "NOTSET" not in line]
    # ... and the round trip made of it (ops/moe_layer/), which reports the missing dispatch as
    # not applicable (tests/test_round_trip.py)
    own = ("[gmm_alltoallv-", "[moe_layer-")
    assert cells and all(i.split("[")[1].startswith(("gmm_alltoallv-", "moe_layer-"))
                         for i in cells), [i for i in cells if not any(o in i for o in own)][:5]
    assert any("[gmm_alltoallv-" in i for i in cells)
