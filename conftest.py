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

from fixtures.backends import BUILTINS, BackendError, BackendSpec, parse_options
from golden.judges import JUDGES
from reports.results import CASES_FILE, PLAIN_CASES_FILE, write_cases
from spec.clauses import CLAUSE, PRODUCTS, clauses_for
from spec.profiles import ProfileError, load
from suites._conformance import Cell, Conformance, Options, cells, regressions, tier_for

ROOT = Path(__file__).parent

# Allure labels and attachments, the item records of the compliance matrix (reports/plugin.py);
# device leasing, worlds attached to torchrun, and `-n auto` on hardware (fixtures/plugin.py).
pytest_plugins = ["reports.plugin", "fixtures.plugin"]

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
EXPECTATION_KEYS = {"clause", "side", "product", "ep", "backend", "profile", "reason"}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "aclnnAlltoAllvGroupedMatMul conformance")
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
                help="entry point: v1 (aclnnAlltoAllvGroupedMatMul) or v2 (...V2, with commMode)")
    g.addoption("--comm-mode", default=None,
                help="V2's commMode for every case (default ai_cpu); only with --entry v2")
    g.addoption("--world-sizes", default="",
                help="comma-separated ep values to test (default: all the product's)")
    g.addoption("--judge", default="mixed", help=f"accuracy standard: {', '.join(JUDGES)}")
    g.addoption("--expectations", default=None, metavar="FILE",
                help="TOML file of known failures, each with a reason")
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


def _options(config: pytest.Config) -> Options:
    # Imported here: a module-level import would load the plugin before pytest_plugins can
    # rewrite its assertions.
    from fixtures.plugin import is_hardware
    from fixtures.protocol import provenance as backend_provenance

    get = config.getoption
    profile, why = _profile(get("spec_profile"), is_hardware(config))
    if get("judge") not in JUDGES:
        _fail(f"--judge {get('judge')!r}: accepted: {', '.join(JUDGES)}")
    hyp = get("hypothesis_profile") or "pr"
    if hyp not in HYPOTHESIS_PROFILES:
        _fail(f"--hypothesis-profile {hyp!r}: accepted: {', '.join(HYPOTHESIS_PROFILES)}")
    tier = tier_for(hyp)
    try:
        backend = BackendSpec.for_profile(get("backend"), parse_options(get("backend_option")),
                                          profile.name)
        instance = backend.make()  # a bad name or option fails here, once, with one line
    except BackendError as err:
        _fail(str(err))
    try:
        provenance = backend_provenance(instance)
    except (TypeError, ValueError, OSError) as err:
        _fail(f"--backend {backend.name!r}: its provenance() failed: {err}")
    budget = tier.memory_budget
    if get("memory_budget") is not None:
        try:
            budget = int(float(get("memory_budget")) * (1 << 30))
        except ValueError:
            _fail(f"--memory-budget {get('memory_budget')!r}: expected a number of GiB")
    if get("case_timeout") <= 0:
        _fail("--case-timeout: expected a positive number of seconds")
    entry, comm_mode = _entry(get("entry"), get("comm_mode"), profile)
    if get("production"):
        from spec.production import names

        try:
            names(get("production"))
        except ValueError as err:
            _fail(str(err))
    return Options(backend=backend, products=_products(get("product"), is_hardware(config)), profile=profile,
                   world_sizes=_world_sizes(get("world_sizes")), judge=get("judge"),
                   output=Path(get("output_dir")), hypothesis_profile=hyp,
                   case_timeout=get("case_timeout"), memory_budget=budget,
                   seed=_seed(config), in_process=backend.world_kind() != "processes",
                   entry=entry, comm_mode=comm_mode, profile_reason=why, provenance=provenance)


def _profile(name: str, hardware: bool):
    """The spec profile named, or with `auto` the shipped one matching the installed CANN."""
    if name != "auto":
        try:
            return load(name), ""
        except ProfileError as err:
            _fail(f"--spec-profile: {err}")
    if not hardware:
        _fail("--spec-profile auto: reads the installed CANN, so it needs a hardware backend "
              "(aclnn, torch_npu); a simulated backend follows the profile you name")
    from reports.plugin import cann_version
    from spec.installed import find_install, pick

    try:
        profile, why = pick(find_install(cann_version=cann_version()))
    except ProfileError as err:
        _fail(str(err))
    return profile, f"auto: {why}"


def _entry(entry: str, comm_mode: str | None, profile) -> tuple[str, str | None]:
    """The entry point and V2's commMode; V2 only under a profile of a version that has it."""
    from spec.clauses import ENTRIES
    from strategies.clauses import engines_of

    if entry not in ENTRIES:
        _fail(f"--entry {entry!r}: accepted: {', '.join(ENTRIES)}")
    if entry == "v1":
        if comm_mode is not None:
            _fail("--comm-mode: only V2 takes a commMode; add --entry v2")
        return entry, None
    if entry not in profile.entries:
        from spec.profiles import available

        with_v2 = [n for n in available() if "v2" in load(n).entries]
        _fail(f"--entry v2: spec profile {profile.name} predates aclnnAlltoAllvGroupedMatMulV2; "
              f"profiles with V2: {', '.join(with_v2)}")
    known = engines_of(profile)
    mode = comm_mode if comm_mode is not None else known[0]
    if mode not in known:
        _fail(f"--comm-mode {mode!r}: accepted: {', '.join(known)} (profile {profile.name})")
    return entry, mode


def _seed(config: pytest.Config) -> str | None:
    """`--hypothesis-seed` (hypothesis's own option). Hypothesis ignores it under the `pr`
    profile's derandomize and would give every cell the same stream otherwise, so the suite
    applies it itself: each cell draws from a seed derived from it and the cell's id."""
    value = config.getoption("hypothesis_seed", None)
    return None if value is None else str(value)


def _expectations(path: str | None) -> list[dict]:
    if path is None:
        return []
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"--expectations {path}: no such file")
    except tomllib.TOMLDecodeError as err:
        _fail(f"--expectations {path}: not valid TOML ({err})")
    entries = data.get("expected_failure", [])
    if set(data) - {"expected_failure"} or not isinstance(entries, list):
        _fail(f"--expectations {path}: expected only [[expected_failure]] tables")
    for i, e in enumerate(entries):
        where = f"--expectations {path}: expected_failure #{i + 1}"
        if set(e) - EXPECTATION_KEYS:
            _fail(f"{where}: unknown key {sorted(set(e) - EXPECTATION_KEYS)[0]!r}; accepted: "
                  f"{', '.join(sorted(EXPECTATION_KEYS))}")
        if not str(e.get("reason", "")).strip():
            _fail(f"{where}: every known failure needs a reason")
        if "clause" not in e or e["clause"] not in CLAUSE:
            _fail(f"{where}: 'clause' must name a clause of spec/clauses.py, got "
                  f"{e.get('clause')!r}")
    return entries


def pytest_configure(config: pytest.Config) -> None:
    hyp = config.getoption("hypothesis_profile") or "pr"
    if hyp in HYPOTHESIS_PROFILES:
        settings.load_profile(hyp)
    if not _wants_conformance(config):
        return
    opts = _options(config)
    config._conformance_options = opts
    config._conformance_expectations = _expectations(config.getoption("expectations"))
    config._conformance_start = time.time()
    config._conformance_records = []


def _wants_conformance(config: pytest.Config) -> bool:
    """The suite's own tests (tests/) do not need a backend session."""
    args = [a for a in config.args if not a.startswith("-")]
    return not args or any("suites" in Path(a).parts or a.startswith("suites") for a in args)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames and "regression" not in metafunc.fixturenames:
        return
    opts = getattr(metafunc.config, "_conformance_options", None)
    if opts is None:
        opts = _options(metafunc.config)
        metafunc.config._conformance_options = opts
    if "cell" in metafunc.fixturenames:
        area_cells = cells(metafunc.module.AREA, opts)
        metafunc.parametrize("cell", area_cells, ids=[c.id for c in area_cells])
    else:
        saved = regressions(opts)
        metafunc.parametrize("regression", saved, ids=[p.stem for p in saved])


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest):
    session = Conformance(request.config._conformance_options)
    yield session
    session.close()


def _matches(entry: dict, cell: Cell, opts: Options) -> bool:
    return (entry["clause"] == cell.clause
            and entry.get("side", cell.side) == cell.side
            and entry.get("product", cell.product) == cell.product
            and int(entry.get("ep", cell.ep)) == cell.ep
            and entry.get("backend", opts.backend.name) == opts.backend.name
            and entry.get("profile", opts.profile.name) == opts.profile.name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expectations = getattr(config, "_conformance_expectations", [])
    opts = getattr(config, "_conformance_options", None)
    for item in items:
        cell = getattr(getattr(item, "callspec", None), "params", {}).get("cell")
        if cell is None:
            continue
        item.add_marker(pytest.mark.clause(cell.clause))
        for entry in expectations:
            if _matches(entry, cell, opts):
                item.add_marker(pytest.mark.xfail(reason=entry["reason"], strict=True))
                break


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    config = _CONFIG.get("config")
    if config is None or not hasattr(config, "_conformance_records"):
        return
    for key, value in report.user_properties:
        if key == "conformance_cases":
            config._conformance_records.extend(value)


_CONFIG: dict = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not hasattr(config, "_conformance_records"):
        return
    if config.option.collectonly:  # a collection must not replace the last run's records
        return
    opts: Options = config._conformance_options
    opts.output.mkdir(parents=True, exist_ok=True)
    (opts.output / PLAIN_CASES_FILE).unlink(missing_ok=True)  # an older run's, now stale
    write_cases(opts.output / CASES_FILE, config._conformance_records)


def coverage(records: list[dict], products: tuple[str, ...], entry: str = "v1") -> list[str]:
    lines = []
    for product in products:
        valid_total = invalid_total = valid = invalid = 0
        seen_valid = {c for r in records if r["cell"]["product"] == product
                      and r["outcome"] != "not_applicable" and r["cell"]["side"] == "valid"
                      for c in r["exercised"]}
        seen_invalid = {r["cell"]["clause"] for r in records if r["cell"]["product"] == product
                        and r["cell"]["side"] == "invalid"}
        for clause in clauses_for(product, entry=entry):
            valid_total += 1
            valid += clause.id in seen_valid
            if clause.has_invalid_side:
                invalid_total += 1
                invalid += clause.id in seen_invalid
        lines.append(f"{product}: {valid + invalid}/{valid_total + invalid_total} clause sides "
                     f"covered (valid side {valid}/{valid_total}, invalid side "
                     f"{invalid}/{invalid_total})")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not hasattr(config, "_conformance_records"):
        return
    opts: Options = config._conformance_options
    records = config._conformance_records
    if not records and not terminalreporter.stats.get("passed"):
        return
    outcomes = {o: sum(r["outcome"] == o for r in records) for o in ("passed", "failed")}
    first_only = sum(1 for r in records if not r["computed"])
    tr = terminalreporter
    tr.section("conformance summary")
    made = ", ".join(f"{k} {v}" for k, v in opts.provenance.items())
    tr.write_line(f"backend {opts.backend.describe()}" + (f" ({made})" if made else "")
                  + f"; spec profile {opts.profile.name} "
                  f"({opts.profile.kind}: {opts.profile.title}"
                  + (f"; {opts.profile_reason}" if opts.profile_reason else "")
                  + f"); entry {opts.entry}"
                  + (f" commMode {opts.comm_mode}" if opts.entry == "v2" else "") + "; "
                  f"products {', '.join(opts.products)}; judge {opts.judge}; "
                  f"hypothesis profile {opts.hypothesis_profile}"
                  + (f" seeded {opts.seed}" if opts.seed is not None else ""))
    tr.write_line(f"cases run: {len(records)} (passed {outcomes['passed']}, failed "
                  f"{outcomes['failed']}); outputs computed in {len(records) - first_only}, "
                  f"first stage only in {first_only}")
    for line in coverage(records, opts.products, opts.entry):
        tr.write_line(f"clauses covered: {line}")
    tr.write_line(f"wall time: {time.time() - config._conformance_start:.1f} s; "
                  f"records: {opts.output / CASES_FILE}")
    if os.environ.get("CONFORMANCE_SUMMARY_JSON"):
        Path(os.environ["CONFORMANCE_SUMMARY_JSON"]).write_text(json.dumps({
            "cases": len(records), **outcomes, "first_stage_only": first_only,
            "wall_seconds": time.time() - config._conformance_start}), encoding="utf-8")
