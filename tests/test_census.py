"""The census of a run's records (reports/census.py): which computed cases crossed which tile
boundary, read from compact (passing) and whole (failing) records, and its exit status."""

from __future__ import annotations

from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.tile_worlds import REQUIRED
from reports import census as C
from reports.results import load
from tests.support.runs import OPERATOR, case, cell, item, run_module, write_results

EP, E = 4, 5


def _world(**kw) -> Case:
    send = [[0] * (EP * E) for _ in range(EP)]
    send[0][0] = 300  # rank 0's expert 0: 300 rows, past the largest M tile
    for s in range(1, EP):
        send[s][E] = 1
    base = dict(product="910_95", ep=EP, e=E, h1=4097, n1=300, send=tuple(map(tuple, send)))
    return Case(**{**base, **kw})


def _record(c: Case, computed: bool = True, compact: bool = True) -> dict:
    rec = case(cell("CALC.gmm"), outcome="passed" if compact else "failed", computed=computed)
    del rec["case"]
    if compact:
        rec["case_z"] = c.to_compact()
    else:
        rec["case"] = c.to_dict()
    return rec


def _folder(tmp_path, records: list[dict]):
    return write_results(tmp_path / "run", [item(cell("CALC.gmm"))], records)


def test_counts_each_boundary_over_computed_cases_only(tmp_path) -> None:
    small = _world(e=1, h1=4096, n1=512, send=((1, 1, 1, 1),) * 4)
    records = [_record(_world()), _record(_world(), compact=False), _record(small),
               _record(_world(), computed=False)]
    computed, counts = C.census(load(_folder(tmp_path, records)), OPERATOR)
    assert computed == 3
    assert counts == {"group_rows>M_tile": 2, "N_tail": 2, "H1_K_tail": 2, "e>=5": 2}


def test_exit_0_only_when_every_minimum_holds(tmp_path) -> None:
    send = [[0] * (EP * E) for _ in range(EP)]
    send[0][0] = 70000  # more rows than a 16-bit index addresses
    for s in range(1, EP):
        send[s][E] = 1
    big = _world(send=tuple(map(tuple, send)))
    need = max(REQUIRED.values())
    full = _folder(tmp_path / "full", [_record(big) for _ in range(need)])
    proc = run_module("reports.census", str(full))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"{OPERATOR}: computed cases: {need} (in {full})")
    assert "RESULT: every minimum holds" in proc.stdout
    assert f"{need:6d} (required {REQUIRED['N_tail']:3d}) with N1 or N2 above 256" in proc.stdout
    short = _folder(tmp_path / "short", [_record(big) for _ in range(need - 1)])
    proc = run_module("reports.census", str(short))
    assert proc.returncode == 1
    assert (f"below minimum: {OPERATOR} group_rows>M_tile, {OPERATOR} N_tail, {OPERATOR} "
            f"H1_K_tail, {OPERATOR} e>=5") in proc.stdout
    assert "rows>index_width" not in proc.stdout.splitlines()[-1]


def test_unreadable_records_are_one_line_and_exit_2(tmp_path) -> None:
    proc = run_module("reports.census", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "not a folder" in proc.stderr
