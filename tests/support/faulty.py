"""A simulator with planted faults, for the tests of the nightly gate and the reports.

- h1_status: an H1 outside (0, 65536) returns 161001 (NULLPTR) instead of the profile's code,
  a wrong status code (RANGE.H1);
- group_crash: a group name of 128 characters or more makes the first stage raise, a crash
  (RANGE.group_len);
- n1_flaky (only with `flaky_marker=PATH`): the first N1 outside (0, 65536) that any process
  sees returns 161001 and creates PATH; every later one, in this process or the next, is
  right. A run fails RANGE.N1, its re-run passes it: a flake.

All are first-stage faults, so a run that finds them stays cheap. Use it as
`--backend tests.support.faulty:factory --backend-option behavior=doc`; `faults=` (comma-
separated) plants fewer.
"""

from __future__ import annotations

import os
from pathlib import Path

from ops.alltoallv_gmm.sim import NULLPTR, SUCCESS, SimBackend

FAULTS = ("h1_status", "group_crash", "n1_flaky")
RANGE_LIMIT = 65536
GROUP_LIMIT = 128


class PlantedCrash(RuntimeError):
    """The planted crash of the first stage."""


class FaultySim(SimBackend):
    def __init__(self, behavior: str = "doc", faults: str = ",".join(FAULTS),
                 flaky_marker: str = "") -> None:
        super().__init__(behavior)
        self.faults = {f for f in faults.split(",") if f}
        unknown = self.faults - set(FAULTS)
        if unknown:
            raise ValueError(f"faulty: unknown fault {sorted(unknown)[0]!r}; accepted: "
                             f"{', '.join(FAULTS)}")
        self.flaky_marker = Path(flaky_marker) if flaky_marker else None

    def check(self, ctx, a: dict, null_outputs: frozenset) -> int:
        group = a["group"]
        if "group_crash" in self.faults and group is not None and len(group) >= GROUP_LIMIT:
            raise PlantedCrash(f"planted crash: group of {len(group)} characters")
        status = super().check(ctx, a, null_outputs)
        gx, gw = a["gmm_x"], a["gmm_weight"]
        if status == SUCCESS or gx is None or gx.ndim != 2 or gw is None or gw.ndim != 3:
            return status
        if "h1_status" in self.faults and not 0 < gx.shape[1] < RANGE_LIMIT:
            return NULLPTR
        n1 = gw.shape[1] if a["trans_gmm_weight"] else gw.shape[2]
        if ("n1_flaky" in self.faults and self.flaky_marker is not None
                and not 0 < n1 < RANGE_LIMIT and self._first_time()):
            return NULLPTR
        return status

    def _first_time(self) -> bool:
        try:  # atomic: exactly one call, in one process, ever sees True
            os.close(os.open(self.flaky_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


def factory(**options) -> FaultySim:
    return FaultySim(**options)
