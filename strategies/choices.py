"""Where a builder's random choices come from: hypothesis, or the minimal choice every time.

The case builders in this package are plain functions of a `Choices`. Under hypothesis each
choice is a labelled draw (so failures shrink and replay); under `Minimal` every choice takes
its smallest option, which turns a builder into a deterministic probe: if even the minimal world
cannot break a clause alone at some world size, that cell is unreachable and says so. A
`Recording` keeps a build's answers as a few integers and a `Replaying` gives them back, so a
passing case's record holds those instead of its world (an ep 128 routing matrix is 32 Ki counts).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


class Unreachable(Exception):
    """No world of these pins exists at this world size (the reason says why)."""


class Choices(Protocol):
    def int(self, lo: int, hi: int, label: str) -> int: ...

    def choice(self, options: Sequence[T], label: str) -> T: ...

    def bool(self, label: str) -> bool: ...


@lru_cache(maxsize=4096)
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@lru_cache(maxsize=1024)
def _sampled(options: tuple) -> st.SearchStrategy:
    return st.sampled_from(options)


_BOOLEANS = st.booleans()


class Drawn:
    """Choices drawn by hypothesis (inside `st.composite`). Each strategy is made once per
    range or option list: making one costs more than drawing from it (a case draws dozens),
    and the same strategy draws the same choices."""

    def __init__(self, draw) -> None:
        self.draw = draw

    def int(self, lo: int, hi: int, label: str) -> int:
        return self.draw(_integers(lo, hi), label=label) if hi > lo else lo

    def choice(self, options: Sequence[T], label: str) -> T:
        if len(options) <= 1:
            return options[0]
        try:
            strategy = _sampled(tuple(options))
        except TypeError:  # an option that is not hashable
            strategy = st.sampled_from(options)
        return self.draw(strategy, label=label)

    def bool(self, label: str) -> bool:
        return self.draw(_BOOLEANS, label=label)


class Minimal:
    """The smallest option of every choice: a deterministic probe of a builder."""

    def int(self, lo: int, hi: int, label: str) -> int:
        return lo

    def choice(self, options: Sequence[T], label: str) -> T:
        return options[0]

    def bool(self, label: str) -> bool:
        return False


class Pinned:
    """Another `Choices` with some labelled choices fixed from outside (a test cell's dtype)."""

    def __init__(self, inner: Choices, pins: dict[str, object]) -> None:
        self.inner, self.pins = inner, pins

    def int(self, lo: int, hi: int, label: str) -> int:
        return self.pins[label] if label in self.pins else self.inner.int(lo, hi, label)

    def choice(self, options: Sequence[T], label: str) -> T:
        if label in self.pins:
            if self.pins[label] not in options:
                raise ValueError(f"pinned {label}={self.pins[label]!r} is not among {options}")
            return self.pins[label]
        return self.inner.choice(options, label)

    def bool(self, label: str) -> bool:
        return self.pins[label] if label in self.pins else self.inner.bool(label)


class Seeded:
    """Choices from a seeded PRNG (or always the largest option): more deterministic probes."""

    def __init__(self, seed: int, extreme: str | None = None) -> None:
        self.rnd, self.extreme = random.Random(seed), extreme

    def int(self, lo: int, hi: int, label: str) -> int:
        return hi if self.extreme == "max" else self.rnd.randint(lo, hi)

    def choice(self, options: Sequence[T], label: str) -> T:
        return options[-1] if self.extreme == "max" else self.rnd.choice(list(options))

    def bool(self, label: str) -> bool:
        return self.extreme == "max" or self.rnd.random() < 0.5


class ReplayError(ValueError):
    """Recorded choices that do not rebuild their case (the builders changed since the run)."""


class Recording:
    """Another `Choices` whose answers are kept, in order, as integers (an option by its index)."""

    def __init__(self, inner: Choices) -> None:
        self.inner, self.values = inner, []

    def int(self, lo: int, hi: int, label: str) -> int:
        value = self.inner.int(lo, hi, label)
        self.values.append(value)
        return value

    def choice(self, options: Sequence[T], label: str) -> T:
        value = self.inner.choice(options, label)
        self.values.append(list(options).index(value))
        return value

    def bool(self, label: str) -> bool:
        value = self.inner.bool(label)
        self.values.append(int(value))
        return value


class Replaying:
    """The answers a `Recording` kept, given back in order."""

    def __init__(self, values: Sequence[int]) -> None:
        self.values, self.at = values, 0

    def _next(self, label: str) -> int:
        if self.at >= len(self.values):
            raise ReplayError(f"the recorded choices ran out at {label!r}")
        self.at += 1
        return self.values[self.at - 1]

    def int(self, lo: int, hi: int, label: str) -> int:
        return self._next(label)

    def choice(self, options: Sequence[T], label: str) -> T:
        index = self._next(label)
        if not 0 <= index < len(options):
            raise ReplayError(f"recorded option {index} of {label!r} is not among {len(options)}")
        return options[index]

    def bool(self, label: str) -> bool:
        return bool(self._next(label))
