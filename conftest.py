"""pytest wiring of the conformance suite: options, hypothesis profiles, the backend session,
known failures, and the closing summary.

Every option value is checked once, at start-up; a bad one stops the run with one line that
names the option, the value and what is accepted.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase

import ops
from fixtures import heap
from fixtures.backends import BUILTINS, BackendError, BackendSpec, parse_options
from golden.judges import JUDGES
from reports.results import CASES_FILE
from spec.operator import Operator
from spec.products import PRODUCTS
from spec.profiles import ProfileError
from suites._conformance import (
    INVALID_WORLD_SIZES,
    KNOWN_FAILURES,
    OPTIONS,
    STARTED,
    Cell,
    Conformance,
    OperatorRun,
    Options,
    cells,
    regressions,
    tier_for,
)

ROOT = Path(__file__).parent

# The run's records and the one coverage rule (reports/records.py), Allure labels and attachments
# (reports/allure.py);
# device leasing, worlds attached to torchrun, and `-n auto` on hardware (fixtures/plugin.py).
pytest_plugins = ["reports.records", "reports.allure", "fixtures.plugin"]

# Profiles are loaded explicitly (below), never picked by hypothesis from a CI variable.
settings.register_profile(
    "pr", derandomize=True, deadline=None, max_examples=3, database=None, print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.generate, Phase.target],  # a failure is reported as found
)
settings.register_profile(
    "nightly", derandomize=False, deadline=None, max_examples=30, print_blob=True,
    database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "nightly")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("debug", parent=settings.get_profile("pr"), max_examples=1,
                          verbosity=Verbosity.verbose)
HYPOTHESIS_PROFILES = ("pr", "nightly", "debug")
KNOWN_FAILURE_KEYS = {"operator", "clause", "side", "product", "ep", "backend", "profile", "reason"}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "conformance of the operators of ops/")
    g.addoption("--operator", default="", metavar="NAME[,NAME]",
                help="operator(s) to test, comma-separated (default: every registered one: "
                     "ops/)")
    g.addoption("--backend", default="sim",
                help=f"a built-in backend ({', '.join(BUILTINS)}) or package.module:factory")
    g.addoption("--backend-option", action="append", default=[], metavar="KEY=VALUE",
                help="keyword argument for the backend factory (repeatable)")
    g.addoption("--product", default=None,
                help=f"product(s) whose contract to test, comma-separated: {', '.join(PRODUCTS)} "
                     "(default: all for a simulated backend; a hardware backend must name its own)")
    g.addoption("--spec-profile", default="doc",
                help="contract version: spec/profiles/*.toml, or auto (hardware: the shipped "
                     "profile matching the installed CANN)")
    g.addoption("--entry", default="v1", choices=None,
                help="entry point: v1 (the operator's C API) or v2 (its ...V2, with commMode)")
    g.addoption("--comm-mode", default=None,
                help="V2's commMode for every case (default ai_cpu); only with --entry v2")
    g.addoption("--world-sizes", default="",
                help="comma-separated ep values to test (default: all the product's)")
    g.addoption("--judge", default="mixed", help=f"accuracy standard: {', '.join(JUDGES)}")
    g.addoption("--known-failures", "--expectations", dest="known_failures", default=None,
                metavar="FILE", help="TOML file of known failures ([[expected_failure]] tables, "
                "each with a reason); --expectations is its older name")
    g.addoption("--output-dir", default=str(ROOT / "reports" / "out"),
                help="where failing cases and run records are written")
    g.addoption("--case-timeout", type=float, default=180.0,
                help="seconds a case may take on any rank before it is a timeout")
    g.addoption("--memory-budget", default=None, metavar="GIB",
                help="host memory a world may use to compute a case (default: the tier's)")
    g.addoption("--production", default="", metavar="NAME[,NAME]|all",
                help="also run these named production worlds (spec/production.py)")


def _fail(message: str) -> None:
    raise pytest.UsageError(message)


def _products(raw: str | None, hardware: bool) -> tuple[str, ...]:
    """Every product for a backend that can play any; a hardware backend is one product, and
    testing it against another product's contract would only raise false alarms."""
    if raw is None:
        if hardware:
            _fail("--product: a hardware backend runs on one product; name it: "
                  + " or ".join(f"--product {p}" for p in PRODUCTS))
        return tuple(PRODUCTS)
    names = tuple(p.strip() for p in raw.split(",") if p.strip())
    bad = [p for p in names if p not in PRODUCTS]
    if not names or bad:
        _fail(f"--product {raw!r}: unknown product {bad[0] if bad else '(none)'}; "
              f"accepted: {', '.join(PRODUCTS)} (comma-separated)")
    return names


def _world_sizes(raw: str) -> tuple[int, ...] | None:
    if not raw.strip():
        return None
    try:
        sizes = tuple(int(s) for s in raw.split(","))
    except ValueError:
        _fail(f"--world-sizes {raw!r}: expected comma-separated positive integers, e.g. 4,8")
    if any(s < 1 for s in sizes):
        _fail(f"--world-sizes {raw!r}: world sizes must be positive")
    return sizes


def _some_cell_has(sizes: tuple[int, ...], runs: list[OperatorRun], products: list[str]) -> None:
    """Stop a run whose --world-sizes no cell has: it would collect only empty parameter sets
    and pass having tested nothing. A cell's world sizes are its product's (those the chosen
    profile accepts, for the product clauses) and the unsupported ones the invalid side tries."""
    here = {s for run in runs for p in products if p in run.operator.products
            for s in (*run.operator.world_sizes(p), *INVALID_WORLD_SIZES,
                      *(run.profile.rule(f"PRODUCT.{p}.epWorldSize").values
                        if f"PRODUCT.{p}.epWorldSize" in run.operator.clause else ()))}
    if not here & set(sizes):
        _fail(f"--world-sizes {','.join(map(str, sizes))}: no cell of the chosen operators and "
              f"products has one of these world sizes; accepted: {', '.join(map(str, sorted(here)))}")


def _options(config: pytest.Config) -> Options:
    # Imported here: a module-level import would load the plugin before pytest_plugins can
    # rewrite its assertions.
    from fixtures.plugin import is_hardware

    get = config.getoption
    hardware = is_hardware(config)
    if get("judge") not in JUDGES:
        _fail(f"--judge {get('judge')!r}: accepted: {', '.join(JUDGES)}")
    hyp = get("hypothesis_profile") or "pr"
    if hyp not in HYPOTHESIS_PROFILES:
        _fail(f"--hypothesis-profile {hyp!r}: accepted: {', '.join(HYPOTHESIS_PROFILES)}")
    tier = tier_for(hyp)
    budget = tier.memory_budget
    if get("memory_budget") is not None:
        try:
            budget = int(float(get("memory_budget")) * (1 << 30))
        except ValueError:
            _fail(f"--memory-budget {get('memory_budget')!r}: expected a number of GiB")
    if get("case_timeout") <= 0:
        _fail("--case-timeout: expected a positive number of seconds")
    try:
        chosen = ops.select(get("operator"))
    except ValueError as err:
        _fail(str(err))
    products = _products(get("product"), hardware)
    chosen = tuple(op for op in chosen if set(op.products) & set(products))
    if not chosen:
        _fail(f"--operator {get('operator')!r} with --product {get('product')!r}: no operator "
              "chosen has one of these products")
    chosen = _served(chosen, get("backend"), get("backend_option"), bool(get("operator").strip()))
    runs = {op.name: _operator_run(config, op, hardware) for op in chosen}
    products, left_out = _covered(products, list(runs.values()))
    first = next(iter(runs.values()))
    entry, comm_mode = _entry(get("entry"), get("comm_mode"), list(runs.values()))
    if get("production"):
        _production_names(chosen, get("production"))
    sizes = _world_sizes(get("world_sizes"))
    if sizes is not None:
        _some_cell_has(sizes, list(runs.values()), products)
    return Options(runs=runs, products=products, world_sizes=sizes,
                   judge=get("judge"), output=Path(get("output_dir")), hypothesis_profile=hyp,
                   case_timeout=get("case_timeout"), memory_budget=budget, seed=_seed(config),
                   in_process=first.backend.world_kind() != "processes", entry=entry,
                   comm_mode=comm_mode, backend_name=get("backend"),
                   profile_name=get("spec_profile"), left_out=left_out)


def _covered(products: tuple[str, ...], runs: list[OperatorRun]
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The chosen products some chosen profile runs on, and a line for each one left out: a
    version that has no operator on a product (the December 2025 code on Ascend 950) has
    nothing to test there. None left is bad input."""
    why = {p: [f"spec profile {r.profile.name} of {r.operator.title} covers "
               f"{', '.join(r.profile.products)} only" for r in runs
               if p in r.operator.products and p not in r.profile.products] for p in products}
    covered = tuple(p for p in products if any(p in r.profile.products for r in runs))
    if not covered:
        _fail(f"--product {','.join(products)}: {'; '.join(w for p in products for w in why[p])}; "
              "this selects nothing")
    return covered, tuple(f"{p} left out ({'; '.join(why[p])})" for p in products
                          if p not in covered)


def _served(chosen: tuple[Operator, ...], backend: str, options: list[str], named: bool
            ) -> tuple[Operator, ...]:
    """The operators of the run that the backend implements: a backend of one's own that names
    its operator (`operator`, fixtures/protocol.py) runs that one alone; named operators it
    does not implement stop the run."""
    try:
        declared = BackendSpec(backend, parse_options(options)).operator_of()
    except BackendError as err:
        _fail(str(err))
    if declared is None:
        return chosen
    # A composite operator made of the declared one runs too: it reports what it lacks.
    other = [op.name for op in chosen if op.name != declared and declared not in op.halves]
    if named and other:
        _fail(f"--operator {other[0]}: --backend {backend} implements {declared} only")
    served = tuple(op for op in chosen if op.name == declared or declared in op.halves)
    if not served:
        _fail(f"--backend {backend}: it implements {declared}, which this run does not test")
    return served


def _operator_run(config: pytest.Config, op, hardware: bool) -> OperatorRun:
    """The operator's profile of the chosen version and its backend, each checked once."""
    from fixtures.protocol import provenance as backend_provenance

    get = config.getoption
    profile, why = _profile(op, get("spec_profile"), hardware)
    try:
        backend = BackendSpec.for_profile(get("backend"), parse_options(get("backend_option")),
                                          profile)
        instance = backend.make()  # a bad name or option fails here, once, with one line
        backend.world_kind()
    except BackendError as err:
        _fail(str(err) + _composite_hint(op, parse_options(get("backend_option"))))
    try:
        provenance = backend_provenance(instance)
    except (TypeError, ValueError, OSError) as err:
        _fail(f"--backend {backend.name!r}: its provenance() failed: {err}")
    return OperatorRun(op, profile, backend, why, provenance)


def _composite_hint(op: Operator, options: dict) -> str:
    """Where an option the backend of `op` rejected is one of a composite operator's own (a
    round trip's `dispatch=`), how to run that operator alone."""
    if op.composer:
        return ""
    for name in ops.names():
        other = ops.get(name)
        if other.composer and op.name in other.halves:
            import importlib

            own = getattr(importlib.import_module(other.composer.partition(":")[0]),
                          "OWN_OPTIONS", ())
            mine = [k for k in options if k in own]
            if mine:
                return (f"; {mine[0]}= is an option of the {other.title} backend: run it alone "
                        f"with --operator {other.name}")
    return ""


def _production_names(chosen, raw: str) -> None:
    """--production names worlds of the chosen operators' production parts."""
    known = [op.part("production") for op in chosen if "production" in op.parts]
    errors = []
    for part in known:
        try:
            part.names(raw)
            return
        except ValueError as err:
            errors.append(str(err))
    _fail(errors[0] if errors else f"--production {raw!r}: no operator chosen has named "
          "production worlds")


def _profile(op, name: str, hardware: bool):
    """The operator's spec profile named, or with `auto` the shipped one matching the installed
    CANN."""
    if name != "auto":
        try:
            return op.profile(name), ""
        except ProfileError as err:
            _fail(f"--spec-profile: {err}")
    if not hardware:
        _fail("--spec-profile auto: reads the installed CANN, so it needs a hardware backend "
              "(aclnn, torch_npu); a simulated backend follows the profile you name")
    from reports.records import cann_version
    from spec.installed import find_install, pick

    try:
        profile, why = pick(op, find_install(op, cann_version=cann_version()))
    except ProfileError as err:
        _fail(str(err))
    return profile, f"auto: {why}"


def _entry(entry: str, comm_mode: str | None, runs: list[OperatorRun]
           ) -> tuple[str, str | None]:
    """The entry point and V2's commMode; V2 only under profiles of a version that has it."""
    entries = sorted({e for run in runs for e in run.operator.entries})
    if entry not in entries:
        _fail(f"--entry {entry!r}: accepted: {', '.join(entries)}")
    if entry == "v1":
        if comm_mode is not None:
            _fail("--comm-mode: only V2 takes a commMode; add --entry v2")
        return entry, None
    mode = comm_mode
    for run in runs:
        profile, op = run.profile, run.operator
        if entry not in profile.entries:
            with_v2 = [n for n in op.profiles() if entry in op.profile(n).entries]
            _fail(f"--entry {entry}: spec profile {profile.name} of {op.title} predates its "
                  f"{entry.upper()}; profiles with it: {', '.join(with_v2)}")
        known = op.part("strategies").engines_of(profile)
        mode = mode if mode is not None else known[0]
        if mode not in known:
            _fail(f"--comm-mode {mode!r}: accepted: {', '.join(known)} (profile "
                  f"{profile.name} of {op.title})")
    return entry, mode


def _seed(config: pytest.Config) -> str | None:
    """`--hypothesis-seed` (hypothesis's own option). Hypothesis ignores it under the `pr`
    profile's derandomize and would give every cell the same stream otherwise, so the suite
    applies it itself: each cell draws from a seed derived from it and the cell's id."""
    value = config.getoption("hypothesis_seed", None)
    return None if value is None else str(value)


def _known_failures(path: str | None) -> list[dict]:
    if path is None:
        return []
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"--known-failures {path}: no such file")
    except tomllib.TOMLDecodeError as err:
        _fail(f"--known-failures {path}: not valid TOML ({err})")
    entries = data.get("expected_failure", [])
    if set(data) - {"expected_failure"} or not isinstance(entries, list):
        _fail(f"--known-failures {path}: expected only [[expected_failure]] tables")
    for i, e in enumerate(entries):
        where = f"--known-failures {path}: expected_failure #{i + 1}"
        if set(e) - KNOWN_FAILURE_KEYS:
            _fail(f"{where}: unknown key {sorted(set(e) - KNOWN_FAILURE_KEYS)[0]!r}; accepted: "
                  f"{', '.join(sorted(KNOWN_FAILURE_KEYS))}")
        if not str(e.get("reason", "")).strip():
            _fail(f"{where}: every known failure needs a reason")
        if "operator" in e and e["operator"] not in ops.names():
            _fail(f"{where}: 'operator' must name an operator ({', '.join(ops.names())}), got "
                  f"{e['operator']!r}")
        owners = [ops.get(e["operator"])] if "operator" in e else [ops.get(n) for n in ops.names()]
        if "clause" not in e or not any(e["clause"] in op.clause for op in owners):
            _fail(f"{where}: 'clause' must name a clause of "
                  f"{' or '.join(op.title for op in owners)}, got {e.get('clause')!r}")
    return entries


def pytest_configure(config: pytest.Config) -> None:
    hyp = config.getoption("hypothesis_profile") or "pr"
    if hyp in HYPOTHESIS_PROFILES:
        settings.load_profile(hyp)
    if not _wants_conformance(config):
        return
    opts = _options(config)
    config.stash[OPTIONS] = opts
    config.stash[KNOWN_FAILURES] = _known_failures(config.getoption("known_failures"))
    config.stash[STARTED] = time.time()
    heap.keep_freed_blocks()  # this process and each xdist worker's: cases reuse their memory


def _wants_conformance(config: pytest.Config) -> bool:
    """The suite's own tests (tests/) do not need a backend session."""
    args = [a for a in config.args if not a.startswith("-")]
    return not args or any("suites" in Path(a).parts or a.startswith("suites") for a in args)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames and "regression" not in metafunc.fixturenames:
        return
    opts = metafunc.config.stash.get(OPTIONS, None)
    if opts is None:
        opts = metafunc.config.stash[OPTIONS] = _options(metafunc.config)
    if "cell" in metafunc.fixturenames:
        area_cells = cells(metafunc.module.AREA, opts)
        metafunc.parametrize("cell", area_cells, ids=[c.key for c in area_cells])
    else:
        saved = regressions(opts)
        metafunc.parametrize("regression", saved, ids=[f"{op}-{p.stem}" for op, p in saved])


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest):
    session = Conformance(request.config.stash[OPTIONS])
    yield session
    session.close()


def _matches(entry: dict, cell: Cell, opts: Options) -> bool:
    run = opts.runs[cell.operator]
    return (entry.get("operator", cell.operator) == cell.operator
            and entry["clause"] == cell.clause
            and entry.get("side", cell.side) == cell.side
            and entry.get("product", cell.product) == cell.product
            and int(entry.get("ep", cell.ep)) == cell.ep
            and entry.get("backend", run.backend.name) == run.backend.name
            and entry.get("profile", run.profile.name) == run.profile.name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known_failures = config.stash.get(KNOWN_FAILURES, [])
    opts = config.stash.get(OPTIONS, None)
    for item in items:
        cell = getattr(getattr(item, "callspec", None), "params", {}).get("cell")
        if not isinstance(cell, Cell):  # an area with no clause of the run's operators: NOTSET
            continue
        item.add_marker(pytest.mark.clause(cell.clause))
        for entry in known_failures:
            if _matches(entry, cell, opts):
                item.add_marker(pytest.mark.xfail(reason=entry["reason"], strict=True))
                break


def _counts(records: list[dict]) -> str:
    outcomes = {o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed")}
    first_only = sum(1 for r in records if not r["computed"])
    return (f"{len(records)} (passed {outcomes['passed']}, failed {outcomes['failed']}); "
            f"outputs computed in {len(records) - first_only}, first stage only in {first_only}")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    from reports.records import coverage  # loaded as a plugin first: its asserts are rewritten

    run = config.pluginmanager.get_plugin("conformance-records")
    if hasattr(config, "workerinput") or run is None:
        return
    opts = config.stash[OPTIONS]
    records = run.cases
    if not records and not terminalreporter.stats.get("passed"):
        return
    tr = terminalreporter
    tr.section("conformance summary")
    tr.write_line(f"backend {opts.backend_name}; entry {opts.entry}"
                  + (f" commMode {opts.comm_mode}" if opts.entry == "v2" else "") + "; "
                  f"products {', '.join(opts.products + opts.left_out)}; judge {opts.judge}; "
                  f"hypothesis profile {opts.hypothesis_profile}"
                  + (f" seeded {opts.seed}" if opts.seed is not None else ""))
    tr.write_line(f"cases run: {_counts(records)}")
    for run in opts.runs.values():
        op, profile = run.operator, run.profile
        made = ", ".join(f"{k} {v}" for k, v in run.provenance.items())
        tr.write_line(f"{op.title}: spec profile {profile.name} ({profile.kind}: "
                      f"{profile.title}" + (f"; {run.profile_reason}" if run.profile_reason else "")
                      + f"); {run.backend.describe()}" + (f" ({made})" if made else "")
                      + f"; cases run: {_counts([r for r in records if r['cell']['operator'] == op.name])}")
        for line in coverage(records, op, opts.products, opts.entry):
            tr.write_line(f"clauses covered: {op.name} {line}")
    tr.write_line(f"wall time: {time.time() - config.stash[STARTED]:.1f} s; "
                  f"records: {opts.output / CASES_FILE}")
    if os.environ.get("CONFORMANCE_SUMMARY_JSON"):
        outcomes = {o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed")}
        Path(os.environ["CONFORMANCE_SUMMARY_JSON"]).write_text(json.dumps({
            "cases": len(records), **outcomes,
            "first_stage_only": sum(1 for r in records if not r["computed"]),
            "wall_seconds": time.time() - config.stash[STARTED]}), encoding="utf-8")
