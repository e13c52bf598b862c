"""The operator's mutant catalog (ops/alltoallv_gmm/mutants): every entry loads as a backend and
honours the sim's options, a validation fault is one entry of the sim's row changed (never a
check restated), and the helpers the faults use stay inside their memory."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fixtures.backends import BackendError, BackendSpec
from fixtures.harness import GUARD_BYTE, materialise
from fixtures.protocol import RankContext
from ops.alltoallv_gmm import load
from ops.alltoallv_gmm import mutants as M
from ops.alltoallv_gmm.builders import INVALID, VALID
from ops.alltoallv_gmm.clauses import CLAUSE
from ops.alltoallv_gmm.mutants import validation as V
from ops.alltoallv_gmm.mutants._base import spill
from ops.alltoallv_gmm.sim import BEHAVIORS, CHECKS, SimBackend
from ops.alltoallv_gmm.worlds import Unreachable
from strategies.choices import Seeded

# The faults issue 6 asks the catalog to cover, each by the entries that do.
REQUIRED = {
    "source-rank-major permute": "routing.source_major_permute",
    "one expert's block reversed": "routing.reversed_expert_block",
    "off-by-one in an offset": "routing.source_offset_off_by_one",
    "send and recv counts swapped": "routing.send_recv_swapped",
    "counts read rank-major vs expert-major": "routing.counts_expert_major",
    "ignored transGmmWeight": "arithmetic.ignores_trans_gmm_weight",
    "ignored transMmWeight": "arithmetic.ignores_trans_mm_weight",
    "wrong expert's weight": "arithmetic.wrong_expert_weight",
    "shared expert skipped": "arithmetic.shared_expert_skipped",
    "fp16 accumulation": "arithmetic.low_precision_accumulation",
    "a dropped last row": "arithmetic.last_row_dropped",
    "unwritten tail": "outputs.unwritten_tail",
    "a write past the end of gmmY": "outputs.write_past_gmm_y",
    "permuteOut written when the flag is false": "outputs.permute_out_unrequested",
    "inputs modified": "outputs.gmm_x_clobbered",
    "a range boundary off by one": "validation.h1_accepts_65536",
    "a check missing": "validation.no_recv_sum_check",
    "a wrong status code": "validation.dtype_error_nullptr",
    "errors reported at the wrong stage": "validation.tiling_in_second_stage",
    "ep the product does not support": "validation.a3_accepts_ep4",
    "nondeterminism": "nondeterminism.racy_split_k",
}


def test_the_catalog_is_large_enough_and_covers_every_fault_the_issue_names():
    assert len(M.entries("mutant")) >= 30
    assert {e.name for e in M.entries("variant")} >= {
        "variants.float64_accumulation", "variants.reversed_block_order", "variants.chunked_pipeline"}
    missing = {fault: name for fault, name in REQUIRED.items()
               if name not in M.CATALOG or M.CATALOG[name].kind != "mutant"}
    assert not missing


@pytest.mark.parametrize("entry", M.entries(), ids=lambda e: e.name)
def test_every_entry_loads_as_a_backend_with_a_one_line_description(entry):
    assert entry.description.strip() and "\n" not in entry.description
    assert issubclass(entry.cls, SimBackend) and entry.cls is not SimBackend
    for options in ({}, {"behavior": "doc"}, {"behavior": "cann-2025.12"}):
        backend = BackendSpec(entry.target, options).make()
        assert type(backend) is entry.cls
        assert backend.behavior == options.get("behavior", "doc")
    by_name = BackendSpec("ops.alltoallv_gmm.mutants:factory", {"entry": entry.name}).make()
    assert type(by_name) is entry.cls
    with pytest.raises(BackendError, match=re.escape("accepted: doc, cann-2025.12")):
        BackendSpec(entry.target, {"behavior": "cann-2030"}).make()


def test_an_unknown_catalog_name_is_one_clear_error():
    with pytest.raises(BackendError, match=re.escape("unknown catalog entry 'routing.nosuch'")):
        BackendSpec("ops.alltoallv_gmm.mutants:factory", {"entry": "routing.nosuch"}).make()


def _probe_cases(seeds: int = 3):
    """Cases on both sides of every clause, both products, two world sizes each."""
    for behavior in ("doc", "cann-2025.12"):
        profile = load(behavior)
        for cid in CLAUSE:
            for table in (VALID, INVALID):
                if cid not in table:
                    continue
                for product, ep in (("910_95", 4), ("A3", 8)):
                    if product not in CLAUSE[cid].products:
                        continue
                    for s in range(seeds):
                        try:
                            yield behavior, table[cid](Seeded(s), product, ep, profile)
                        except (Unreachable, KeyError, ValueError):
                            continue


def _first_stage(backend: SimBackend, case, rank: int) -> int:
    call = case.call(rank)
    mat = materialise(case, rank, call, data_mode=False)
    extra = {"null_outputs": call.null_pointers} if call.null_pointers else {}
    ctx = RankContext(rank, case.ep, case.product, comm=None)
    return backend.get_workspace_size(ctx, **mat.kwargs, **extra)[0]


@pytest.mark.parametrize("entry", M.entries(), ids=lambda e: e.name)
def test_a_validation_fault_changes_the_sims_row_not_its_checks(entry):
    """Every validation mutant keeps the sim's checks: it differs from the reference in one part
    of its version's row (codes, limits, checks left out, world sizes; in none where the version
    itself does what the fault does), or in the stage that reports the tiling; every other
    family leaves the row alone."""
    changed = {}
    for behavior, reference in BEHAVIORS.items():
        row = entry.make(behavior=behavior).table
        changed[behavior] = [f for f in ("codes", "limits", "absent", "ep_sizes")
                             if getattr(row, f) != getattr(reference, f)]
    if entry.family != "validation" or entry.name == "validation.tiling_in_second_stage":
        assert not any(changed.values()), changed
    else:
        assert entry.cls.check is SimBackend.check
        assert max(map(len, changed.values())) == 1, changed


def test_every_check_has_its_code_swapped_and_its_absence_and_every_limit_both_ends():
    """The table's faults are all there (fixtures.catalog.TableFaults), but for the ones the
    validation module says no call shows, or has under a name of its own."""
    names = {n.partition(".")[2] for n in M.CATALOG if n.startswith("validation.")}
    made = names | V.MADE_BY_HAND
    for check in CHECKS:
        ident = check.replace(".", "_").lower()
        assert f"{ident}_code_swapped" in made, check
        assert (f"no_{ident}_check" in made) != (check in V.NOT_LEFT_OUT), check
    for limit, (low, high) in BEHAVIORS["doc"].limits.items():
        ident = limit.replace(".", "_").lower()
        ends = [(low, low - 1, V.NO_LOW_OUTSIDE)] * (limit not in V.NO_LOW_END) + (
            [(high, high + 1, V.NO_HIGH_OUTSIDE)] if high is not None else [])
        for end, outside, cannot in ends:
            assert f"{ident}_rejects_{end}" in made, (limit, end)
            assert (f"{ident}_accepts_{outside}" in made) != (limit in cannot), (limit, end)
    assert not V.MADE_BY_HAND & names


def test_a_table_fault_applies_under_the_profiles_whose_row_has_what_it_changes():
    """A fault of a check one version lacks is no fault there; one the published text cannot
    tell (two readings of a code, a check shadowed by the next) is one of shipped code only."""
    texts = {"doc", "doc-2026.07"}
    for entry in M.entries("mutant"):
        name = entry.name.partition(".")[2]
        check = next((c for c in CHECKS if name in (f"no_{c.replace('.', '_').lower()}_check",
                                                    f"{c.replace('.', '_').lower()}_code_swapped")),
                     None)
        if entry.family != "validation" or check is None or name in V.MADE_BY_HAND:
            continue
        has = {p for p, row in BEHAVIORS.items() if check not in row.absent}
        if (check in V.TWO_READINGS and name.endswith("_code_swapped")) or (
                check in V.SHADOWED_UNDER_DOC and name.startswith("no_")):
            has -= texts
        assert set(entry.profiles or BEHAVIORS) == has, (entry.name, entry.profiles)
    assert M.get("validation.no_volume_peer_send_check").profiles == ("cann-2025.12",)
    assert M.get("validation.volume_card_rejects_2097152").profiles == ("doc",)


@pytest.mark.parametrize("name", ["no_recv_sum_check", "h1_accepts_65536"])
def test_a_validation_mutant_differs_from_the_sim_where_it_says(name):
    entry = M.get(f"validation.{name}")
    clause = {"no_recv_sum_check": "COUNTS.recv_sum", "h1_accepts_65536": "RANGE.H1"}[name]
    differs = []
    for behavior, case in _probe_cases(seeds=4):
        if case.clause != clause or case.side != "invalid":
            continue
        differs.append(_first_stage(entry.make(behavior=behavior), case, 0)
                       != _first_stage(SimBackend(behavior), case, 0))
    assert differs and any(differs)


@pytest.mark.parametrize("change", [
    {"omitted": frozenset({"no.such.check"})},
    {"codes": {"no.such.check": 161001}},
    {"limits": {"H7": (1, 2)}},
])
def test_only_named_checks_and_limits_can_be_changed(change):
    typo = type("Typo", (SimBackend,), change)
    with pytest.raises(ValueError, match=re.escape("sim: no check or limit named")):
        typo()


def test_spill_writes_past_a_view_but_never_past_its_allocation():
    base = np.full(20, GUARD_BYTE, np.uint8)
    view = base[4:12]
    assert spill(view, np.arange(4, dtype=np.uint8)) == 4
    assert base[12:16].tolist() == [0, 1, 2, 3] and (base[16:] == GUARD_BYTE).all()
    assert spill(base[4:18], np.zeros(8, np.uint8)) == 2  # only two bytes are left
    assert spill(base, np.zeros(8, np.uint8)) == 0
