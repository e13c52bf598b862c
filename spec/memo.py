"""An opt-in memo for the pure, costly functions of a case: its input tensors and its oracle.

A world whose ranks share this process (fixtures/world.py) runs each computed case inside
`case_scope()`: a rank's oracle then gathers the rows its peers' inputs were made of, and reads
its own weights, instead of hashing them again (spec.data.stacked_blocks). `python -m ci.mutation`
replays each case of a PR run on every catalog entry in turn, inside one `remembering()` a case:
each rank's inputs and expected outputs are then computed once per case instead of once per
entry. All are functions of the case alone (content-addressed data, DESIGN.md section 3), so a
remembered value is the value.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

F = TypeVar("F", bound=Callable)
T = TypeVar("T")

_lock = threading.Lock()
_memo: dict | None = None


@contextmanager
def remembering() -> Iterator[None]:
    """Remember memoised results inside the block (one case's worth), forget them after it."""
    global _memo
    with _lock:
        if _memo is not None:
            raise RuntimeError("spec.memo.remembering() does not nest")
        _memo = {}
    try:
        yield
    finally:
        with _lock:
            _memo = None


@contextmanager
def case_scope() -> Iterator[None]:
    """Remember inside the block, one case's worth, unless a wider scope already does (ci.mutation's
    `remembering()` around a case's replay on every entry): the world of a case opens it."""
    global _memo
    with _lock:
        opened = _memo is None
        if opened:
            _memo = {}
    try:
        yield
    finally:
        if opened:
            with _lock:
                _memo = None


def memoised(copy: bool = False) -> Callable[[F], F]:
    """Remember a function's results while a scope is active; a remembered array is read-only,
    and `copy=True` hands out a fresh copy of it each time (callers may write to it: a backend
    under test may even modify its inputs, which the harness must still see)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(*args, **kwargs):
            if _memo is None:
                return fn(*args, **kwargs)
            key = (fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
            value = remembered(key, lambda: _frozen(fn(*args, **kwargs)))
            return np.array(value, copy=True) if copy and isinstance(value, np.ndarray) else value

        return call  # type: ignore[return-value]

    return wrap


def active() -> bool:
    """Whether a scope remembers now."""
    return _memo is not None


def _frozen(value: T) -> T:
    """A remembered array is shared: read-only, so a caller that writes to one fails at once."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    return value


def remembered(key: tuple, compute: Callable[[], T]) -> T:
    """`compute()`, remembered under `key` while `remembering()` is active (a value the caller
    knows to be a function of the key alone, e.g. a digest of a case's inputs)."""
    memo = _memo
    if memo is None:
        return compute()
    with _lock:
        hit = key in memo
        value = memo.get(key)
    if not hit:
        value = compute()
        with _lock:
            memo[key] = value
    return value
