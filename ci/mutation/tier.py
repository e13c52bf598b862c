"""The PR tier as a pytest subprocess, the way every part of a mutation run starts it: the command
for one backend and seed (with `plugin.py`'s record and, for a mutant, its early stop), running
it under a time limit in an environment of one BLAS thread, and reading back the records.

The preflight (plan.py), the pytest mode and the replay mode's reference run (modes.py) all
start the tier here, so all of them run the same selection with the same options.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from ci._cli import NO_ASSERT_REWRITING
from spec.operator import Operator

ROOT = Path(__file__).resolve().parents[2]
# One BLAS thread per rank thread: a world of 16 rank threads each running a multi-threaded
# BLAS on 2 cores is many times slower (tox sets the same for the suite).
QUIET_BLAS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def pytest_env() -> dict[str, str]:
    """The environment of a tier run: one BLAS thread, no bytecode files, not an xdist worker
    (the suite's own tests run this command from inside one)."""
    env = {**os.environ, **QUIET_BLAS, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def pytest_command(op: Operator, args: argparse.Namespace, backend: str, seed: int,
                   scratch: Path, extra: list[str], *, early_stop: bool, workers: int) -> list[str]:
    """The operator's PR tier, seeded, on one backend, with the mutation plugin's record. A
    catalog entry honours the spec profile the way the sim does (`behavior`); the sim follows it
    by itself."""
    behavior = [] if backend == "sim" else ["--backend-option", f"behavior={args.spec_profile}"]
    cmd = [sys.executable, "-m", "pytest", "suites", "-p", "ci.mutation.plugin",
           "-p", "no:cacheprovider", NO_ASSERT_REWRITING, "-q", "--no-header", "-rN", "--tb=short",
           "--operator", op.name, "--backend", backend, *behavior,
           "--spec-profile", args.spec_profile,
           "--product", args.product,
           "--judge", args.judge, "--case-timeout", str(args.case_timeout),
           "--hypothesis-profile", args.hypothesis_profile, "--hypothesis-seed", str(seed),
           "--output-dir", str(scratch / "out"), "--mutation-record", str(scratch / "records.jsonl")]
    if args.world_sizes:
        cmd += ["--world-sizes", args.world_sizes]
    if early_stop:
        cmd += ["--mutation-stop-dir", str(scratch / "stop"), "--mutation-no-shrink"]
    cmd += ["-n", str(workers)] if workers > 0 else ["-p", "no:xdist"]
    return cmd + extra


def run_pytest(cmd: list[str], timeout: float) -> tuple[int | None, str | None]:
    """(exit status, why it broke or None)."""
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=pytest_env(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"over the {timeout:g} s time limit"
    if proc.returncode in (0, 1):
        return proc.returncode, None
    tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
    return proc.returncode, f"pytest exit status {proc.returncode}: {tail[0][:300]}"


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file; none when the run left no file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def failure_text(record: dict) -> str:
    """What a failed record says: the suite's finding, else the error line the plugin keeps for a
    failure without one (plugin.py writes one or the other)."""
    return record.get("finding") or record["error"]
