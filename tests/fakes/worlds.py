"""Worlds of threads over the fake CANN libraries, for the aclnn backends' tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fixtures.world import ThreadWorld
from tests.fakes import ranks

# Seconds a fake world's case may take before its ranks count as stuck: generous, since a first
# case on a loaded 2-core runner (xdist beside process-pool tests) took over 30 s; a real
# deadlock still fails, later.
WORLD_TIMEOUT = 120.0


def acl_world(make: Callable[[str], Any], fake: tuple[Path, Any]) -> Iterator[ThreadWorld]:
    """Four ranks of `make(lib_dir)` (an aclnn backend) bound to their threads; after the
    world, every rank closed and nothing left allocated in the fake."""
    lib_dir, lib = fake
    backends: list[Any] = []

    def bound() -> ranks.Bound:
        backends.append(make(str(lib_dir)))
        return ranks.Bound(backends[-1])

    world = ThreadWorld(4, bound, timeout=WORLD_TIMEOUT)
    yield world
    world.close()
    for backend in backends:
        backend.close()
    assert lib.fake_live_allocations() == 0 and lib.fake_live_handles() == 0
