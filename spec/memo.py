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
_room: list[int] | None = None  # bytes the open case scope may still keep; None: no limit

# What a case scope keeps at most: a world's inputs kept whole are a second copy of them, which a
# world of Atlas A3's volume floor (ep x ep x 2 MiB of gmmX) cannot afford; past it, values are
# made again where they are needed, as outside a scope.
CASE_SCOPE_BYTES = 1 << 30


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
    """Remember inside the block, one case's worth and at most CASE_SCOPE_BYTES of arrays, unless
    a wider scope already does (ci.mutation's `remembering()` around a case's replay on every
    entry): the world of a case opens it."""
    global _memo, _room
    with _lock:
        opened = _memo is None
        if opened:
            _memo, _room = {}, [CASE_SCOPE_BYTES]
    try:
        yield
    finally:
        if opened:
            with _lock:
                _memo, _room = None, None


def memoised(copy: bool = False) -> Callable[[F], F]:
    """Remember a function's results while a scope is active; a remembered array is read-only,
    and `copy=True` hands out a fresh copy of it each time (callers may write to it: a backend
    under test may even modify its inputs, which the harness must still see). A value the scope
    has no room for is handed out as made."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(*args, **kwargs):
            if _memo is None:
                return fn(*args, **kwargs)
            key = (fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
            value, kept = _kept(key, lambda: fn(*args, **kwargs), freeze=True)
            shared = kept or (isinstance(value, np.ndarray) and not value.flags.writeable)
            if copy and shared and isinstance(value, np.ndarray):
                return np.array(value, copy=True)  # a value made of one the scope keeps, too
            return value

        return call  # type: ignore[return-value]

    return wrap


def active() -> bool:
    """Whether a scope remembers now."""
    return _memo is not None


def reserve(nbytes: int) -> bool:
    """Whether the open scope may keep `nbytes` more of arrays (then counted as kept)."""
    with _lock:
        if _memo is None:
            return False
        if _room is None:
            return True
        if nbytes > _room[0]:
            return False
        _room[0] -= nbytes
        return True


def _nbytes(value: object) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
    return 0


def _kept(key: tuple, compute: Callable[[], T], freeze: bool = False) -> tuple[T, bool]:
    """`compute()` or the value remembered under `key`, and whether it is remembered. A kept
    array is shared: with `freeze`, read-only, so a caller that writes to one fails at once."""
    memo = _memo
    if memo is None:
        return compute(), False
    with _lock:
        if key in memo:
            return memo[key], True
    value = compute()
    if not reserve(_nbytes(value)):
        return value, False
    if freeze and isinstance(value, np.ndarray):
        value.flags.writeable = False
    with _lock:
        return memo.setdefault(key, value), True


def remembered(key: tuple, compute: Callable[[], T]) -> T:
    """`compute()`, remembered under `key` while a scope is active (a value the caller knows to
    be a function of the key alone, e.g. a digest of a case's inputs)."""
    return _kept(key, compute)[0]
