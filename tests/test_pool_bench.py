"""ci/bench_pool.py: a small run of the benchmark (the full 200-case run is done by hand)."""

from __future__ import annotations

import pytest

from ci import bench_pool
from ci.bench_pool import Timing, valid_cases, verdict
from ops.alltoallv_gmm import load


def test_the_cases_are_the_same_valid_cases_every_time() -> None:
    first, again = valid_cases(5, "910_95", 4, load("doc")), valid_cases(5, "910_95", 4, load("doc"))
    assert [c.to_json() for c in first] == [c.to_json() for c in again]
    assert len({c.id for c in first}) == 5 and all(c.ep == 4 for c in first)


def test_a_small_benchmark_runs_both_paths_and_prints_the_ratio(capsys) -> None:
    # Three cases: with one, the pool's world start-up is a fresh world's whole cost, and the
    # ratio sat at 1.0x, failing or passing by timing noise.
    code = bench_pool.main(["--cases", "3", "--ep", "4", "--min-ratio", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "persistent pool:" in out and "fresh processes per case:" in out
    ratio = float(out.split("ratio (fresh / pool, per case): ")[1].split("x")[0])
    assert ratio > 1, out  # reused for a few cases, start-up included, the pool is cheaper


@pytest.mark.parametrize(("pool", "fresh", "min_ratio", "code"), [
    (Timing("pool", 2.0, 100, 0), Timing("fresh", 100.0, 100, 0), 20, 0),
    (Timing("pool", 10.0, 100, 0), Timing("fresh", 100.0, 100, 0), 20, 1),  # only 10x
    (Timing("pool", 1.0, 100, 1), Timing("fresh", 100.0, 100, 0), 20, 1),  # a case failed
])
def test_the_verdict(pool: Timing, fresh: Timing, min_ratio: float, code: int) -> None:
    assert verdict(pool, fresh, min_ratio) == code


def test_bad_arguments_are_named(capsys) -> None:
    with pytest.raises(SystemExit) as err:
        bench_pool.main(["--cases", "1", "--ep", "3"])
    assert err.value.code == 2
    assert "no valid 910_95 world of ep=3 could be drawn" in capsys.readouterr().err
