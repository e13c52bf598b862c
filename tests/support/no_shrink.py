"""A pytest plugin for the small runs of the suite's own tests: hypothesis without its shrink
phase (`-p tests.support.no_shrink`).

A run against a backend with planted faults fails many cells on purpose; shrinking each failing
case costs a hundred more cases, and what these tests check (the reports, the matrix, the gate)
does not depend on the failing case being minimal. Loaded after conftest.py has chosen the
hypothesis profile, it keeps that profile and only drops the shrink (and explain) phases.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings

PROFILE = "tests-no-shrink"


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    current = settings.default
    phases = [p for p in current.phases if p not in (Phase.shrink, Phase.explain)]
    settings.register_profile(PROFILE, parent=current, phases=phases)
    settings.load_profile(PROFILE)
