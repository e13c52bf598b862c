"""Small hand-made worlds the backends' tests share (exact shapes, so logs can be checked)."""

from __future__ import annotations

from ops.alltoallv_gmm.case import Case, Shared
from ops.gmm_alltoallv.case import Case as CombineCase

SEND = ((1, 2, 0, 1, 2, 0, 1, 1), (2, 0, 1, 1, 0, 2, 1, 1), (0, 1, 2, 1, 1, 1, 2, 0),
        (1, 1, 1, 1, 1, 1, 1, 1))
# 910_95, ep 4, e 2: every rank sends 8 rows; a shared expert with BS 4 (K 2); the gmm weight
# stored transposed (e, N1, H1); no permuteOut. Rank 0 receives (1, 2, 2, 0, 0, 1, 1, 1).
BASE = Case(product="910_95", ep=4, e=2, h1=16, n1=8, send=SEND, dtype="float16",
            shared=Shared((4, 4, 4, 4), 16, 4), trans_gmm_weight=True, permute_out_flag=False,
            clause="CALC.gmm")
# A3, ep 8 (its smallest world), e 1: every rank sends one row to every rank.
A3_BASE = Case(product="A3", ep=8, e=1, h1=16, n1=8, send=((1,) * 8,) * 8, dtype="float16",
               clause="CALC.gmm")


# V2 with the engine both products have: the case of BASE, its outputs judged.
V2_AI_CPU = BASE.with_(entry="v2", comm_mode="ai_cpu")
# ccu is an engine of 910_95 only (PRODUCT.A3.commMode): 161002 from the first stage on every rank.
V2_CCU_ON_A3 = A3_BASE.with_(entry="v2", comm_mode="ccu", side="invalid",
                             clause="PRODUCT.A3.commMode")


# The combine (ops/gmm_alltoallv) of BASE's matrix read back: 910_95, ep 4, e 2, every rank gets
# 8 rows (BSK 8) and its experts process A = its column block's sum (8 too); a shared expert with
# BS 4 (K 2); the gmm weight stored transposed (e, N1, H1).
COMBINE_BASE = CombineCase(product="910_95", ep=4, e=2, h1=16, n1=8, dispatch=SEND, dtype="float16",
                           shared=Shared((4, 4, 4, 4), 16, 4), trans_gmm_weight=True,
                           clause="CALC.gmm")
COMBINE_PLAIN = COMBINE_BASE.with_(shared=None, trans_gmm_weight=False)  # nothing optional
