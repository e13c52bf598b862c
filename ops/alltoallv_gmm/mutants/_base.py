"""The catalog's machinery: an entry is a SimBackend subclass, a one-line description and a factory.

`@mutant(...)` / `@variant(...)` register a class under `<module>.<name>` and put a factory named
`<name>` into the class's module, so every entry loads as an ordinary backend:
`--backend ops.alltoallv_gmm.mutants.<module>:<name>`. A factory takes the sim's options
(`behavior=doc|...`, default "doc") and nothing else, like the sim itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ops.alltoallv_gmm.sim import SimBackend

KINDS = ("mutant", "variant")


@dataclass(frozen=True)
class Entry:
    """One implementation of the operator in the catalog: faulty (`mutant`) or correct (`variant`)."""

    name: str  # "<module>.<factory>", e.g. "routing.source_major_permute"
    kind: str
    description: str  # one line: the fault, or why the variant is still correct
    cls: type[SimBackend]
    profiles: tuple[str, ...] | None = None  # the spec profiles it is a fault under (None: all)

    def applies(self, profile: str) -> bool:
        """Whether this entry means anything under `profile`: a fault of the published text
        alone (e.g. a missing 100 MB ceiling) is the shipped behaviour, not a fault, there."""
        return self.profiles is None or profile in self.profiles

    @property
    def family(self) -> str:
        return self.name.partition(".")[0]

    @property
    def target(self) -> str:
        """What `--backend` takes to load this entry."""
        return f"{self.cls.__module__}:{self.name.partition('.')[2]}"

    def make(self, **options) -> SimBackend:
        return self.cls(**options)


REGISTRY: dict[str, Entry] = {}


def _register(kind: str, name: str, description: str, profiles: tuple[str, ...] | None = None
              ) -> Callable[[type[SimBackend]], type[SimBackend]]:
    if "\n" in description or not description.strip():
        raise ValueError(f"{name}: the description must be one non-empty line")

    def add(cls: type[SimBackend]) -> type[SimBackend]:
        module = sys.modules[cls.__module__]
        family = cls.__module__.rpartition(".")[2]
        entry = Entry(f"{family}.{name}", kind, description, cls, profiles)
        if entry.name in REGISTRY:
            raise ValueError(f"catalog entry {entry.name} registered twice")
        REGISTRY[entry.name] = entry

        def factory(**options) -> SimBackend:
            return cls(**options)

        factory.__name__ = factory.__qualname__ = name
        factory.__doc__ = f"{entry.kind} {entry.name}: {description}"
        setattr(module, name, factory)
        return cls

    return add


def mutant(name: str, description: str, profiles: tuple[str, ...] | None = None
           ) -> Callable[[type[SimBackend]], type[SimBackend]]:
    """Register a faulty implementation: the PR tier must fail it (under `profiles` only, when
    the fault is one of the published text and the shipped code does just that)."""
    return _register("mutant", name, description, profiles)


def variant(name: str, description: str) -> Callable[[type[SimBackend]], type[SimBackend]]:
    """Register a correct implementation that differs from the sim: the PR tier must pass it."""
    return _register("variant", name, description)


# -- helpers the entries share ------------------------------------------------------------------


def logical_weight(w_all: np.ndarray, j: int, trans: bool) -> np.ndarray:
    """Expert j's weight as (H1, N1) float32, whichever way it is stored."""
    w = w_all[j].astype(np.float32)
    return w.T if trans else w


def spill(view: np.ndarray, values: np.ndarray) -> int:
    """Write `values` into the memory right after `view` (a write past its end), but never past
    the end of the allocation `view` lives in, so the test process survives; returns how many
    elements were written. Models a kernel whose last tile runs over the tensor's end."""
    base = view
    while isinstance(base.base, np.ndarray):
        base = base.base
    flat = view.reshape(-1)
    start = flat.__array_interface__["data"][0] + flat.nbytes
    end = base.__array_interface__["data"][0] + base.nbytes
    n = min(values.size, max(0, (end - start) // view.itemsize))
    if n:
        longer = np.lib.stride_tricks.as_strided(flat, shape=(flat.size + n,),
                                                 strides=(view.itemsize,), writeable=True)
        longer[flat.size:] = values.reshape(-1)[:n].astype(view.dtype)
    return n


def rounded_matmul(x: np.ndarray, w: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x @ w with an accumulator of `dtype` (one rounding per step, fused multiply-add in fp32)."""
    rows, cols = x.shape[0], w.shape[1]
    acc = np.zeros((rows, cols), dtype)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    for k in range(x.shape[1]):
        acc = (acc.astype(np.float32) + x32[:, k:k + 1] * w32[k]).astype(dtype)
    return acc
