"""Production worlds as data (spec/production.py) and how the suite scales them to a host."""

from __future__ import annotations

import numpy as np
import pytest

from ops.alltoallv_gmm import load
from ops.alltoallv_gmm import production as P
from spec.expect import expect_case
from strategies import tier as tiers
from strategies import world_bytes
from suites.test_production import MIN_TOKENS, SIM_MACS, host_macs, scaled


def test_the_named_worlds_follow_their_sources() -> None:
    assert set(P.WORLDS) == {"seed-example", "op-plugin", "deepseek-v3-ep32", "deepseek-v3-ep64",
                             "qwen3-moe", "mixtral"}
    seed = P.WORLDS["seed-example"]
    assert (seed.ep, seed.e, seed.h1, seed.n1, seed.top_k, seed.tokens, seed.shared) == (
        8, 4, 7168, 4096, 2, 4096, (7168, 4096))
    for w in P.WORLDS.values():
        assert w.ep * w.e <= 256 and w.source


def test_names_accepts_all_and_rejects_unknown_with_the_accepted_list() -> None:
    assert P.names("all") == tuple(P.WORLDS)
    assert P.names("mixtral, qwen3-moe") == ("mixtral", "qwen3-moe")
    with pytest.raises(ValueError, match="unknown world nope; accepted: seed-example"):
        P.names("mixtral,nope")


def test_routing_is_top_k_distinct_and_skewed() -> None:
    w = P.WORLDS["qwen3-moe"]
    send = np.asarray(P.routing(w, 512, seed=3))
    assert (send.sum(1) == 512 * w.top_k).all()  # every token on top_k experts
    assert (send <= 512).all()  # distinct experts: at most one row per token and expert
    per_expert = send.sum(0)
    assert per_expert.max() > 4 * np.median(per_expert)  # hot experts, never balanced
    per_rank = per_expert.reshape(w.ep, w.e).sum(1)
    assert per_rank.max() > 1.5 * per_rank.min()
    assert P.routing(w, 512, seed=3) == P.routing(w, 512, seed=3)


@pytest.mark.parametrize("name", ["seed-example", "mixtral", "qwen3-moe"])
def test_full_size_worlds_are_valid_calls(name: str) -> None:
    case = P.case(P.WORLDS[name], "910_95", "float16")
    assert expect_case(case, load("doc")).outcome == "success"
    assert case.bsk(0) == P.WORLDS[name].tokens * P.WORLDS[name].top_k


def test_scaling_halves_tokens_until_the_world_fits_and_says_why() -> None:
    tiers.use("pr")
    case, why = scaled(P, P.WORLDS["seed-example"], "910_95", "float16", 4 << 30, load("doc"))
    assert case is not None and case.shared.bs[0] < 4096
    assert world_bytes(case, load("doc")) <= 4 << 30 and host_macs(case) <= SIM_MACS["pr"]
    assert "tokens per rank" in why and "budget" in why
    none, why = scaled(P, P.WORLDS["op-plugin"], "910_95", "float16", 4 << 30, load("doc"))
    assert none is None and f"{MIN_TOKENS} -> {MIN_TOKENS // 2}" in why
