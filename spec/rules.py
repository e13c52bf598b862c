"""The kinds of rule a clause states, each a small declarative predicate over a `Call`.

A rule raises `Undefined` when the call lacks what it talks about (a null tensor, a wrong rank):
the clause that covers that defect reports it, so every malformed call violates the clauses it
breaks and no others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spec.call import CallBase as Call
from spec.call import Undefined


class Rule:
    """A predicate over a call: a rule states it once, as `holds` (a rule on tensors) or as
    `checker` (a rule on quantities, read through the call's readers)."""

    stage = 1

    def holds(self, call: Call) -> bool:
        return self.checker(call.QUANTITIES)(call)

    def checker(self, quantities: Mapping[str, Callable[[Call], object]]
                ) -> Callable[[Call], bool]:
        """The rule as a function of a call whose type reads its quantities by `quantities`:
        what `expect` runs on every rank of every case, made once per rule and call type."""
        return self.holds

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class NotNull(Rule):
    param: str

    def holds(self, call: Call) -> bool:
        return call.present(self.param)

    def describe(self) -> str:
        return f"{self.param} is not null"


@dataclass(frozen=True)
class IsNull(Rule):
    param: str

    def holds(self, call: Call) -> bool:
        return not call.present(self.param)

    def describe(self) -> str:
        return f"{self.param} is null"


@dataclass(frozen=True)
class DtypeIn(Rule):
    param: str
    dtypes: tuple[str, ...]

    def holds(self, call: Call) -> bool:
        return call.tensor(self.param).dtype in self.dtypes

    def describe(self) -> str:
        return f"dtype of {self.param} in {{{', '.join(self.dtypes)}}}"


@dataclass(frozen=True)
class DtypeMatches(Rule):
    param: str
    ref: str
    dtypes: tuple[str, ...]  # the supported dtypes, between which agreement is asked

    def holds(self, call: Call) -> bool:
        mine, ref = call.tensor(self.param).dtype, call.tensor(self.ref).dtype
        if mine not in self.dtypes or ref not in self.dtypes:
            raise Undefined("agreement is between supported dtypes (DTYPE.* covers the rest)")
        return mine == ref

    def describe(self) -> str:
        return f"dtype of {self.param} == dtype of {self.ref}"


@dataclass(frozen=True)
class FormatIn(Rule):
    param: str
    formats: tuple[str, ...]

    def holds(self, call: Call) -> bool:
        return call.tensor(self.param).format in self.formats

    def describe(self) -> str:
        return f"format of {self.param} in {{{', '.join(self.formats)}}}"


@dataclass(frozen=True)
class RankIs(Rule):
    param: str
    rank: int

    def holds(self, call: Call) -> bool:
        return len(call.tensor(self.param).shape) == self.rank

    def describe(self) -> str:
        return f"{self.param} is {self.rank}-D"


@dataclass(frozen=True)
class Equal(Rule):
    left: str
    right: str

    def checker(self, quantities):
        left, right = quantities[self.left], quantities[self.right]
        return lambda call: left(call) == right(call)

    def describe(self) -> str:
        return f"{self.left} == {self.right}"


@dataclass(frozen=True)
class InRange(Rule):
    """lo < q (or <=, lo_closed) and q < hi (or <=, hi_closed); None is unbounded."""

    quantity: str
    lo: int | None
    hi: int | None
    lo_closed: bool = False
    hi_closed: bool = False

    def checker(self, quantities):
        read, contains = quantities[self.quantity], self.contains
        return lambda call: contains(read(call))

    def contains(self, v: int) -> bool:
        if self.lo is not None and (v < self.lo or (v == self.lo and not self.lo_closed)):
            return False
        return not (self.hi is not None and (v > self.hi or (v == self.hi and not self.hi_closed)))

    @property
    def min_valid(self) -> int | None:
        return None if self.lo is None else self.lo if self.lo_closed else self.lo + 1

    @property
    def max_valid(self) -> int | None:
        return None if self.hi is None else self.hi if self.hi_closed else self.hi - 1

    def describe(self) -> str:
        lo = "" if self.lo is None else f"{self.lo} {'<=' if self.lo_closed else '<'} "
        hi = "" if self.hi is None else f" {'<=' if self.hi_closed else '<'} {self.hi}"
        return f"{lo}{self.quantity}{hi}"


@dataclass(frozen=True)
class InSet(Rule):
    quantity: str
    values: tuple[int | str, ...]

    def checker(self, quantities):
        read, values = quantities[self.quantity], self.values
        return lambda call: read(call) in values

    def describe(self) -> str:
        return f"{self.quantity} in {{{', '.join(map(str, self.values))}}}"


@dataclass(frozen=True)
class Truthy(Rule):
    quantity: str
    stage: int = 1

    def checker(self, quantities):
        read = quantities[self.quantity]
        return lambda call: bool(read(call))

    def describe(self) -> str:
        return self.quantity


@dataclass(frozen=True)
class Implies(Rule):
    condition: str
    consequence: str

    def checker(self, quantities):
        condition, consequence = quantities[self.condition], quantities[self.consequence]
        return lambda call: not condition(call) or bool(consequence(call))

    def describe(self) -> str:
        return f"{self.condition} implies {self.consequence}"


@dataclass(frozen=True)
class CountsConsistent(Rule):
    """World rule: rank r's `mine`[s*e+j] equals rank s's `theirs`[r*e+j] (by default what r
    receives from s for its expert j is what s sends to r's expert j; the combine direction,
    which sends the rows back, states it with the two arrays' roles swapped)."""

    mine: str = "recv_counts"
    theirs: str = "send_counts"
    world = True  # judged over every rank's call at once (holds_world)

    def holds(self, call: Call) -> bool:  # pragma: no cover - world rules use holds_world
        raise Undefined("a world rule")

    def holds_world(self, calls: Sequence[Call]) -> bool:
        square = self._square(calls)
        if square is not None:
            return square
        for c in calls:
            if not getattr(c, self.mine) or not getattr(c, self.theirs):
                raise Undefined("counts are null or empty")
            if min(getattr(c, self.mine)) < 0 or min(getattr(c, self.theirs)) < 0:
                raise Undefined("negative counts are not token numbers")
        e, rem = divmod(len(getattr(calls[0], self.theirs)), calls[0].ep_world_size)
        if rem or e == 0 or any(
            len(getattr(c, self.theirs)) != e * c.ep_world_size
            or len(getattr(c, self.mine)) != e * c.ep_world_size
            for c in calls
        ):
            raise Undefined("counts lengths differ from e * epWorldSize")
        mine = [tuple(getattr(c, self.mine)) for c in calls]
        theirs = [tuple(getattr(c, self.theirs)) for c in calls]
        ranks = range(len(calls))
        return all(mine[r][s * e:(s + 1) * e] == theirs[s][r * e:(r + 1) * e]
                   for r in ranks for s in ranks)

    def _square(self, calls: Sequence[Call]) -> bool | None:
        """The rule over a regular world at once (n ranks, each with epWorldSize n and both
        arrays n*e long, for some e): every rank's arrays as one n x n x e block; None for any
        other world, which holds_world reads rank by rank."""
        n = len(calls)
        mine = [getattr(c, self.mine) for c in calls]
        theirs = [getattr(c, self.theirs) for c in calls]
        if not (all(mine) and all(theirs)) or any(c.ep_world_size != n for c in calls):
            return None
        try:
            a, b = np.array(mine, np.int64), np.array(theirs, np.int64)
        except (OverflowError, ValueError):  # a count past int64, or ragged arrays
            return None
        if a.ndim != 2 or a.shape != b.shape or a.shape[1] % n:
            return None
        if a.min() < 0 or b.min() < 0:
            raise Undefined("negative counts are not token numbers")
        e = a.shape[1] // n
        return np.array_equal(a.reshape(n, n, e), b.reshape(n, n, e).transpose(1, 0, 2))

    def describe(self) -> str:
        return f"{self.mine}[r][s*e+j] == {self.theirs}[s][r*e+j] for all ranks"
