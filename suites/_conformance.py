"""What every conformance test does with its cell: draw cases, run them, say what failed.

A cell is (operator, clause, side, product, ep, dtype). Its test draws cases of that operator on
that side of that clause in a world of ep ranks (hypothesis), runs each on the chosen backend and
checks the outcome the chosen spec profile expects. A failure names the clause, says what
differs, and gives one command that replays exactly that case.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, reject, seed, settings
from hypothesis.errors import Unsatisfiable

import ops
from fixtures.backends import BackendSpec
from fixtures.runner import CaseResult, Worlds
from spec.operator import AREAS, Operator
from spec.outcome import (
    FAILURE,
    NOT_APPLICABLE,
    UNREACHABLE,
    Cell,
    ConformanceFailure,
    Skip,
)
from spec.profiles import Profile
from strategies import clause_cases, drawn_form, probe, world_bytes
from strategies import tier as tiers

INVALID_WORLD_SIZES = (2, 4, 12, 128)  # candidates for an unsupported epWorldSize
DERANDOMIZED = "derandomized"  # the run seed of a profile with derandomize (pr, debug)


@dataclass
class OperatorRun:
    """One operator of the run: its profile of the chosen version and its backend."""

    operator: Operator
    profile: Profile
    backend: BackendSpec
    profile_reason: str = ""  # why --spec-profile auto chose the profile
    provenance: dict[str, str] = field(default_factory=dict)  # the backend's provenance()


@dataclass
class Options:
    runs: dict[str, OperatorRun]  # operator name: its run, in registry order
    products: tuple[str, ...]
    world_sizes: tuple[int, ...] | None  # None: each product's own
    judge: str
    output: Path
    hypothesis_profile: str
    case_timeout: float
    memory_budget: int
    seed: str | None = None  # --hypothesis-seed: every cell then draws from its own seed
    in_process: bool = True  # the backend's ranks run in this process (the sim)
    entry: str = "v1"  # --entry: the entry point every case calls (v2: with comm_mode)
    comm_mode: str | None = None  # --comm-mode: V2's commMode
    backend_name: str = "sim"  # --backend as given (each operator's run resolves it)
    profile_name: str = "doc"  # --spec-profile as given
    left_out: tuple[str, ...] = ()  # a chosen product no chosen profile covers, and why

    def sizes(self, op: Operator, product: str) -> tuple[int, ...]:
        own = op.world_sizes(product)
        return own if self.world_sizes is None else tuple(s for s in own if s in self.world_sizes)

    def product_sizes(self, run: OperatorRun, cell_clause: str, product: str, side: str
                      ) -> tuple[int, ...]:
        """World sizes of a PRODUCT.*.epWorldSize cell: the ep values themselves are the test."""
        allowed = run.profile.rule(cell_clause).values
        sizes = allowed if side == "valid" else tuple(s for s in INVALID_WORLD_SIZES if s not in allowed)
        if self.world_sizes is not None:
            return tuple(s for s in sizes if s in self.world_sizes)
        if not self.in_process:  # 128 rank processes only when asked for by --world-sizes
            return tuple(s for s in sizes if s <= max(run.operator.world_sizes(product)))
        return sizes


# The run's state in pytest's config.stash, set by conftest.py's pytest_configure.
OPTIONS = pytest.StashKey[Options]()
KNOWN_FAILURES = pytest.StashKey[list]()  # the --known-failures entries ([[expected_failure]])
STARTED = pytest.StashKey[float]()  # time.time() at configure: the summary's wall time


def cells(area: str, opts: Options) -> list[Cell]:
    if area not in AREAS:
        raise KeyError(area)
    out = []
    for run in opts.runs.values():
        op = run.operator
        for product in opts.products:
            if product not in op.products or product not in run.profile.products:
                continue
            for clause in op.clauses_for(product, area, opts.entry):
                sides = ("valid", "invalid") if clause.has_invalid_side else ("valid",)
                for side in sides:
                    sizes = (opts.product_sizes(run, clause.id, product, side)
                             if clause.id.startswith("PRODUCT.")
                             and clause.id.endswith(".epWorldSize")
                             else opts.sizes(op, product))
                    out += [Cell(op.name, clause.id, side, product, ep, dtype)
                            for ep in sizes for dtype in op.dtypes]
    return out


def cell_seed(run_seed: str, cell_id: str) -> int:
    """The seed of one cell in a seeded run: its own stream per cell (one shared seed would
    make every cell draw the same choices), the same on every machine and worker."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}/{cell_id}".encode()).digest()[:8], "big")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:180]


class Conformance:
    """The session's backend, profile and judge, and the checks every test shares."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        product = opts.products[0] if len(opts.products) == 1 else ""
        self.worlds = {name: Worlds(run.backend, opts.case_timeout, product)
                       for name, run in opts.runs.items()}
        self._probes: dict[Cell, tuple[object | None, str | None]] = {}
        self._after_failure: AfterFailure | None = None  # the budget of the cell under test

    def close(self) -> None:
        for worlds in self.worlds.values():
            worlds.close()

    # -- replay --------------------------------------------------------------------------
    def replay_command(self, path: Path, operator: str) -> str:
        o, run = self.opts, self.opts.runs[operator]
        parts = ["python", "-m", "ci.replay", str(path)]
        if run.operator.home not in ops.BUILT_IN:  # registered elsewhere: replay must import it
            parts += ["--operator-home", run.operator.home]
        parts += ["--backend", run.backend.name]
        for k, v in run.backend.options.items():
            parts += ["--backend-option", f"{k}={v}"]
        parts += ["--spec-profile", run.profile.name, "--judge", o.judge]
        return shlex.join(parts)

    def save_case(self, case: object, name: str) -> Path:
        folder = self.opts.output / "cases"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_slug(name)}.json"
        path.write_text(case.to_json() + "\n", encoding="utf-8")
        return path

    # -- one case ------------------------------------------------------------------------
    def run_case(self, case) -> CaseResult:
        watch = self._after_failure
        if watch is not None:  # inside a cell's hypothesis run
            known = watch.failures.get(case.id)
            if known is not None:  # hypothesis reproducing a failure it has seen: no new run
                return known
            if watch.failures and not watch.allows():
                reject()  # past the cell's budget for shrinking: the replay command goes on
        run = self.opts.runs[type(case).OPERATOR]
        result = self.worlds[run.operator.name].run(self.cap_by_memory(case, run.profile),
                                                    run.profile, self.opts.judge)
        if watch is not None and result.outcome == "failed":
            watch.failed(case.id, result)
        return result

    def cap_by_memory(self, case, profile: Profile):
        """A world too large for this tier runs its first stage only (reported as such)."""
        if case.stage == "both" and self.too_big(case, profile):
            return case.with_(stage="first")
        return case

    def too_big(self, case, profile: Profile) -> str | None:
        size = world_bytes(case, profile)
        if size > self.opts.memory_budget:
            return f"the world needs {size / 2**30:.1f} GiB, over the memory budget"
        return tiers.current().computable(size, case.ep)

    def failure_message(self, result: CaseResult, path: Path) -> str:
        case, exp = result.case, result.expectation
        lines = []
        for f in result.findings[:8]:
            lines.append(f.line())
        if len(result.findings) > 8:
            lines.append(f"... and {len(result.findings) - 8} more findings")
        statuses = [(r.status1, r.status2) for r in result.reports]
        op = ops.of(case)
        lines += [
            f"case: {op.title} {case.label()} ({case.side} side of {case.clause}, "
            f"stage {case.stage})",
            f"expected ({self.opts.runs[op.name].profile.name}): {exp.describe()}",
            f"statuses per rank (first, second stage): {statuses}",
            f"replay: {self.replay_command(path, op.name)}",
        ]
        folder = op.regressions  # an operator may keep none, or keep them outside the checkout
        if folder is not None:
            shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
            lines.append(f"keep as a regression: cp {path} {shown}/")
        return "\n".join(lines)

    # -- one cell ------------------------------------------------------------------------
    def skip_reason(self, cell: Cell) -> Skip | None:
        run = self.opts.runs[cell.operator]
        clause, profile, worlds = run.operator.clause[cell.clause], run.profile, \
            self.worlds[cell.operator]
        unfit = worlds.unfit(cell.ep)
        if unfit:
            return Skip(NOT_APPLICABLE, unfit)
        enforcement = profile.enforces(cell.clause, cell.product)
        if cell.side == "invalid" and enforcement.kind == "undefined":
            return Skip(NOT_APPLICABLE, f"{cell.clause} is a caller precondition in profile "
                                        f"{profile.name}; breaking it is undefined behaviour")
        missing = set(clause.needs) - worlds.capabilities if cell.side == "invalid" else set()
        if missing:
            return Skip(NOT_APPLICABLE, f"backend {run.backend.name} cannot express this call "
                                        f"(needs {', '.join(sorted(missing))})")
        if cell not in self._probes:
            self._probes[cell] = probe(cell.clause, cell.side, cell.product, cell.ep, profile,
                                       cell.dtype, self.opts.entry, self.opts.comm_mode)
        why = self._probes[cell][1]
        return None if why is None else Skip(UNREACHABLE, why, cell.ep)

    def examples(self, cell: Cell) -> int:
        """The profile's number of examples, fewer for cells whose worlds are large to compute."""
        base = settings.default.max_examples
        case, profile = self._probes[cell][0], self.opts.runs[cell.operator].profile
        if case is None or case.stage != "both" or self.too_big(case, profile):
            return base
        if world_bytes(case, profile) <= tiers.current().small_world:
            return base
        return max(1, base // 3) if cell.ep <= 8 else max(1, base // 6)

    def check(self, cell: Cell, item: pytest.Item) -> None:
        why = self.skip_reason(cell)
        if why:
            why.skip(item)
        records: list[dict] = []
        item.user_properties.append(("conformance_cases", records))
        not_applicable: list[str] = []
        replay_name = f"{item.nodeid}"

        @settings(max_examples=self.examples(cell),
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
        @given(case=clause_cases(cell.clause, cell.side, cell.product, cell.ep,
                                 self.opts.runs[cell.operator].profile, cell.dtype,
                                 self.opts.entry, self.opts.comm_mode))
        def conformance_case(case) -> None:
            start = time.perf_counter()
            watch = self._after_failure
            # hypothesis asking again for a failure it has seen, to report it: answered from
            # memory by run_case and recorded already (its record moves last, as the case the
            # test reports), saved again as the case reported
            seen = watch is not None and case.id in watch.failures
            result = self.run_case(case)
            event(f"stage: {result.plan.case.stage if result.plan else 'not run'}")
            if result.outcome == "not_applicable":
                not_applicable.append(result.reason)
                reject()
            known = next((r for r in records if seen and r["case_id"] == result.case.id
                          and r["outcome"] == result.outcome), None)
            if known is not None:
                records.remove(known)
            run = self.opts.runs[cell.operator]
            records.append(known or case_record(
                cell, result, time.perf_counter() - start,
                drawn_form(case, result.case, run.profile, self.opts.entry, self.opts.comm_mode)))
            if not result.passed:
                path = self.save_case(result.case, replay_name)
                note(f"case JSON: {path}")
                self.fail(item, result, path)

        # Each cell its own database entry and its own stream of draws, both named by the cell
        # rather than by hypothesis's digest of this closure's source (hooks of the pinned
        # hypothesis, as its pytest plugin uses them): the draws of a cell do not move when this
        # file is edited, and the digest (tokenising the source) is not paid once per cell.
        conformance_case._hypothesis_internal_database_key = cell.key.encode()
        run_seed = self.opts.seed if self.opts.seed is not None else (
            DERANDOMIZED if settings.default.derandomize else None)
        if run_seed is not None:
            conformance_case = seed(cell_seed(run_seed, cell.id))(conformance_case)
        self._after_failure = AfterFailure(tiers.current())
        try:
            conformance_case()
        except Unsatisfiable:
            if not_applicable:
                Skip(NOT_APPLICABLE, not_applicable[0]).skip(item)
            raise
        except ConformanceFailure as failure:
            # A verdict's message (and hypothesis's notes on it) say everything; the frames it
            # was raised through (hypothesis's and this module's) are dropped, not formatted.
            raise failure.with_traceback(None) from None
        finally:
            self._after_failure = None

    def fail(self, item: pytest.Item, result: CaseResult, path: Path) -> None:
        """Fail the item with the case's verdict: as text for people, and as data on the item
        (its first finding and replay command) for the reports, which never read the text."""
        op = ops.of(result.case)
        failure = {"finding": result.findings[0].brief(), "case_id": result.case.id,
                   "replay": self.replay_command(path, op.name)}
        item.user_properties[:] = [p for p in item.user_properties if p[0] != FAILURE]
        item.user_properties.append((FAILURE, failure))
        raise ConformanceFailure(self.failure_message(result, path), result)




class AfterFailure:
    """How many more cases a cell may run once it has failed (the tier's after_failure_runs
    and after_failure_seconds): shrinking and explaining a failure are bounded per cell, and
    a failing case hypothesis asks for again is answered from memory."""

    def __init__(self, tier: tiers.Tier) -> None:
        self.tier, self.runs, self.since = tier, 0, None
        self.failures: dict[str, CaseResult] = {}  # drawn case id: its result

    def failed(self, case_id: str, result: CaseResult) -> None:
        self.failures[case_id] = result
        if self.since is None:
            self.since = time.perf_counter()

    def allows(self) -> bool:
        self.runs += 1
        return (self.runs <= self.tier.after_failure_runs
                and time.perf_counter() - self.since <= self.tier.after_failure_seconds)


ROOT = Path(__file__).resolve().parents[1]


def regressions(opts: Options) -> list[tuple[str, Path]]:
    """(operator, saved case) of every operator's regressions/ for the products and world sizes
    this run tests."""
    chosen = []
    for name, run in opts.runs.items():
        folder = run.operator.regressions
        for path in sorted(folder.glob("*.json")) if folder is not None else ():
            case = run.operator.case_type.from_json(path.read_text(encoding="utf-8"))
            if case.product in opts.products and (opts.world_sizes is None
                                                  or case.ep in opts.world_sizes):
                chosen.append((name, path))
    return chosen


def replay_regression(conformance: Conformance, operator: str, path: Path, item: pytest.Item
                      ) -> None:
    """Run a saved case (ops/<name>/regressions/*.json) as an explicit example: the `@example`
    of this suite, kept as data so a failure found by hypothesis becomes a regression by copying
    its JSON file."""
    case = ops.get(operator).case_type.from_json(path.read_text(encoding="utf-8"))
    cell = Cell(operator, case.clause, case.side, case.product, case.ep, case.dtype)
    records: list[dict] = []
    item.user_properties.append(("conformance_cases", records))
    start = time.perf_counter()
    result = conformance.run_case(case)
    if result.outcome == "not_applicable":
        Skip(NOT_APPLICABLE, result.reason).skip(item)
    records.append(case_record(cell, result, time.perf_counter() - start))
    if not result.passed:
        conformance.fail(item, result, path)


def _hide_for_verdicts(excinfo: pytest.ExceptionInfo | None) -> bool:
    """Whether pytest leaves this module's frames out of a failure's traceback: for a verdict
    (ConformanceFailure), whose message names the clause, the case and its replay command,
    they are noise, and formatting them (pytest parses a frame's whole source file again for
    each) was most of what a failing cell cost beyond its cases. Any other error keeps them."""
    return excinfo is not None and excinfo.errisinstance(ConformanceFailure)


__tracebackhide__ = _hide_for_verdicts


def case_record(cell: Cell, result: CaseResult, seconds: float, drawn: dict | None = None
                ) -> dict:
    """A case's line of cases.jsonl.gz. A failing case keeps everything; a passing one what the
    matrix and a replay need: its verdict, the clause sides it told about, its timings, and its
    case as the choices that drew it (`drawn`, strategies.drawn_form) or else compact."""
    plan = result.plan
    record = {
        "cell": cell.__dict__,
        "case_id": result.case.id,
        "outcome": result.outcome,
        "stage": plan.case.stage if plan else None,
        "computed": bool(plan and plan.data_mode),
        "expected": result.expectation.describe(),
        "deciding_clause": result.expectation.clause,  # whose violation sets the status
        "reading": result.reading,  # the reading of an ambiguous clause the outcome followed
        "told": [t.record() for t in result.told],
        "failed_clauses": result.failing_clauses(),
        "findings": [f.__dict__ for f in result.findings[:20]],
        "verdicts": [v for r in result.reports for v in r.verdicts][:12],
        "notes": [n for r in result.reports for n in r.notes][:12],
        "seconds": round(seconds, 4),
        "timings": _timings(result),
    }
    if hasattr(result.case, "e"):  # shown beside the test in Allure (a test's cases differ in e)
        record["e"] = result.case.e
    if result.outcome == "failed":
        record["case"] = json.loads(result.case.to_json(None))
    else:
        del record["findings"], record["verdicts"]  # none; the judge's numbers of a pass
        if drawn is not None:
            record["drawn"] = drawn
        else:
            record["case_z"] = result.case.to_compact()
    return record


def _timings(result: CaseResult) -> dict[str, float]:
    """Milliseconds of rank CPU per phase (fixtures.harness), summed over ranks."""
    out: dict[str, float] = {}
    for r in result.reports:
        for phase, s in r.timings.items():
            out[phase] = out.get(phase, 0.0) + s
    return {k: round(1000 * v, 3) for k, v in out.items()}


def tier_for(hypothesis_profile: str) -> tiers.Tier:
    return tiers.use("nightly" if hypothesis_profile == "nightly" else "pr")
