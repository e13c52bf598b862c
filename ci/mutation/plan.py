"""What a mutation run runs: the catalog entries named (or of the families named), the seeds, the
quick subset the suite's own tests use, and the entries left out under the spec profile; then a
preflight that collects the tier once with every option, so that bad input stops the command
in one line before any run starts. Bad input raises `ci._cli.UsageFailure`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from ci import mutants as catalog
from ci._cli import PYTEST_NO_TESTS, PYTEST_USAGE, UsageFailure
from ci.mutants import Entry
from ci.mutation import tier

# The subset the suite's own tests run (tests/test_mutation.py): one mutant per family, each
# caught at ep = 4 on 910_95, and every variant, on a selection that stays small.
QUICK_ENTRIES = ("routing.source_major_permute", "arithmetic.wrong_expert_weight",
                 "outputs.write_past_gmm_y", "validation.h1_accepts_65536",
                 "tiles.m_tail_from_previous_tile",
                 "nondeterminism.racy_split_k", "variants.float64_accumulation",
                 "variants.reversed_block_order", "variants.chunked_pipeline")
QUICK_OPTIONS = {"product": "910_95", "world_sizes": "4"}
QUICK_KEYWORD = "(float16 and (CALC or OUT or RANGE.H1)) or regression"


def select(names: list[str]) -> list[Entry]:
    """Entries named, or of the families named, in catalog order; all when none is named."""
    if not names:
        return catalog.entries()
    chosen: dict[str, Entry] = {}
    for name in names:
        if name in catalog.FAMILIES:
            chosen.update({e.name: e for e in catalog.entries() if e.family == name})
        elif name in catalog.CATALOG:
            chosen[name] = catalog.CATALOG[name]
        else:
            raise UsageFailure(f"unknown catalog entry or family {name!r}; families: "
                               f"{', '.join(catalog.FAMILIES)} (--list shows every entry)")
    order = {e.name: i for i, e in enumerate(catalog.entries())}
    return sorted(chosen.values(), key=lambda e: order[e.name])


def parse_seeds(raw: str) -> list[int]:
    """The seeds of `--seeds`: distinct non-negative integers, comma-separated."""
    try:
        seeds = [int(s) for s in raw.split(",") if s.strip()]
    except ValueError:
        raise UsageFailure(f"--seeds {raw!r}: expected comma-separated integers, e.g. 1,2,3") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageFailure(f"--seeds {raw!r}: expected distinct non-negative integers, e.g. 1,2,3")
    return seeds


def resolve(args: argparse.Namespace, extra: list[str]) -> tuple[list[Entry], list[int], list[str]]:
    """(the entries to run, the seeds, the pytest arguments). `--quick` sets its own product,
    world sizes and keyword; `args.left_out` gets the entries that are no fault under the spec
    profile (faults of another contract version only)."""
    if args.jobs < 1:
        raise UsageFailure("--jobs must be at least 1")
    seeds = parse_seeds(args.seeds)
    names = list(args.names)
    if args.quick:
        if args.names:
            raise UsageFailure("--quick runs its own subset; name no entries with it")
        names = list(QUICK_ENTRIES)
        args.product, args.world_sizes = QUICK_OPTIONS["product"], QUICK_OPTIONS["world_sizes"]
        extra = ["-k", QUICK_KEYWORD, *extra]
    chosen = select(names)
    args.left_out = [e.name for e in chosen if not e.applies(args.spec_profile)]
    chosen = [e for e in chosen if e.applies(args.spec_profile)]
    if not chosen:
        raise UsageFailure(f"no chosen entry is a fault under spec profile {args.spec_profile!r}")
    return chosen, seeds, extra


def preflight(entries: list[Entry], seeds: list[int], args: argparse.Namespace,
              extra: list[str]) -> int:
    """Collect once with the options every run gets: a bad option, profile or product fails
    here with the suite's own one line (exit 2) before any run starts; returns the item count."""
    with tempfile.TemporaryDirectory(prefix="mutation-preflight-") as tmp:
        cmd = tier.pytest_command(args, entries[0].target, seeds[0], Path(tmp), extra,
                                  early_stop=False, workers=0)
        proc = subprocess.run([*cmd, "--collect-only"], cwd=tier.ROOT, capture_output=True,
                              text=True, env=tier.pytest_env())
    if proc.returncode == PYTEST_USAGE:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR:")]
        raise UsageFailure((errors[0] if errors else proc.stderr.strip().splitlines()[-1]
                            ).removeprefix("ERROR: "))
    if proc.returncode == PYTEST_NO_TESTS:
        raise UsageFailure("no test item is selected by these options")
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise UsageFailure(f"collecting the suite failed: {tail[0]}")
    return sum("::" in line for line in proc.stdout.splitlines())
