"""The toy AlltoAllv (tests/support/toy_operator.py) from torch ops, in the process pool.

Its first stage is the toy simulator's; its second moves x's rows with
`torch.distributed.all_to_all_single` and split sizes straight into y (the rows arrive source by
source, which is y's layout), so the toy runs on the engine's multi-process world as well as on
its turn world, by another path than the simulator's communicator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fixtures.protocol import RankContext
from tests.support import toy_operator as toy

WORLD = "processes"
DIST_BACKEND = "gloo"
BEHAVIORS = toy.BEHAVIORS  # its first stage is the sim's, so it follows the same versions


def _rows(array: np.ndarray) -> Any:
    """A (rows, bytes per row) uint8 tensor over a 2-D array's memory: rows move as raw bits."""
    import torch

    return torch.from_numpy(array.view(np.uint8).reshape(array.shape[0],
                                                        array.shape[1] * array.itemsize))


class ToyTorch(toy.ToySim):
    world = "processes"

    def exchange(self, ctx: RankContext, ex: toy.ToyExecutor) -> None:
        import torch.distributed as dist

        if not (ex.x.flags.c_contiguous and ex.y.flags.c_contiguous):
            raise ValueError("x and y must be C-contiguous: rows move as their bytes, in place")
        dist.all_to_all_single(_rows(ex.y), _rows(ex.x), ex.recv_counts, ex.send_counts)


def factory(**options: Any) -> ToyTorch:
    return ToyTorch(**options)
