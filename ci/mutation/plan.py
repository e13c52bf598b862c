"""What a mutation run runs: the operators whose catalogs it judges, their entries named (or of
the families named), the seeds, a catalog's quick subset (the one the suite's own tests use), and
the entries left out under the spec profile; then a preflight that collects the tier once with
every option, so that bad input stops the command in one line before any run starts. Bad input
raises `ci._cli.UsageFailure`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import ops
from ci._cli import PYTEST_NO_TESTS, PYTEST_USAGE, UsageFailure
from ci.mutation import PART, Entry, catalog, tier
from spec.operator import Operator


def operators(raw: str | None) -> tuple[Operator, ...]:
    """`--operator NAME[,NAME]`: the operators whose catalogs to run; none named, every one
    that has a catalog."""
    try:
        chosen = ops.select(raw)
    except ValueError as err:
        raise UsageFailure(str(err)) from None
    lacking = [op.name for op in chosen if PART not in op.parts]
    if raw and lacking:
        raise UsageFailure(f"--operator {lacking[0]}: it has no mutant catalog (no '{PART}' part)")
    with_catalog = tuple(op for op in chosen if PART in op.parts)
    if not with_catalog:
        raise UsageFailure(f"no operator has a mutant catalog (a '{PART}' part)")
    return with_catalog


def select(op: Operator, names: list[str]) -> list[Entry]:
    """Entries named, or of the families named, in catalog order; all when none is named."""
    mutants = catalog(op)
    if not names:
        return mutants.entries()
    chosen: dict[str, Entry] = {}
    for name in names:
        if name in mutants.FAMILIES:
            chosen.update({e.name: e for e in mutants.entries() if e.family == name})
        elif name in mutants.CATALOG:
            chosen[name] = mutants.CATALOG[name]
        else:
            raise UsageFailure(f"unknown catalog entry or family {name!r} of {op.name}; families: "
                               f"{', '.join(mutants.FAMILIES)} (--list shows every entry)")
    order = {e.name: i for i, e in enumerate(mutants.entries())}
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


def resolve(op: Operator, args: argparse.Namespace, extra: list[str]
            ) -> tuple[list[Entry], list[int], list[str]]:
    """(the operator's entries to run, the seeds, the pytest arguments). `--quick` sets the
    catalog's own product, world sizes and keyword; `args.left_out` gets the entries that are no
    fault under the spec profile (faults of another contract version only), `args.left_out_entry`
    those no call of the tier's entry point can show (a fault of V2's commMode in a V1 tier)."""
    if args.jobs < 1:
        raise UsageFailure("--jobs must be at least 1")
    seeds = parse_seeds(args.seeds)
    names = list(args.names)
    if args.quick:
        if args.names:
            raise UsageFailure("--quick runs its own subset; name no entries with it")
        quick = catalog(op)
        names = list(quick.QUICK_ENTRIES)
        args.product = quick.QUICK_OPTIONS["product"]
        args.world_sizes = quick.QUICK_OPTIONS["world_sizes"]
        extra = ["-k", quick.QUICK_KEYWORD, *extra]
    chosen = select(op, names)
    args.left_out = [e.name for e in chosen if not e.applies(args.spec_profile)]
    point = entry_point(extra)
    args.left_out_entry = [e.name for e in chosen if e.applies(args.spec_profile)
                           and not _reaches(e, point)]
    chosen = [e for e in chosen if e.applies(args.spec_profile) and _reaches(e, point)]
    if not chosen:
        raise UsageFailure(f"no chosen entry is a fault under spec profile {args.spec_profile!r} "
                           f"and entry point {point}")
    return chosen, seeds, extra


def entry_point(extra: list[str]) -> str:
    """The entry point the tier calls: the `--entry` among the pytest arguments, else v1 (the
    suite's default)."""
    point = "v1"
    for i, arg in enumerate(extra):
        if arg == "--entry" and i + 1 < len(extra):
            point = extra[i + 1]
        elif arg.startswith("--entry="):
            point = arg.partition("=")[2]
    return point


def _reaches(entry: Entry, point: str) -> bool:
    reaches = getattr(entry, "reaches", None)
    return True if reaches is None else bool(reaches(point))


def preflight(op: Operator, entries: list[Entry], seeds: list[int], args: argparse.Namespace,
              extra: list[str]) -> int:
    """Collect once with the options every run gets: a bad option, profile or product fails
    here with the suite's own one line (exit 2) before any run starts; returns the item count."""
    with tempfile.TemporaryDirectory(prefix="mutation-preflight-") as tmp:
        cmd = tier.pytest_command(op, args, entries[0].target, seeds[0], Path(tmp), extra,
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
