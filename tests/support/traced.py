"""The simulator with a provenance (fixtures/protocol.py), for the tests of the run's records:
`--backend tests.support.traced:factory --backend-option op_library=PATH`."""

from __future__ import annotations

from ops.alltoallv_gmm.sim import SimBackend


class TracedSim(SimBackend):
    def __init__(self, behavior: str = "doc", op_library: str = "") -> None:
        super().__init__(behavior)
        self.op_library = op_library

    def provenance(self) -> dict[str, str]:
        """Where the operator came from, as a hardware backend reports it; an empty entry (an
        unknown V2 library) is dropped from the records."""
        return {"op_library": self.op_library, "op_library_v2": ""}


def factory(behavior: str = "doc", op_library: str = "") -> TracedSim:
    return TracedSim(behavior, op_library)
