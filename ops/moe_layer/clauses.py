"""The round trip of one MoE layer as a contract: the parameters of one composite call and the
properties the pair must have (contracts/gmm_alltoallv.md section 7, MindSpeed's mc2 layer).

A composite call is the dispatch operator (aclnnAlltoAllvGroupedMatMul) then the combine
(aclnnGroupedMatMulAlltoAllv) on the same world with the two count lists swapped, or, for the
backward pairing, the combine alone on a gradient with the dispatch's weight transposed. Its
parameters are the layer's: the tokens, both weights, the dispatch's counts, the output. Its
clauses have no invalid side: each operator's own clauses say what it rejects.
"""

from __future__ import annotations

from dataclasses import replace

from ops.alltoallv_gmm import OPERATOR as DISPATCH
from ops.alltoallv_gmm.params import PARAM as DISPATCH_PARAM
from ops.gmm_alltoallv import OPERATOR as COMBINE
from spec.operator import Clause, Param

HALVES = (DISPATCH, COMBINE)


def both(attr: str) -> tuple[str, ...]:
    """What both operators have (products, entry points, dtypes): the pair has that."""
    return tuple(v for v in getattr(DISPATCH, attr) if v in getattr(COMBINE, attr))


PRODUCTS, ENTRIES, FLOAT_DTYPES = both("products"), both("entries"), both("dtypes")
SOURCE = ("contracts/gmm_alltoallv.md section 7 (MindSpeed 028de58c, mc2_fuse_a2a.py: "
          "AlltoallvPermuteGmm and GmmUnpermuteAlltoallv, forward and backward)")

PARAMS: tuple[Param, ...] = (
    Param("gmmX", "gmmX", "gmm_x", 1, "input", False, "tensor",
          "the layer's tokens, ordered by destination rank then local expert (the dispatch's "
          "gmmX); null in the backward pairing", FLOAT_DTYPES, 2, ("ND",), "(BSK, H1)"),
    Param("gmmYGrad", "gmmYGrad", "gmm_y_grad", 1, "input", False, "tensor",
          "the gradient of the dispatch's gmmY (expert-major, source-minor rows); only in the "
          "backward pairing", FLOAT_DTYPES, 2, ("ND",), "(A, N1)"),
    Param("gmmWeight", "gmmWeight", "gmm_weight", 1, "input", True, "tensor",
          "the dispatch's expert weights", FLOAT_DTYPES, 3, ("ND",), "(e, H1, N1)"),
    Param("combineWeight", "combineWeight", "combine_weight", 1, "input", False, "tensor",
          "the combine's expert weights; null in the backward pairing", FLOAT_DTYPES, 3,
          ("ND",), "(e, N1, H1)"),
    # The attributes are the dispatch's own (C names, keywords, kinds), in its C order.
    *(replace(DISPATCH_PARAM[name], text=text) for name, text in (
        ("group", "the communicator both operators use"),
        ("commMode", "V2's commMode, passed to both operators"),
        ("epWorldSize", "the size of the communication domain"),
        ("sendCounts", "the dispatch's sendCounts (the combine gets them as its recvCounts)"),
        ("recvCounts", "the dispatch's recvCounts (the combine gets them as its sendCounts)"),
        ("transGmmWeight", "backward: gmmWeight goes to the combine as stored with "
         "transGmmWeight=true (the FSDP path) instead of rearranged to (e, N1, H1) "
         "(mc2_fuse_a2a)"))),
    Param("y", "y", "y", 1, "output", True, "tensor",
          "the combine's y: the tokens back at their source rank and row (forward), or the "
          "gradient of gmmX (backward)", FLOAT_DTYPES, 2, ("ND",), "(BSK, H1)"),
)


def _clause(id: str, text: str, area: str = "roundtrip", products: tuple[str, ...] = PRODUCTS
            ) -> Clause:
    return Clause(id, area, text, None, SOURCE, products, (), ENTRIES)


CLAUSES: tuple[Clause, ...] = (
    _clause("ROUNDTRIP.identity",
            "dispatch then combine with the counts swapped and identity experts (H1 == N1; "
            "expert j's dispatch weight 2^(j mod 4) I, its combine weight the inverse): every "
            "token returns to its source rank at its original row, bit for bit"),
    _clause("ROUNDTRIP.composite",
            "dispatch GMM, no activation, combine GMM: y = X W1[j] W2[j] for each token routed "
            "to expert j, by the chosen accuracy standard against float64"),
    _clause("ROUNDTRIP.backward",
            "the combine on the gradient of gmmY with the dispatch's weight transposed and the "
            "counts swapped gives the gradient of the dispatch's gmmX (torch autograd of the "
            "float64 forward), by the chosen accuracy standard"),
    # The engine's own integrity checks of the composite's y: reported, never cells of their
    # own (each operator's output integrity is its own suite's).
    *(_clause(cid, text, "integrity", ()) for cid, text in (
        ("OUT.written", "every element of y is written"),
        ("OUT.bounds", "nothing outside y or the workspace is written"),
        ("OUT.inputs", "the inputs are unchanged by the call"),
        ("OUT.deterministic", "the same call twice writes the same bits"),
        ("OUT.shape", "the outputs returned fit the call"))),
)
