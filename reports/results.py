"""Reading a run's records back: run.json, items.jsonl and cases.jsonl.gz of an output folder.

A conformance run writes, in its --output-dir:
- `run.json`: what ran (backend, spec profile, products, world sizes, tiers; reports/records.py);
- `items.jsonl`: one line per test item (node id, cell, outcome, reason; reports/records.py);
- `cases.jsonl.gz`: one line per hypothesis example that ran (suites/_conformance.case_record,
  with the node id of its test added by reports/records.py), gzip-compressed as a whole: the
  packed send matrices of thousands of passing cases are most of a run's bytes (`zcat` reads
  it). Every reader here also takes an older run's plain `cases.jsonl`.

A nightly run that re-ran its failed items once has the re-run's records in `rerun/` below the
folder: a re-run item replaces its first result, marked `flaky` if it passed the second time.
Every problem with the files is a `ResultsError` whose message names the file and what is wrong.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ops
from strategies import ReplayError, rebuild

RUN_FILE = "run.json"
ITEMS_FILE = "items.jsonl"
CASES_FILE = "cases.jsonl.gz"
PLAIN_CASES_FILE = "cases.jsonl"  # what runs wrote before the file was compressed
GZIP_MAGIC = b"\x1f\x8b"
RERUN_DIR = "rerun"
ITEM_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


class ResultsError(ValueError):
    """Results that cannot be read; the message names the file and what was expected."""


def cell_id(cell: dict) -> str:
    """A cell's key within a run (suites._conformance.Cell.key)."""
    return (f"{cell['operator']}-{cell['clause']}-{cell['side']}-{cell['product']}-ep{cell['ep']}"
            f"-{cell['dtype']}")


def record_case(rec: dict) -> dict:
    """The case of a record as its JSON dict: a failing record has it whole (`case`), a
    passing one as the choices that drew it (`drawn`: built again, and checked against the
    record's case id) or compact (`case_z`, unpacked by its operator's case model; the cell
    names the operator)."""
    if "case" in rec:
        return rec["case"]
    op = ops.get(rec["cell"]["operator"])
    if "drawn" not in rec:
        return op.case_type.dict_from_compact(rec["case_z"])
    try:
        case = rebuild(op, rec["cell"], rec["drawn"])
    except (ReplayError, ValueError, KeyError, IndexError, TypeError) as err:
        raise ResultsError(f"case {rec.get('case_id')}: its recorded choices do not build it "
                           f"again ({err}); was the suite changed since the run?") from err
    if case.id != rec["case_id"]:
        raise ResultsError(f"case {rec['case_id']}: its recorded choices build case {case.id}; "
                           "was the suite changed since the run?")
    return json.loads(case.to_json(None))


def record_key(rec: dict) -> str:
    """Which test a record belongs to: its pytest node id, else its cell's key."""
    return rec.get("nodeid") or cell_id(rec["cell"])


@dataclass
class Results:
    """The records of one run (or of several runs of the same spec profile, merged)."""

    runs: list[dict]
    items: dict[str, dict] = field(default_factory=dict)  # node id -> item record
    cases: dict[str, list[dict]] = field(default_factory=dict)  # node id -> case records
    sources: list[str] = field(default_factory=list)

    @property
    def spec_profile(self) -> str:
        """The contract version the first run was asked for (--spec-profile, as given: `auto`
        resolves per operator, `operator_run(name)["spec_profile"]`)."""
        return self.runs[0]["spec_profile"]

    @property
    def operators(self) -> list[str]:
        """The operators the runs tested, in the order they ran."""
        seen: list[str] = []
        for run in self.runs:
            seen += [name for name in run["operators"] if name not in seen]
        return seen

    def operator_run(self, name: str) -> dict:
        """What the first run that tested operator `name` says of it (run.json `operators`)."""
        return next(run["operators"][name] for run in self.runs if name in run["operators"])

    @property
    def entry(self) -> str:
        """The entry point the runs called: "v2" when any did (its clauses are then shown)."""
        return "v2" if any(r.get("entry") == "v2" for r in self.runs) else "v1"

    @property
    def products(self) -> list[str]:
        seen: list[str] = []
        for run in self.runs:
            seen += [p for p in run["products"] if p not in seen]
        return seen

    def world_sizes(self, operator: str, product: str) -> list[int]:
        """The world sizes the runs set out to test on `product` for `operator` (after
        --world-sizes)."""
        sizes: set[int] = set()
        for run in self.runs:
            sizes.update(run["operators"].get(operator, {}).get("world_sizes", {}).get(product, []))
        return sorted(sizes)

    def all_cases(self) -> Iterator[tuple[dict | None, dict]]:
        for cid, records in self.cases.items():
            item = self.items.get(cid)
            for rec in records:
                yield item, rec


def cases_path(folder: Path | str) -> Path:
    """A run's case records: cases.jsonl.gz, or an older run's cases.jsonl when only it exists."""
    folder = Path(folder)
    packed, plain = folder / CASES_FILE, folder / PLAIN_CASES_FILE
    return plain if not packed.exists() and plain.exists() else packed


def open_text(path: Path | str) -> io.TextIOBase:
    """A JSON-lines file for reading, gzip-compressed or not (told by its first bytes)."""
    path = Path(path)
    with path.open("rb") as f:
        packed = f.read(2) == GZIP_MAGIC
    if packed:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def write_cases(path: Path | str, records: list[dict]) -> Path:
    """Write case records as JSON lines, gzip-compressed (no timestamp in the header, so the
    same records make the same bytes)."""
    path = Path(path)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                               mtime=0, filename="") as z:
        for rec in records:
            z.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def read_cases(path: Path | str) -> Iterator[dict]:
    """Every record of a cases file (cases.jsonl.gz or cases.jsonl), in order."""
    yield from _read_jsonl(Path(path), ())


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; expected the {path.name} a conformance run writes "
                           "in its --output-dir") from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def _read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[dict]:
    try:
        f = open_text(path)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; expected the {path.name} a conformance run writes "
                           "in its --output-dir") from None
    with f:
        try:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ResultsError(f"{path}:{n}: not valid JSON ({err.msg})") from None
                if not isinstance(rec, dict) or any(k not in rec for k in required):
                    raise ResultsError(f"{path}:{n}: expected an object with keys "
                                       f"{', '.join(required)}")
                yield rec
        except (OSError, EOFError, UnicodeDecodeError) as err:  # a cut or corrupt gzip stream
            raise ResultsError(f"{path}: cannot be read ({err})") from None


def _check_run(path: Path, run: dict) -> dict:
    for key in ("spec_profile", "products", "operators", "backend"):
        if key not in run:
            raise ResultsError(f"{path}: no {key!r}; expected the run.json of reports/records.py")
    return run


def _read_folder(folder: Path) -> tuple[dict, dict[str, dict], dict[str, list[dict]]]:
    if not folder.is_dir():
        raise ResultsError(f"{folder}: not a folder; expected a conformance run's --output-dir "
                           f"(with {RUN_FILE}, {ITEMS_FILE} and {CASES_FILE})")
    run = _check_run(folder / RUN_FILE, _read_json(folder / RUN_FILE))
    items: dict[str, dict] = {}
    for rec in _read_jsonl(folder / ITEMS_FILE, ("cell", "outcome")):
        if rec["outcome"] not in ITEM_OUTCOMES:
            raise ResultsError(f"{folder / ITEMS_FILE}: outcome {rec['outcome']!r}; accepted: "
                               f"{', '.join(ITEM_OUTCOMES)}")
        items[record_key(rec)] = rec
    cases: dict[str, list[dict]] = {}
    for rec in _read_jsonl(cases_path(folder), ("cell", "outcome", "told")):
        cases.setdefault(record_key(rec), []).append(rec)
    return run, items, cases


def load(folder: Path | str) -> Results:
    """One run's records, with its re-run (if any) applied."""
    folder = Path(folder)
    run, items, cases = _read_folder(folder)
    rerun_dir = folder / RERUN_DIR
    if (rerun_dir / ITEMS_FILE).exists():
        _, again, again_cases = _read_folder(rerun_dir)
        for cid, rec in again.items():
            first = items.get(cid)
            rec = dict(rec, rerun=True, first_outcome=first["outcome"] if first else None,
                       first_reason=first["reason"] if first else "")
            rec["flaky"] = bool(first and first["outcome"] in ("failed", "error")
                                and rec["outcome"] in ("passed", "xfailed"))
            items[cid] = rec
            cases[cid] = again_cases.get(cid, [])
    return Results([run], items, cases, [str(folder)])


def load_many(folders: list[Path | str]) -> Results:
    """Several runs' records merged (say one per product or per runner); one spec profile."""
    if not folders:
        raise ResultsError("no results given; expected one or more conformance output folders")
    parts = [load(f) for f in folders]
    # The profile each operator was judged by, not --spec-profile as given: `auto` resolves per
    # run (the installed CANN), and runs of one operator under two profiles cannot be merged.
    for name in dict.fromkeys(n for p in parts for n in p.operators):
        profiles = sorted({p.operator_run(name)["spec_profile"] for p in parts
                           if name in p.operators})
        if len(profiles) > 1:
            raise ResultsError(f"the results are of different spec profiles of {name} "
                               f"({', '.join(profiles)}); build one matrix per profile")
    merged = Results([], sources=[])
    for part in parts:
        merged.runs += part.runs
        merged.sources += part.sources
        # A cell run again in a later folder replaces its earlier records.
        merged.items.update(part.items)
        merged.cases.update(part.cases)
    return merged
