"""What a case tells about the contract's clause sides (`fixtures.runner.told`): decided when the
runner runs the case, so the compliance matrix and the run's coverage line only count. Real cases
on the simulator and on a catalog mutant; the decided-elsewhere rule on planted records is in
tests/test_reports_matrix.py."""

from __future__ import annotations

import pytest

from fixtures.backends import BackendSpec
from fixtures.runner import Worlds
from ops.alltoallv_gmm import load
from spec.outcome import BROKEN, HELD
from strategies import probe

PROFILE = load("doc")


def _case(clause: str, side: str, stage: str | None = None):
    case, why = probe(clause, side, "910_95", 4, PROFILE, "float16")
    assert case is not None, why
    return case.with_(stage=stage) if stage else case


def _told(backend: str, case, **options) -> dict[tuple[str, str], object]:
    worlds = Worlds(BackendSpec(backend, {"behavior": "doc", **options}))
    try:
        result = worlds.run(case, PROFILE)
    finally:
        worlds.close()
    return {(t.clause, t.side): t for t in result.told}


@pytest.fixture(scope="module")
def computed() -> dict:
    return _told("sim", _case("CALC.gmm", "valid", stage="both"))


def test_a_computed_case_tells_its_outputs_held(computed):
    assert computed[("CALC.gmm", "valid")].verdict == HELD
    assert computed[("OUT.written", "valid")].verdict == HELD
    assert all(t.side == "valid" and t.verdict == HELD for t in computed.values())


def test_a_case_that_never_computed_its_outputs_tells_nothing_of_them():
    # It passed, and still says nothing of CALC.gmm: gmmY was never judged.
    assert _told("sim", _case("CALC.gmm", "valid", stage="first")) == {}


def test_an_invalid_case_tells_the_invalid_side_of_its_clause():
    told = _told("sim", _case("RANGE.H1", "invalid"))
    assert told[("RANGE.H1", "invalid")].verdict == HELD
    assert ("RANGE.H1", "valid") not in told


def test_a_broken_clause_is_told_broken_with_its_first_finding():
    told = _told("ops.alltoallv_gmm.mutants.arithmetic:wrong_expert_weight",
                 _case("CALC.gmm", "valid", stage="both"))
    broken = told[("CALC.gmm", "valid")]
    assert broken.verdict == BROKEN and broken.why.startswith("numeric: ")
    assert broken.record() == {"clause": "CALC.gmm", "side": "valid", "verdict": BROKEN,
                               "why": broken.why}
