"""The suite's power, measured: `python -m ci.mutation` runs the PR tier against every entry of
an operator's mutant catalog and prints a kill matrix. Every mutant must fail the tier and every
correct variant must pass it, in every seed.

The catalog is the operator's `mutants` part (`ops.get(name).part("mutants")`, e.g.
ops/alltoallv_gmm/mutants/): a module with `entries(kind=None)` in catalog order, `get(name)`,
`CATALOG` (name: entry), `FAMILIES`, and the self-test subset `QUICK_ENTRIES`, `QUICK_OPTIONS`
(product, world sizes) and `QUICK_KEYWORD` (a `-k` selection); its entries are `Entry`s. The job
runs every operator that has one unless `--operator` names some.

Two ways to run, with the same verdicts:

- `replay` (default): per seed, the PR tier runs once, for real, on the reference simulator (it
  must pass), and every case it ran, with its cell, is then run on every entry. The cases a
  seeded tier draws do not depend on the backend (hypothesis draws from the seed alone, and no
  sim variant makes a case not applicable), so an entry meets exactly the cases the tier would
  give it; the tier stops a cell at its first failing case, which decides the same kill. Each
  case is materialised and its oracle computed once for all entries, and each set of output
  bits judged once (`spec.memo`: an entry that writes the reference's bits on a rank earns the
  reference's verdicts there without a second judge), a mutant
  skips the rest of an area once that area has failed it, and an entry does not run a case
  where it provably runs as the reference sim (`proof.py`: every attribute the reference's
  recorded run of the case read is the entry's too, and its check table decides every call
  alike): a validation mutant runs only the cases its change can decide, a correct variant
  only the cases that reach the second stage.
- `pytest`: one pytest run of the tier per entry and seed (with `plugin.py`: a mutant's run
  stops each area at its first failure and does not shrink). Slower; the suite's own tests
  check that both modes agree.

Correct variants always meet every case, with no early stop.

The modules, one job each:

    __main__.py       the command: its options, the progress lines, the summary and the JSON file
    plan.py           what to run: the entries, the seeds, the quick subset, the preflight
    tier.py           the PR tier as a pytest subprocess: its command, running it, its records
    modes.py          the two modes, seed by seed: a `report.Run` per entry
    replay_worker.py  a worker process of the replay mode: recorded cases on many entries
    proof.py          the cases an entry need not run: the reference's recorded reads, compared
    plugin.py         the pytest plugin of a tier run: items by area, a mutant's early stop
    report.py         the verdict: runs and their outcome, the kill matrix, summary and JSON
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from spec.operator import Operator

REGRESSIONS = "regressions"  # the area of the saved regressions, after spec.operator.AREAS
PART = "mutants"  # the operator part that holds its catalog


def catalog(op: Operator) -> ModuleType:
    """The operator's mutant catalog."""
    return op.part(PART)


class Entry(Protocol):
    """One implementation in a catalog, as the job reads it."""

    name: str  # "<family>.<name>", unique in its catalog
    kind: str  # "mutant" (the tier must fail it) or "variant" (the tier must pass it)
    description: str  # one line
    profiles: tuple[str, ...] | None  # the spec profiles it is a fault under (None: all)

    @property
    def family(self) -> str: ...

    @property
    def target(self) -> str:
        """What `--backend` takes to load it."""

    def applies(self, profile: str) -> bool: ...

    def reaches(self, entry_point: str) -> bool:
        """Whether a tier calling `entry_point` (`--entry`) can show it (optional: an entry
        without it is shown by every entry point)."""

    def make(self, **options: object) -> object:
        """The backend, with the sim's options (`behavior=`)."""
