"""A round-trip case: one EP world of one MoE layer as plain data, JSON and back.

The world is the dispatch operator's own case (`world`: its send matrix `send[s][r*e + j]`, its
sizes, dtype and data seed), so each half is that world read by its own operator: the dispatch's
case itself, and the combine's case whose routing matrix it is (the combine's counts are the
dispatch's swapped). `mode` says which property the case checks: "identity" and "composite" run
dispatch then combine, "backward" the combine alone on a gradient. Its JSON is the world's
fields, flat, beside the round trip's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar

from ops.alltoallv_gmm.case import SCHEMA as WORLD_SCHEMA
from ops.alltoallv_gmm.case import Case as DispatchCase
from ops.gmm_alltoallv.case import Case as CombineCase
from ops.moe_layer.clauses import PARAMS
from spec.call import MoeCall, Stage2, TensorDesc
from spec.case import CaseFormatError, Fault, JsonCase, need

SCHEMA = "moe-layer-round-trip/1"
MODES = ("identity", "composite", "backward")
DEFAULT_GROUP = "ep_group"
PARAM = {p.name: p for p in PARAMS}
WORLD_FIELDS = ("product", "ep", "e", "h1", "n1", "send", "dtype", "seed")  # the world's own
OWN_DEFAULTS = {"mode": "identity", "trans_gmm_weight": False, "clause": "", "side": "valid",
                "stage": "both", "entry": "v1", "comm_mode": None}


@dataclass(frozen=True)
class Call(MoeCall):
    """One rank's composite call; its attribute fields are named by their protocol keywords."""

    OPERATOR: ClassVar[str] = "moe_layer"
    PARAMS: ClassVar[Mapping[str, Any]] = PARAM
    QUANTITIES: ClassVar[Mapping[str, Callable[[Any], object]]] = {
        "epWorldSize": lambda c: c.ep_world_size, "world_size": lambda c: c.world_size}

    null_pointers: frozenset[str] = frozenset()
    stage2: Stage2 = field(default_factory=Stage2)
    entry: str = "v1"
    comm_mode: str | None = None


@dataclass(frozen=True)
class Case(JsonCase):
    OPERATOR: ClassVar[str] = "moe_layer"
    SCHEMA: ClassVar[str] = SCHEMA

    world: DispatchCase
    mode: str = "identity"
    trans_gmm_weight: bool = False  # backward: W1 passed as stored, transGmmWeight=true
    clause: str = ""
    side: str = "valid"
    stage: str = "both"
    faults: tuple[Fault, ...] = ()  # none: the pair's clauses have no invalid side
    entry: str = "v1"
    comm_mode: str | None = None

    def __getattr__(self, name: str) -> Any:
        """The world's own fields (product, ep, e, h1, n1, send, dtype, seed) read through."""
        if name in WORLD_FIELDS:
            return getattr(self.world, name)
        raise AttributeError(name)

    # -- the two halves, each read by its own operator ----------------------------------
    @cached_property
    def dispatch(self) -> DispatchCase:
        """The dispatch's case (MindSpeed's forward keeps permuteOut), as the run calls it."""
        return self.world.with_(permute_out_flag=True, entry=self.entry, comm_mode=self.comm_mode)

    @cached_property
    def combine(self) -> CombineCase:
        """The combine's case: gmmX (A, N1) back to rows H1 wide, the same routing matrix;
        backward with the dispatch's weight as stored when transGmmWeight."""
        w = self.world
        return CombineCase(w.product, w.ep, w.e, w.n1, w.h1, w.send, w.dtype,
                           trans_gmm_weight=self.mode == "backward" and self.trans_gmm_weight,
                           seed=w.seed, entry=self.entry, comm_mode=self.comm_mode)

    def bsk(self, rank: int) -> int:
        return self.world.bsk(rank)

    def a(self, rank: int) -> int:
        return self.world.a(rank)

    def natural_tensors(self, rank: int) -> dict[str, TensorDesc | None]:
        w, backward = self.world, self.mode == "backward"
        d, e, h1, n1 = w.dtype, w.e, w.h1, w.n1
        return {
            "gmmX": None if backward else TensorDesc((w.bsk(rank), h1), d),
            "gmmYGrad": TensorDesc((w.a(rank), n1), d) if backward else None,
            "gmmWeight": TensorDesc((e, h1, n1), d),
            "combineWeight": None if backward else TensorDesc((e, n1, h1), d),
            "y": TensorDesc((w.bsk(rank), h1), d),
        }

    def call(self, rank: int, group: str = DEFAULT_GROUP) -> Call:
        w = self.world
        return Call(w.product, w.ep, rank, self.natural_tensors(rank), group, w.ep,
                    w.send_counts(rank), w.recv_counts(rank),
                    self.mode == "backward" and self.trans_gmm_weight, entry=self.entry,
                    comm_mode=self.comm_mode)

    def calls(self, group: str = DEFAULT_GROUP) -> list[Call]:
        return [self.call(r, group) for r in range(self.ep)]

    # -- JSON: the world's fields beside the round trip's own -----------------------------
    def to_dict(self) -> dict[str, Any]:
        world = self.world.to_dict()
        own = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("world", "faults")}
        return {"schema": SCHEMA, **{k: world[k] for k in WORLD_FIELDS}, **own}

    @classmethod
    def from_dict(cls, data: Any) -> Case:
        need(isinstance(data, dict), "(top level)", "a JSON object", type(data).__name__)
        need(data.get("schema") == SCHEMA, "schema", repr(SCHEMA), data.get("schema"))
        extra = sorted(set(data) - {"schema", *WORLD_FIELDS, *OWN_DEFAULTS})
        if extra:
            raise CaseFormatError(f"case field '{extra[0]}' is unknown")
        own = {k: data.get(k, v) for k, v in OWN_DEFAULTS.items()}
        need(own["mode"] in MODES, "mode", f"one of {MODES}", own["mode"])
        need(own["side"] == "valid", "side", "'valid' (no invalid side)", own["side"])
        world = DispatchCase.from_dict({"schema": WORLD_SCHEMA,
                                        **{k: data[k] for k in WORLD_FIELDS if k in data}})
        return cls(world, **own)

    def label(self) -> str:
        w = self.world
        trans = " transGmmWeight" if self.trans_gmm_weight and self.mode == "backward" else ""
        return (f"{w.product} ep={w.ep} e={w.e} H1={w.h1} N1={w.n1} {w.dtype} "
                f"{self.mode}{trans} rows={sum(map(sum, w.send))}")
