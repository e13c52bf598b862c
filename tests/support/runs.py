"""Small runs of the CI entry points for the tests of the reports and the CI scripts.

`shared_run` runs an entry point once per test session, even under xdist (the workers share a
file lock and a cache in pytest's base temporary folder), so that several test modules can
check one run's outputs without paying for it twice. `write_results` makes a synthetic output
folder (run.json, items.jsonl, cases.jsonl.gz) for the matrix's unit tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from reports import render, results

ROOT = Path(__file__).resolve().parents[2]
FAULTY = "tests.support.faulty:factory"
TIMEOUT = 600


def run_module(module: str, *args: str, env: dict | None = None,
               timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m module args...` in the checkout, output captured."""
    # The outer pytest's (and xdist worker's) variables must not leak into the inner run.
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, check=False,
                          env={**base, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"})


def shared_run(tmp_path_factory, name: str, module: str, args: list[str],
               files: dict[str, str] | None = None) -> tuple[int, str, Path]:
    """Run `module` once per session into <shared tmp>/<name>/out; (exit status, output, out).

    `args` may contain "{dir}", replaced by the run's folder (for files written from `files`).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / name
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "result.json"
    with FileLock(str(folder / "lock")):
        if not done.exists():
            for fname, text in (files or {}).items():
                (folder / fname).write_text(text, encoding="utf-8")
            argv = [a.replace("{dir}", str(folder)) for a in args]
            proc = run_module(module, "--output-dir", str(folder / "out"), *argv)
            done.write_text(json.dumps({"code": proc.returncode,
                                        "output": proc.stdout + proc.stderr}),
                            encoding="utf-8")
    result = json.loads(done.read_text(encoding="utf-8"))
    return result["code"], result["output"], folder / "out"


def embedded_files(page: Path) -> dict[str, bytes]:
    """The data files a single-file Allure page embeds (name -> content)."""
    return render.embedded_files(page)


def read_cases(out: Path) -> list[dict]:
    """The case records of a run's output folder (cases.jsonl.gz)."""
    return list(results.read_cases(results.cases_path(out)))


# The PR entry point on the faulty sim, small: one failure (RANGE.H1's wrong status code), one
# listed failure (RANGE.group_len's crash: an expected failure), one listed test that passes
# (CALC.gmm: an unexpected pass), a not-applicable skip (CONSIST.counts), under xdist; float16
# only (a failing cell shrinks its case, which is most of the run's cost).
PR_KNOWN_FAILURES = """
[[expected_failure]]
clause = "RANGE.group_len"
side = "invalid"
reason = "planted: the first stage crashes on a long group name"

[[expected_failure]]
clause = "CALC.gmm"
reason = "listed although it passes: the gate must call this an unexpected pass"
"""
PR_ARGS = ["--operator", "alltoallv_gmm", "--backend", FAULTY, "--backend-option", "behavior=doc",
           "--product", "910_95",
           "--world-sizes", "4", "--workers", "2", "--hypothesis-profile", "debug",
           "--known-failures", "{dir}/known_failures.toml",
           "-k", "(RANGE.H1-invalid or RANGE.group_len-invalid or CALC.gmm or CONSIST) "
                 "and ep4-float16", "--", "-p", "tests.support.no_shrink"]


def pr_with_faults(tmp_path_factory) -> tuple[int, str, Path]:
    """The shared small PR run (see PR_ARGS): (exit status, output, output folder)."""
    return shared_run(tmp_path_factory, "pr-with-faults", "ci.pr", PR_ARGS,
                      {"known_failures.toml": PR_KNOWN_FAILURES})


# --- synthetic results for the matrix -----------------------------------------------------
OPERATOR = "alltoallv_gmm"


def cell(clause: str, side: str = "valid", product: str = "910_95", ep: int = 4,
         dtype: str = "float16") -> dict:
    return {"operator": OPERATOR, "clause": clause, "side": side, "product": product, "ep": ep,
            "dtype": dtype}


def nodeid(c: dict) -> str:
    return f"suites/test_x.py::test_x[{c['operator']}-{c['clause']}-{c['side']}-{c['product']}-" \
           f"ep{c['ep']}-{c['dtype']}]"


def item(c: dict, outcome: str = "passed", reason: str = "", skip_kind: str | None = None
         ) -> dict:
    """An item record as reports/records.py writes it; a skipped cell's kind (not_applicable,
    unreachable) is data beside its reason."""
    from ops.alltoallv_gmm.clauses import CLAUSE

    rec = {"schema": "conformance-item/2", "nodeid": nodeid(c), "cell": c,
           "area": CLAUSE[c["clause"]].area, "outcome": outcome, "reason": reason,
           "seconds": 0.01}
    if skip_kind is not None:
        rec["skip_kind"] = skip_kind
    return rec


def case(c: dict, outcome: str = "passed", exercised: tuple[str, ...] = (),
         failed: tuple[str, ...] = (), computed: bool = False, stage: str = "first",
         deciding: str | None = None, kind: str = "status", profile: str = "doc") -> dict:
    """A case record as suites/_conformance.py writes it, its `told` decided by the runner's own
    rule (fixtures.runner.told) under `profile`."""
    from types import SimpleNamespace

    from fixtures.harness import Finding
    from fixtures.runner import told
    from ops.alltoallv_gmm import OPERATOR as OP

    findings = [Finding(f, kind, f"planted {kind} finding on {f}", 0) for f in failed]
    exercised = {c["clause"], *exercised, *failed}
    result = SimpleNamespace(
        case=SimpleNamespace(clause=c["clause"], side=c["side"], product=c["product"], ep=c["ep"]),
        expectation=SimpleNamespace(clause=deciding), findings=findings, exercised=exercised,
        plan=SimpleNamespace(data_mode=computed, case=SimpleNamespace(stage=stage)))
    return {"nodeid": nodeid(c), "cell": c, "case_id": "x", "outcome": outcome, "stage": stage,
            "computed": computed,
            "expected": "", "deciding_clause": deciding,
            "told": [t.record() for t in told(result, OP.profile(profile))],
            "failed_clauses": sorted(failed), "findings": [f.__dict__ for f in findings],
            "verdicts": [], "seconds": 0.01, "case": {"e": 1}}


def write_results(folder: Path, items: list[dict], cases: list[dict],
                  profile: str = "doc", products: tuple[str, ...] = ("910_95",),
                  world_sizes: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    run = {"schema": "conformance-run/2", "backend": "sim", "spec_profile": profile,
           "operators": {OPERATOR: {
               "title": "aclnnAlltoAllvGroupedMatMul", "home": "ops.alltoallv_gmm",
               "backend": "sim", "backend_options": {}, "backend_description": "sim",
               "backend_provenance": {}, "spec_profile": profile, "spec_profile_title": profile,
               "spec_profile_kind": "published",
               "world_sizes": world_sizes or {p: [4] for p in products}}},
           "products": list(products), "hypothesis_profile": "debug", "judge": "mixed"}
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    (folder / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items),
                                        encoding="utf-8")
    results.write_cases(folder / results.CASES_FILE, cases)
    return folder
