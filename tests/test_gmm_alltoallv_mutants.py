"""The combine operator's mutant catalog (ops/gmm_alltoallv/mutants): the interface ci.mutation
reads, every family the issue names, entries that load as backends, validation faults that are
one entry of the sim's row (and cover every check and every range end of the table), faults the
suite catches case by case, correct variants it passes, and the quick subset killed for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ops
from ci.mutation import plan
from fixtures.backends import BackendError, BackendSpec
from fixtures.catalog import Entry
from fixtures.harness import materialise
from fixtures.protocol import RankContext
from fixtures.runner import Worlds
from ops.gmm_alltoallv import load
from ops.gmm_alltoallv import mutants as M
from ops.gmm_alltoallv.builders import INVALID, VALID
from ops.gmm_alltoallv.mutants import validation as V
from ops.gmm_alltoallv.sim import BEHAVIORS, CHECKS, SimBackend
from ops.gmm_alltoallv.worlds import Pins, build_world
from strategies.choices import Seeded, Unreachable

ROOT = Path(__file__).resolve().parents[1]
OP = ops.get("gmm_alltoallv")
DOC = load("doc")

# The faults issue 16 names, each by the entry that makes it.
REQUIRED = {
    "unpermute in expert-major order": "routing.expert_major_unpermute",
    "one expert's rows zeroed": "routing.last_expert_zeroed",
    "one expert's rows dropped": "routing.last_expert_dropped",
    "rows to the wrong destination rank": "routing.destinations_rotated",
    "off-by-one in the send offsets": "routing.send_offset_off_by_one",
    "a reversed block": "routing.reversed_destination_block",
    "stale rows": "routing.stale_last_row",
    "the wrong expert's weight": "weights.wrong_expert_weight",
    "transGmmWeight ignored": "weights.ignores_trans_gmm_weight",
    "transMmWeight ignored": "weights.ignores_trans_mm_weight",
    "mmWeight of the wrong rank": "weights.mm_weight_of_next_rank",
    "low-precision accumulation": "arithmetic.low_precision_accumulation",
    "y formed wrong": "arithmetic.shared_added_into_y",
    "y's tail unwritten": "outputs.unwritten_y_tail",
    "a write past y": "outputs.write_past_y",
    "a status code swapped": "validation.range_h1_code_swapped",
    "a check skipped": "validation.no_counts_recv_sum_check",
    "a limit off by one": "validation.h1_accepts_65536",
}


def test_the_catalog_has_the_interface_ci_mutation_reads():
    assert OP.part("mutants") is M
    assert plan.operators("gmm_alltoallv") == (OP,)
    assert set(M.__all__) >= {"CATALOG", "FAMILIES", "QUICK_ENTRIES", "QUICK_OPTIONS",
                              "QUICK_KEYWORD", "entries", "get", "factory"}
    assert all(isinstance(e, Entry) for e in M.entries())
    assert [e.name for e in M.entries()] == sorted(
        M.CATALOG, key=lambda n: (M.FAMILIES.index(n.partition(".")[0]), n))
    assert set(M.QUICK_ENTRIES) <= set(M.CATALOG)
    assert {M.get(n).family for n in M.QUICK_ENTRIES} == set(M.FAMILIES)
    assert M.QUICK_OPTIONS["product"] in OP.products
    with pytest.raises(ValueError, match="kind 'other'"):
        M.entries("other")


def test_every_family_is_present_and_every_fault_the_issue_names():
    assert set(M.FAMILIES) == {"routing", "weights", "arithmetic", "tiles", "outputs",
                               "validation", "nondeterminism", "variants"}
    for family in M.FAMILIES:
        kinds = {e.kind for e in M.entries() if e.family == family}
        assert kinds == ({"variant"} if family == "variants" else {"mutant"}), family
    missing = {fault: name for fault, name in REQUIRED.items()
               if name not in M.CATALOG or M.CATALOG[name].kind != "mutant"}
    assert not missing
    assert len(M.entries("variant")) >= 4


def test_the_two_catalogs_share_their_machinery_and_keep_their_own_entries():
    dispatch = ops.get("alltoallv_gmm").part("mutants")
    assert type(dispatch.get("routing.source_major_permute")) is Entry
    assert not set(dispatch.CATALOG) & {n for n in M.CATALOG if n.startswith("validation.")
                                        and n not in dispatch.CATALOG}
    assert all(e.cls.__module__.startswith("ops.gmm_alltoallv.mutants.") for e in M.entries())
    assert all(e.cls.__module__.startswith("ops.alltoallv_gmm.mutants.")
               for e in dispatch.entries())


@pytest.mark.parametrize("entry", M.entries(), ids=lambda e: e.name)
def test_every_entry_loads_as_a_backend_of_the_combine(entry):
    assert entry.description.strip() and "\n" not in entry.description
    assert issubclass(entry.cls, SimBackend) and entry.cls is not SimBackend
    for options in ({}, {"behavior": "doc"}, {"behavior": "cann-2026.07"}):
        backend = BackendSpec(entry.target, options).make()
        assert type(backend) is entry.cls and backend.operator == OP.name
        assert backend.behavior == options.get("behavior", "doc")
    by_name = BackendSpec("ops.gmm_alltoallv.mutants:factory", {"entry": entry.name}).make()
    assert type(by_name) is entry.cls
    assert BackendSpec(entry.target).operator_of() == OP.name


def test_an_unknown_name_is_one_clear_error():
    with pytest.raises(BackendError, match=re.escape("unknown catalog entry 'routing.nosuch'")):
        BackendSpec("ops.gmm_alltoallv.mutants:factory", {"entry": "routing.nosuch"}).make()


# -- validation: one entry of the row, every check and every end covered ----------------------


@pytest.mark.parametrize("entry", M.entries("mutant"), ids=lambda e: e.name)
def test_a_validation_fault_changes_the_sims_row_not_its_checks(entry):
    changed = {}
    for behavior, reference in BEHAVIORS.items():
        row = entry.make(behavior=behavior).table
        changed[behavior] = [f for f in ("codes", "limits", "absent", "ep_sizes", "comm_modes")
                             if getattr(row, f) != getattr(reference, f)]
    if entry.family != "validation" or entry.name == "validation.tiling_in_second_stage":
        assert not any(changed.values()), changed
    else:
        assert entry.cls.check is SimBackend.check
        assert max(map(len, changed.values())) == 1, changed


def test_every_check_has_its_code_swapped_and_its_absence_and_every_limit_both_ends():
    names = set(M.CATALOG)
    for check in set(CHECKS) - V.NEVER:
        ident = check.replace(".", "_").lower()
        assert f"validation.{ident}_code_swapped" in names, check
        assert (f"validation.no_{ident}_check" in names) != (check in V.NOT_LEFT_OUT), check
    for limit, (low, high) in BEHAVIORS["doc"].limits.items():
        if limit.startswith("volume.") or limit == "BS":
            continue
        ident = limit.lower()
        ends = [(low, low - 1, V.NO_LOW_OUTSIDE)] * (limit not in V.NO_LOW_END) + (
            [(high, high + 1, V.NO_HIGH_OUTSIDE)] if high is not None else [])
        for end, outside, cannot in ends:
            assert f"validation.{ident}_rejects_{end}" in names, (limit, end)
            assert (f"validation.{ident}_accepts_{outside}" in names) != (limit in cannot), \
                (limit, end)


def _first_stage(backend: SimBackend, case, rank: int = 0) -> int:
    call = case.call(rank)
    mat = materialise(case, rank, call, data_mode=False)
    extra = {"null_outputs": call.null_pointers} if call.null_pointers else {}
    ctx = RankContext(rank, case.ep, case.product, comm=None)
    return backend.get_workspace_size(ctx, **mat.kwargs, **extra)[0]


@pytest.mark.parametrize("name, clause, side", [
    ("h1_accepts_65536", "RANGE.H1", "invalid"),
    ("k_rejects_8", "RANGE.K", "valid"),
    ("no_counts_recv_sum_check", "COUNTS.recv_sum", "invalid"),
    ("range_e_code_swapped", "RANGE.e", "invalid"),
    ("group_null_code_swapped", "NULL.group", "invalid"),
])
def test_a_validation_mutant_differs_from_the_sim_on_its_clause(name, clause, side):
    """Some case the builders draw on that side of the clause gets another first-stage status
    from the mutant than from the sim (the builders reach the very value the fault moves)."""
    entry = M.get(f"validation.{name}")
    table = INVALID if side == "invalid" else VALID
    differs = []
    for seed in range(6):
        try:
            case = table[clause](Seeded(seed), "910_95", 8, DOC)
        except Unreachable:
            continue
        differs.append(_first_stage(entry.make(), case) != _first_stage(SimBackend(), case))
    assert differs and any(differs)


# -- faults caught, variants passed, case by case ------------------------------------------------


def _run(target: str, case):
    worlds = Worlds(BackendSpec(target, {"behavior": "doc"}, OP.name, OP.home))
    try:
        return worlds.run(case, DOC)
    finally:
        worlds.close()


CASE = dict(seed=21, product="910_95", ep=4)


@pytest.mark.parametrize("name", ["routing.destinations_rotated", "routing.send_offset_off_by_one",
                                  "routing.stale_last_row", "weights.gmm_weight_of_next_rank",
                                  "weights.mm_weight_of_next_rank",
                                  "arithmetic.shared_added_into_y"])
def test_a_fault_is_caught_on_an_ordinary_world(name):
    case = build_world(Seeded(CASE["seed"]), CASE["product"], CASE["ep"], DOC,
                       Pins(e=3, bsk=48, shared=True, trans_gmm=False), "CALC.gmm")
    result = _run(M.get(name).target, case)
    assert result.outcome == "failed", name
    assert {f.clause for f in result.findings} & {
        "CALC.gmm", "CALC.mm", "CALC.transGmmWeight", "CALC.transMmWeight", "CALC.unpermute",
        "OUT.written"}


@pytest.mark.parametrize("entry", M.entries("variant"), ids=lambda e: e.name)
@pytest.mark.parametrize("identity", [False, True])
def test_a_correct_variant_passes(entry, identity):
    case = build_world(Seeded(CASE["seed"]), CASE["product"], CASE["ep"], DOC,
                       Pins(e=3, bsk=48, shared=True, identity=identity, trans_gmm=True),
                       "CALC.gmm")
    result = _run(entry.target, case)
    assert result.outcome == "passed", [f.message for f in result.findings]


# -- the quick subset, for real -----------------------------------------------------------------


@pytest.mark.slow
def test_the_quick_subset_kills_every_mutant_and_passes_every_variant(tmp_path):
    out = tmp_path / "mutation.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    proc = subprocess.run([sys.executable, "-m", "ci.mutation", "--operator", OP.name, "--quick",
                           "--seeds", "1", "--json", str(out)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "false alarms: none" in proc.stdout and "RESULT: PASSED (exit 0)" in proc.stdout
    data = json.loads(out.read_text())
    mutants = [e for e in data["entries"] if e["kind"] == "mutant"]
    assert {e["name"].split(".")[0] for e in mutants} == set(M.FAMILIES) - {"variants"}
    assert data["kill_rate"] == {"killed": len(mutants), "mutants": len(mutants)}
    for e in mutants:
        assert e["runs"][0]["killed"], e["name"]
    variants = [e for e in data["entries"] if e["kind"] == "variant"]
    assert len(variants) == len(M.entries("variant"))
    for e in variants:
        assert not e["runs"][0]["failures"] and e["runs"][0]["ran"], e["name"]


def test_a_fault_of_v2s_comm_mode_is_left_out_of_a_v1_tier_and_run_in_a_v2_one():
    from argparse import Namespace

    v2_only = {e.name for e in M.entries() if e.entry_points == ("v2",)}
    assert v2_only >= {"validation.no_comm_mode_null_check", "validation.a3_accepts_ccu"}

    def resolve(extra: list[str]) -> tuple[set[str], list[str]]:
        args = Namespace(jobs=1, seeds="1", names=["validation"], quick=False,
                         spec_profile="doc", product="A3,910_95", world_sizes=None)
        chosen, _, _ = plan.resolve(OP, args, extra)
        return {e.name for e in chosen}, args.left_out_entry

    v1, left_out = resolve([])
    assert not v1 & v2_only and set(left_out) == v2_only
    v2, left_out = resolve(["-k", "invalid", "--entry", "v2"])
    assert v2 >= v2_only and not left_out
