"""How big the drawn worlds may be in this run: the PR tier keeps them small, nightly does not.

A case whose world is too big for the tier runs its first stage only (validation needs shapes,
not data), and the report shows it as first-stage-only, never as computed. On Atlas A3 the
shipped per-peer volume floor makes every world at least ep x ep x 2 MiB, so the PR tier computes
A3 worlds of 8 ranks and leaves 16, 32 and 64 ranks to the nightly tier.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class Tier:
    name: str
    memory_budget: int  # host bytes an in-process world may use to compute a case
    small_world: int  # bytes under which a world counts as small
    large_world_max_ep: int  # a world that is not small is computed up to this many ranks
    boundary_max_ep: int  # boundary and valid-side cases are computed up to this many ranks
    max_count: int  # the largest per-expert count in a small random world
    max_h1: int  # the largest H1 of a small random world (A3 volume worlds excepted)
    # After a cell's first failing case, at most this many more cases run for it (hypothesis
    # shrinking and explaining the failure) and for at most this long: on hardware each is a
    # world's device time; the replay command takes the case further.
    after_failure_runs: int = 0
    after_failure_seconds: float = 0.0

    def computable(self, world_bytes: int, ep: int) -> str | None:
        """None when a world may compute its outputs in this tier, else why not."""
        if world_bytes > self.memory_budget:
            return (f"the world needs {world_bytes / GIB:.1f} GiB, over the {self.name} tier's "
                    f"{self.memory_budget / GIB:.0f} GiB")
        if world_bytes > self.small_world and ep > self.large_world_max_ep:
            return (f"a world of {world_bytes / MIB:.0f} MiB on {ep} ranks is computed in the "
                    "nightly tier")
        return None


TIERS = {
    "pr": Tier("pr", memory_budget=4 * GIB, small_world=64 * MIB, large_world_max_ep=8,
               boundary_max_ep=16, max_count=4, max_h1=8192),  # first failing case, as is
    "nightly": Tier("nightly", memory_budget=11 * GIB, small_world=512 * MIB,
                    large_world_max_ep=64, boundary_max_ep=64, max_count=12, max_h1=16384,
                    after_failure_runs=30, after_failure_seconds=120.0),
}

_current = TIERS["pr"]


def current() -> Tier:
    return _current


def use(name: str) -> Tier:
    """Select the tier (the conftest does, from the hypothesis profile)."""
    global _current
    if name not in TIERS:
        raise ValueError(f"unknown tier {name!r}; accepted: {', '.join(TIERS)}")
    _current = TIERS[name]
    return _current
