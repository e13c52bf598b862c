"""The conformance process's heap keeps the blocks a case frees (fixtures/heap.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A case's worth of arrays made and dropped five times: the page faults of the last four.
CASES = """
import resource, sys
import numpy as np
from fixtures import heap
if sys.argv[1] == "tuned":
    assert heap.keep_freed_blocks()
def case():
    arrays = [np.ones(n << 20, np.uint8) for n in (20, 24, 6, 18)]
    del arrays
case()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    case()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CASES, mode], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return int(out.stdout)


def test_a_case_s_freed_arrays_serve_the_next_case_without_faulting_in_again():
    pages = (68 << 20) // 4096  # one case's arrays
    untuned, tuned = _faults("default"), _faults("tuned")
    assert untuned > pages // 4  # glibc's defaults: much of it goes back to the kernel each time
    assert tuned < pages // 100
