"""Named production worlds, as data: the shapes real MoE models call the operator with.

Each world names its source. Routing is drawn from a seeded, skewed distribution (expert
popularity falls off as 1/rank^SKEW, each source rank with its own preferences, each token on
`top_k` distinct experts), never balanced: hot experts, cold experts, ranks that receive far more
rows than others, as a real router produces. Tokens per rank is a parameter; its default follows
the source. `pytest suites --production NAME[,NAME|all]` runs them (suites/test_production.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.alltoallv_gmm.case import Case, Shared

SKEW = 1.0  # Zipf exponent of expert popularity
RANK_NOISE = 0.5  # log-normal spread of each source rank's own preferences
DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class World:
    name: str
    source: str
    ep: int
    e: int  # experts per rank (the model's experts / ep)
    h1: int
    n1: int
    top_k: int
    tokens: int  # tokens per rank (BS), the source's own
    shared: tuple[int, int] | None = None  # (H2, N2) of the shared expert
    permute_out: bool = True
    dtypes: tuple[str, ...] = DTYPES


WORLDS: dict[str, World] = {w.name: w for w in (
    World("seed-example", "the published contract's example (shared/seed/"
          "aclnnAlltoAllvGroupedMatMul.md): ep 8, BS 4096, K 2, H 7168, e 4, N1 = N2 = 4096",
          ep=8, e=4, h1=7168, n1=4096, top_k=2, tokens=4096, shared=(7168, 4096)),
    World("op-plugin", "Ascend/op-plugin's test of npu_alltoallv_gmm: ep 8, e 32, BS 4096, K 8, "
          "H1 7168, N1 4096, fp16", ep=8, e=32, h1=7168, n1=4096, top_k=8, tokens=4096,
          dtypes=("float16",)),
    World("deepseek-v3-ep32", "DeepSeek-V3: hidden 7168, expert FFN 2048, 256 routed experts, "
          "top-8, one shared expert; EP 32", ep=32, e=8, h1=7168, n1=2048, top_k=8, tokens=4096,
          shared=(7168, 2048)),
    World("deepseek-v3-ep64", "DeepSeek-V3 as above; EP 64", ep=64, e=4, h1=7168, n1=2048,
          top_k=8, tokens=4096, shared=(7168, 2048)),
    World("qwen3-moe", "Qwen3-MoE (235B-A22B): hidden 4096, expert FFN 1536, 128 experts, top-8, "
          "no shared expert; EP 16", ep=16, e=8, h1=4096, n1=1536, top_k=8, tokens=4096),
    World("mixtral", "Mixtral 8x7B: hidden 4096, FFN 14336, 8 experts, top-2; EP 8 (one expert "
          "per rank)", ep=8, e=1, h1=4096, n1=14336, top_k=2, tokens=4096),
)}


def names(raw: str) -> tuple[str, ...]:
    """`NAME[,NAME]` or `all`, checked; a bad name raises ValueError naming what is accepted."""
    chosen = tuple(WORLDS) if raw.strip() == "all" else tuple(
        n.strip() for n in raw.split(",") if n.strip())
    bad = [n for n in chosen if n not in WORLDS]
    if not chosen or bad:
        raise ValueError(f"--production {raw!r}: unknown world {bad[0] if bad else '(none)'}; "
                         f"accepted: {', '.join(WORLDS)} or all (comma-separated)")
    return chosen


def routing(world: World, tokens: int, seed: int) -> tuple[tuple[int, ...], ...]:
    """The send matrix: each of `tokens` tokens of every rank picks top_k distinct experts,
    by Gumbel top-k over skewed, per-rank perturbed popularities."""
    rng = np.random.default_rng(seed)
    experts = world.ep * world.e
    popularity = 1.0 / np.arange(1, experts + 1) ** SKEW
    popularity = popularity[rng.permutation(experts)]  # hot experts land on any rank
    send = []
    for _ in range(world.ep):
        prefs = np.log(popularity) + rng.normal(0.0, RANK_NOISE, experts)
        scores = prefs + rng.gumbel(size=(tokens, experts))
        picked = np.argpartition(-scores, world.top_k - 1, axis=1)[:, :world.top_k]
        send.append(tuple(int(v) for v in np.bincount(picked.ravel(), minlength=experts)))
    return tuple(send)


def case(world: World, product: str, dtype: str, tokens: int | None = None, seed: int = 0
         ) -> Case:
    """The world as a valid case at `tokens` tokens per rank (default: the source's)."""
    bs = world.tokens if tokens is None else tokens
    shared = None
    if world.shared is not None:
        shared = Shared((bs,) * world.ep, world.shared[0], world.shared[1])
    return Case(product=product, ep=world.ep, e=world.e, h1=world.h1, n1=world.n1,
                send=routing(world, bs, seed), dtype=dtype, shared=shared,
                permute_out_flag=world.permute_out, seed=seed, clause="CALC.gmm", side="valid")


def tokens_per_rank(case: Case, world: World) -> int:
    """The tokens per rank a (scaled) case of `world` carries."""
    return case.shared.bs[0] if case.shared else sum(case.send[0]) // world.top_k
