"""The suite's power, measured: `python -m ci.mutation` runs the PR tier against every entry of
the catalog `ci/mutants` and prints a kill matrix. Every mutant must fail the tier and every
correct variant must pass it, in every seed.

Two ways to run, with the same verdicts:

- `replay` (default): per seed, the PR tier runs once, for real, on the reference simulator (it
  must pass), and every case it ran, with its cell, is then run on every entry. The cases a
  seeded tier draws do not depend on the backend (hypothesis draws from the seed alone, and no
  sim variant makes a case not applicable), so an entry meets exactly the cases the tier would
  give it; the tier stops a cell at its first failing case, which decides the same kill. Each
  case is materialised and its oracle computed once for all entries (`spec.memo`), and a
  mutant skips the rest of an area once that area has failed it.
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
    plugin.py         the pytest plugin of a tier run: items by area, a mutant's early stop
    report.py         the verdict: runs and their outcome, the kill matrix, summary and JSON
"""

REGRESSIONS = "regressions"  # the area of the saved regressions, after spec.operator.AREAS
