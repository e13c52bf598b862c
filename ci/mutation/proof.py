"""Cases a catalog entry need not run: where it provably runs them as the reference sim does.

Same code and the same answer to every read make the same run. The replay worker runs each case
once on the reference simulator with its reads recorded: every attribute read on a rank's
backend (by the harness or by the backend's own code), and its check table
(`fixtures.checks.CheckedSim`): each run of the table (`first_broken`) with, per check, what it
answered and which entries of the row it read, and any other read of the row. An entry derived
from the reference class whose attributes are the reference's for every name that run read, and
whose own row gives every run of the table the same status, would make the same calls in the
same order with the same results: it earns the reference's verdict on that case, passed, without
running it.

A run of the table is re-decided for an entry from what it changed alone: a check it leaves out
or adds, a check that read a limit (or world sizes, engines) it changed (asked again, of the
entry's row), the code of the check that decided. So a validation mutant is proved on every case
none of whose calls its change decides, and a computation fault or a correct variant on every
case that stops after the first stage; the cases its change can reach, it runs.

What the recording cannot follow proves nothing (a read of the row other than an item, a
membership or the whole container; a table whose checks repeat a name), and neither does a
reference run that did not pass: the entries then run the case.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Set
from typing import Any

from fixtures.checks import SUCCESS, Check, CheckedSim, Row

FIELD = object()  # a read of the field at all (its kind, its value when it is no container)
EVERY = object()  # a read of a container's every key (iteration, length)
_MISSING = object()
# Read on an instance, these name the instance itself, never an attribute it shares with its class.
_OWN = frozenset({"__class__", "__dict__"})
_PLAIN = (str, int, float, bool, type(None), tuple, frozenset)
_MODELLED = frozenset({"absent", "codes"})  # what a run of the table reads besides its checks
_LOOP = object()  # the recorder's scope inside a run of the table, between its checks

Key = tuple[str, str, object]  # (the backend's attribute holding the row, field, key)


class TableRun:
    """One `first_broken(checks, call)` of the reference: per check asked, its answer and the row
    keys it read; the check that decided (None: none broke)."""

    def __init__(self, checks: tuple[Check, ...], call: object) -> None:
        self.checks, self.call = checks, call
        self.order = {c.name: i for i, c in enumerate(checks)}
        self.answers: dict[str, tuple[bool, frozenset[Key]]] = {}
        self.readers: dict[Key, list[str]] = {}  # row key -> the checks that read it
        self.attribute = ""  # the backend attribute of the row it ran on
        self.decided: str | None = None
        self.status = SUCCESS


class Reads:
    """What one recorded run read: attribute names on its backends, row keys read outside a run
    of the table, the runs of the table; `unfollowed` when it read the row in a way the record
    cannot say."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.keys: set[Key] = set()
        self.table_runs: list[TableRun] = []
        self.unfollowed = False

    @functools.cached_property
    def reached(self) -> tuple[frozenset[Key], frozenset[str], frozenset[str]]:
        """Over every run of the table: the row keys its checks read, the checks in its tables,
        the checks that decided."""
        keys = frozenset(k for run in self.table_runs for k in run.readers)
        names = frozenset(n for run in self.table_runs for n in run.order)
        decided = frozenset(run.decided for run in self.table_runs if run.decided)
        return keys, names, decided


class Recorder:
    """Where the recording backends of one reference world write: `start()` begins a case."""

    def __init__(self) -> None:
        self.reads = Reads()
        self.scope: object = None  # None, _LOOP, or the key set of the check being asked

    def start(self) -> Reads:
        self.reads, self.scope = Reads(), None
        return self.reads

    def read(self, key: Key) -> None:
        if self.scope is None:
            self.reads.keys.add(key)
        elif self.scope is _LOOP:
            if key[1] not in _MODELLED:
                self.reads.keys.add(key)
        else:
            self.scope.add(key)  # type: ignore[attr-defined]

    def table_run(self, checks: Any, call: object, run: Callable[[tuple[Check, ...]], int]
                  ) -> int:
        """`run` (the reference's first_broken) on `checks` asked through recording wrappers."""
        checks = tuple(checks)
        record = TableRun(checks, call)
        if len(record.order) != len(checks):
            self.reads.unfollowed = True
        asked = tuple(Check(c.name, self._asking(record, c)) for c in checks)
        outer, self.scope = self.scope, _LOOP
        try:
            status = run(asked)
        finally:
            self.scope = outer
        record.status = status
        if status != SUCCESS:
            record.decided = next((c.name for c in reversed(checks)
                                   if c.name in record.answers and record.answers[c.name][0]), None)
            if record.decided is None:  # a status no check decided: not the table's model
                self.reads.unfollowed = True
        self.reads.table_runs.append(record)
        return status

    def _asking(self, record: TableRun, check: Check) -> Callable[[object, object], bool]:
        def breaks(call: object, row: object) -> bool:
            if not isinstance(row, _RecordedRow):
                self.reads.unfollowed = True
            else:
                record.attribute = row._attribute
            keys: set[Key] = set()
            outer, self.scope = self.scope, keys
            try:
                answer = bool(check.breaks(call, row))
            finally:
                self.scope = outer
            record.answers[check.name] = (answer, frozenset(keys))
            for key in keys:
                record.readers.setdefault(key, []).append(check.name)
            return answer

        return breaks


class _Recorded:
    """A recording view of a container field of a row: a key asked for, or every key."""

    def __init__(self, value: Mapping | Set, where: tuple[str, str], recorder: Recorder) -> None:
        self._value, self._where, self._recorder = value, where, recorder

    def _read(self, key: object) -> None:
        self._recorder.read((*self._where, key))

    def __contains__(self, key: object) -> bool:
        self._read(key)
        return key in self._value

    def __iter__(self) -> Iterator:
        self._read(EVERY)
        return iter(self._value)

    def __len__(self) -> int:
        self._read(EVERY)
        return len(self._value)


class _RecordedMapping(_Recorded, Mapping):
    def __getitem__(self, key: object) -> Any:
        self._read(key)
        return self._value[key]  # type: ignore[index]

    def get(self, key: object, default: Any = None) -> Any:
        self._read(key)
        return self._value.get(key, default)  # type: ignore[union-attr]


class _RecordedSet(_Recorded, Set):
    pass


class _RecordedRow:
    """A check-table row whose field reads are recorded; a field that is a mapping or a set comes
    back as a recording view of it, any other field as its value."""

    def __init__(self, row: Row, attribute: str, recorder: Recorder) -> None:
        self._row, self._attribute, self._recorder = row, attribute, recorder
        self._fields = frozenset(f.name for f in dataclasses.fields(row))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._row, name)
        if name not in self._fields:
            self._recorder.reads.unfollowed = True
            return value
        where = (self._attribute, name)
        self._recorder.read((*where, FIELD))
        if isinstance(value, Mapping):
            return _RecordedMapping(value, where, self._recorder)
        if isinstance(value, Set):
            return _RecordedSet(value, where, self._recorder)
        return value


@functools.cache
def _recording_class(cls: type) -> type:
    read = cls.__getattribute__

    def __getattribute__(self: Any, name: str) -> Any:
        object.__getattribute__(self, "_proof_recorder").reads.names.add(name)
        return read(self, name)

    body: dict[str, Any] = {"__getattribute__": __getattribute__}
    if issubclass(cls, CheckedSim) and cls.first_broken is CheckedSim.first_broken:
        def first_broken(self: Any, checks: Any, call: object) -> int:
            recorder = object.__getattribute__(self, "_proof_recorder")
            return recorder.table_run(checks, call,
                                      lambda asked: CheckedSim.first_broken(self, asked, call))

        body["first_broken"] = first_broken
    return type(f"Recording{cls.__name__}", (cls,), body)


def recording(backend: object, recorder: Recorder) -> object:
    """`backend` (a reference sim) made to record its reads into `recorder`."""
    for name, value in list(vars(backend).items()):
        if isinstance(value, Row):
            setattr(backend, name, _RecordedRow(value, name, recorder))
    backend._proof_recorder = recorder  # type: ignore[attr-defined]
    backend.__class__ = _recording_class(type(backend))
    return backend


def make_recording(make_reference: Callable[[], object], recorder: Recorder) -> Callable[[], object]:
    """A factory of recording reference backends, for a world of them."""
    return lambda: recording(make_reference(), recorder)


def _plain_equal(a: object, b: object) -> bool:
    return type(a) is type(b) and isinstance(a, _PLAIN) and a == b


def _row_keys(attribute: str, mine: Row, theirs: Row) -> set[Key]:
    """The keys at which two rows answer differently."""
    keys: set[Key] = set()
    for f in dataclasses.fields(theirs):
        a, b = getattr(mine, f.name, _MISSING), getattr(theirs, f.name)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            differ = {k for k in {*a, *b} if a.get(k, _MISSING) != b.get(k, _MISSING)}
        elif isinstance(a, Set) and isinstance(b, Set):
            differ = set(a ^ b)
        else:
            if isinstance(a, (Mapping, Set)) or isinstance(b, (Mapping, Set)) or a != b:
                keys.add((attribute, f.name, FIELD))
            continue
        keys |= {(attribute, f.name, k) for k in differ}
        if differ:
            keys.add((attribute, f.name, EVERY))
    return keys


class Difference:
    """Where one entry's backend differs from the reference's: the attribute names that resolve
    to another object (or to an instance value not plainly equal), and per row the keys that
    answer differently. `of` gives None when it cannot be said (not derived from the reference,
    ranks whose backends differ)."""

    def __init__(self, names: frozenset[str], keys: frozenset[Key], rows: dict[str, Row]) -> None:
        self.names, self.keys, self.rows = names, keys, rows
        self.asked = frozenset(k for k in keys if k[1] not in _MODELLED)  # what checks read
        self.absent = frozenset(k[2] for k in keys if k[1] == "absent" and isinstance(k[2], str))
        self.codes = frozenset(k[2] for k in keys if k[1] == "codes" and isinstance(k[2], str))

    @classmethod
    def of(cls, backends: list[object], reference: object) -> Difference | None:
        ref_cls, mine = type(reference), backends[0]
        if not isinstance(mine, ref_cls):
            return None
        own = vars(mine)
        if any(vars(b).keys() != own.keys() for b in backends[1:]) or any(
                not (_plain_equal(v, vars(b)[k]) or (isinstance(v, Row) and v == vars(b)[k]))
                for b in backends[1:] for k, v in own.items()):
            return None
        theirs = vars(reference)
        names, keys, rows = set(_OWN), set(), {}
        for name in {*dir(type(mine)), *dir(ref_cls), *own, *theirs}:
            if name in own or name in theirs:
                a, b = own.get(name, _MISSING), theirs.get(name, _MISSING)
                if isinstance(a, Row) and isinstance(b, Row) and type(a) is type(b):
                    keys |= _row_keys(name, a, b)
                    rows[name] = a
                elif not _plain_equal(a, b):
                    names.add(name)
            elif (inspect.getattr_static(type(mine), name, _MISSING)
                  is not inspect.getattr_static(ref_cls, name, _MISSING)):
                names.add(name)
        if any(k[1] in _MODELLED and k[2] is FIELD for k in keys):
            return None
        return cls(frozenset(names), frozenset(keys), rows)

    def proves(self, reads: Reads) -> bool:
        """Whether a run with these reads is the reference's run on this entry too."""
        if reads.unfollowed or not self.names.isdisjoint(reads.names) \
                or not self.keys.isdisjoint(reads.keys):
            return False
        if not self.keys:
            return True
        keys, names, decided = reads.reached
        if self.asked.isdisjoint(keys) and self.absent.isdisjoint(names) \
                and self.codes.isdisjoint(decided):
            return True
        return all(self._same_status(run) for run in reads.table_runs)

    def _same_status(self, run: TableRun) -> bool:
        """Whether the entry's row decides this run of the table as the reference's did."""
        if run.decided in self.codes:
            return False
        row = self.rows.get(run.attribute)
        if row is None:  # no check was asked: every check of the run absent from the row
            return self.absent.isdisjoint(run.order)
        end = run.order[run.decided] if run.decided else len(run.checks)
        changed = {n for key in self.asked for n in run.readers.get(key, ())}
        changed |= self.absent & run.order.keys()
        for name in changed:
            i = run.order[name]
            if i > end:
                continue
            if name in row.absent:
                broke = False
            elif name in run.answers and run.answers[name][1].isdisjoint(self.asked):
                broke = run.answers[name][0]
            else:
                broke = bool(run.checks[i].breaks(run.call, row))
            if broke != (i == end):
                return False
        return True
