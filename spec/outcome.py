"""What a cell of the suite is and what can become of it, as data from the rank to the report.

A cell is one test item (an operator's clause, a side, a product, a world size, a dtype). It
fails with a `ConformanceFailure` (its verdict for people) and records its verdict on the item as
data (`FAILURE`: its first finding's fields and line, the case, the replay command); it is
skipped with a `Skip` (`SKIP`: the kind, not applicable or unreachable, and the reason). The
reports (reports/records.py, reports/allure.py) and the mutation job read those fields, never the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import ops


@dataclass(frozen=True)
class Cell:
    """One test item: an operator's clause's side, on a product, in a world of ep ranks, in one
    dtype."""

    operator: str
    clause: str
    side: str
    product: str
    ep: int
    dtype: str

    @property
    def id(self) -> str:
        """The cell within its operator (its draws' seed derives from it)."""
        return f"{self.clause}-{self.side}-{self.product}-ep{self.ep}-{self.dtype}"

    @property
    def key(self) -> str:
        """The cell within the run: its test id and its hypothesis database entry."""
        return f"{self.operator}-{self.id}"

    @property
    def area(self) -> str:
        return ops.get(self.operator).clause[self.clause].area


NOT_APPLICABLE, UNREACHABLE = "not_applicable", "unreachable"  # the kinds of a skipped cell
# Item properties: a failing cell's verdict, a skipped cell's kind and reason, and (added by
# reports/records.py) an error's type and first line.
FAILURE, SKIP, ERROR = "conformance_failure", "conformance_skip", "conformance_error"


HELD, BROKEN = "held", "broken"  # what a case tells of a clause side, besides UNREACHABLE


@dataclass(frozen=True)
class Told:
    """One clause side a case told about: it held, it was broken (why: the first finding), or the
    case could not reach it (UNREACHABLE; why: the clause checked first that decided instead).
    The runner decides these when it runs the case; the reports only count them."""

    clause: str
    side: str
    verdict: str
    why: str = ""

    def record(self) -> dict:
        return {"clause": self.clause, "side": self.side, "verdict": self.verdict} | (
            {"why": self.why} if self.why else {})


@dataclass(frozen=True)
class Skip:
    """Why a cell has nothing to test: its kind (not applicable, unreachable) and reason."""

    kind: str
    why: str
    ep: int | None = None  # where it is unreachable

    def text(self) -> str:
        head = "not applicable" if self.kind == NOT_APPLICABLE else f"unreachable at ep={self.ep}"
        return f"{head}: {self.why}"

    def skip(self, item: pytest.Item) -> None:
        """Skip the item with this reason, recorded as data for the reports."""
        item.user_properties.append((SKIP, {"kind": self.kind, "why": self.text()}))
        pytest.skip(self.text())


class ConformanceFailure(AssertionError):
    """A cell's verdict: the text people read; `result` is the case's result (fixtures.runner)."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result
