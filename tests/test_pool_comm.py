"""The rank processes' communicator (fixtures/pool/comm.py): the harness's vote and the
operator's collectives carry their own tags, so a world out of step names its culprits.

Here torch.distributed is a stand-in that shows rank 0 the headers its peers would send; the
same diagnosis in real rank processes is tests/test_faults.py (the `skip` fault)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from fixtures.harness import run_rank
from fixtures.pool.comm import META, TAG_HARNESS, TAG_OPERATOR, WIRE_DTYPES, TorchComm
from fixtures.protocol import CommAborted, RankContext
from tests.support.pool_backends import AnyWorld
from tests.support.pool_cases import any_world_plan, result_of


class Peers:
    """torch.distributed as rank 0 sees it: the header rows `peers` sends it (by rank), its own
    row to itself, and its own bytes back (a world of one)."""

    def __init__(self, peers: dict[int, list[int]] | None = None) -> None:
        self.peers = peers or {}
        self.tags: list[int] = []  # the tag of every collective rank 0 started

    def all_to_all_single(self, output: torch.Tensor, input: torch.Tensor, *split_sizes: object,
                          group: object = None) -> None:
        if output.dtype != torch.int64:  # the bytes, after the headers agreed
            output.copy_(input)
            return
        rows = input.numpy().reshape(-1, META).copy()
        self.tags.append(int(rows[0, 1]))
        for rank, row in self.peers.items():
            rows[rank] = 0
            rows[rank, :len(row)] = row
        output.copy_(torch.from_numpy(rows.reshape(-1)))


def comm_of(size: int, peers: Peers) -> TorchComm:
    comm = TorchComm(0, size)
    comm.dist = peers
    return comm


def header(seq: int, tag: int) -> list[int]:
    """A peer's header for a one-element int8 chunk (what a vote sends)."""
    return [seq, tag, WIRE_DTYPES.index(np.dtype(np.int8)), 1, 1, 1]


def test_the_harness_votes_through_the_communicator_and_the_operator_uses_alltoallv() -> None:
    class Recording:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def alltoallv(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
            self.calls.append("alltoallv")
            return [np.array(c, copy=True) for c in chunks]

        def barrier(self) -> None:
            self.calls.append("barrier")

        def vote(self, ok: bool) -> bool:
            self.calls.append("vote")
            return ok

    plan = any_world_plan(1, 3)
    comm = Recording()
    report = run_rank(plan, 0, AnyWorld(behavior="doc"), RankContext(0, 1, plan.case.product, comm, "g"))
    assert result_of(plan, [report]).passed
    # go on after the first stage, the sim's routing, the vote to repeat, go on, the routing
    assert comm.calls == ["vote", "alltoallv", "vote", "vote", "alltoallv"]


def test_each_collective_carries_whose_it_is() -> None:
    peers = Peers()
    comm = comm_of(1, peers)
    sent = np.arange(6, dtype=np.float16).reshape(2, 3)
    (got,) = comm.alltoallv([sent])
    assert got.dtype == sent.dtype and np.array_equal(got, sent)
    assert comm.vote(True) is True and comm.vote(False) is False
    comm.barrier()
    assert peers.tags == [TAG_OPERATOR, TAG_HARNESS, TAG_HARNESS, TAG_OPERATOR]
    assert comm.seq == 4 and comm.broken is None and comm.fault is None


DESYNCS = [
    # (rank 0 calls, rank 1's header, the diagnosis, the culprits)
    ("vote", header(1, TAG_OPERATOR),
     "collective #1: rank(s) [0] left the operator without joining its collective; rank(s) [1] "
     "waited in the operator", [0]),
    ("alltoallv", header(1, TAG_HARNESS),
     "collective #1: rank(s) [1] left the operator without joining its collective; rank(s) [0] "
     "waited in the operator", [1]),
    ("alltoallv", header(2, TAG_OPERATOR),
     "collective #1: rank(s) [1] are at another collective (rank 1 at #2)", [1]),
]


@pytest.mark.parametrize(("call", "peer", "says", "culprits"), DESYNCS,
                         ids=["voted-early", "peer-voted-early", "peer-skipped"])
def test_a_world_out_of_step_names_its_culprits(call: str, peer: list[int], says: str,
                                                culprits: list[int]) -> None:
    comm = comm_of(2, Peers({1: peer}))
    flag = np.array([1], np.int8)
    with pytest.raises(CommAborted, match=f"^{re.escape(says)}$"):
        if call == "vote":
            comm.vote(True)
        else:
            comm.alltoallv([flag, flag])
    assert comm.fault == {"culprits": culprits, "message": says}
    assert comm.broken == says
    with pytest.raises(CommAborted, match=f"^{re.escape(says)}$"):
        comm.vote(True)  # a broken world stays broken until it restarts
