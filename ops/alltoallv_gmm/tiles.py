"""The tile structure of a kernel, as data: where its faults live, so the strategies draw there.

An NPU kernel for this operator tiles the rows of each expert group (M), the output columns (N)
and the reduction (K), merges experts into chunks, caps the group count and indexes rows in
fixed-width integers. A fault of such a kernel sits in the tail of a tile or just past an index
width, so a computed world must land on both sides of every boundary. Each kernel's tiling is one
`Tiling`; a new kernel is a new table in `TILINGS`, and `strategies/tiles.py` reads whichever is
named. The contract's own ranges (H1 < 65536, H2 <= 12288, e <= 32, ...) stay in spec/clauses.py:
the strategies drop every value a profile does not accept.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    """The tile sizes of one dimension and the values past them that real shapes reach."""

    tiles: tuple[int, ...]
    extra: tuple[int, ...] = ()

    def values(self) -> tuple[int, ...]:
        """Both sides of every tile boundary (t - 1, t, t + 1), then the extra values, ascending."""
        around = {v for t in self.tiles for v in (t - 1, t, t + 1) if v > 0}
        return tuple(sorted(around | set(self.extra)))

    def past(self, bound: int) -> tuple[int, ...]:
        """The values above `bound` that are not a multiple of it: a tile's tail."""
        return tuple(v for v in self.values() if v > bound and v % bound)

    @property
    def largest(self) -> int:
        return max(self.tiles)


@dataclass(frozen=True)
class Tiling:
    name: str
    source: str  # where the numbers come from
    m: Axis  # rows of one expert group
    n: Axis  # output columns (N1 of the grouped matmul, N2 of the shared expert)
    k: Axis  # the reduction (H1, H2)
    k_block: int  # the reduction length one pass of the kernel covers
    experts_per_chunk: tuple[tuple[int, int], ...]  # (largest e, experts merged per chunk)
    group_cap: int  # the largest GMM group count (chunks x ep)
    row_index_limit: int  # rows of one rank a narrow (16-bit) row index can address

    def chunk_edges(self) -> tuple[int, ...]:
        """e on both sides of every change of the chunking: the last e of a regime and the next."""
        edges = {v for e_max, _ in self.experts_per_chunk for v in (e_max, e_max + 1)}
        return tuple(sorted(edges))

    def experts_in_chunk(self, e: int) -> int:
        for e_max, per_chunk in self.experts_per_chunk:
            if e <= e_max:
                return per_chunk
        return self.experts_per_chunk[-1][1]


# The 2026 kernel (ops-transformer 90a96c4b6, 2026-07-20; /work/shared/contracts/
# alltoallv_gmm-2026.md): cube tiles of 16 (fractal), 128 and 256 rows, base N of 16, 256 and
# 512 columns, the reduction in passes of 4096; one expert per chunk for e <= 4, four for
# 5 <= e <= 16, more above (min(e, 128/ep, e/2)); at most 128 groups; 16-bit row indices in
# the tiling's per-expert tables.
KERNEL_2026 = Tiling(
    name="alltoallv-gmm-2026",
    source="mirror-cann/ops-transformer 90a96c4b6 (2026-07-20), CalcExpertNum and the GMM tiling",
    m=Axis(tiles=(16, 128, 256), extra=(383, 511, 513, 1000, 2049, 4095, 4096, 4097)),
    n=Axis(tiles=(16, 256, 512), extra=(1000, 4097)),
    k=Axis(tiles=(16, 256, 4096), extra=(7168, 8191, 12288, 12289)),
    k_block=4096,
    experts_per_chunk=((4, 1), (16, 4), (32, 8)),
    group_cap=128,
    row_index_limit=1 << 16,
)

TILINGS: dict[str, Tiling] = {t.name: t for t in (KERNEL_2026,)}
DEFAULT = KERNEL_2026.name


def tiling(name: str = DEFAULT) -> Tiling:
    if name not in TILINGS:
        raise KeyError(f"unknown tiling {name!r}; accepted: {', '.join(TILINGS)}")
    return TILINGS[name]
