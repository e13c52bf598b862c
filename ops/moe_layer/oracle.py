"""The oracle of the round trip: what rank s's y must hold, from the case's content-addressed
data alone.

- identity: the tokens rank s sent, bit for bit (ROUNDTRIP.identity);
- composite: each token X routed to expert j of rank r comes back as X W1_r[j] W2_r[j], both
  products in float64 (ROUNDTRIP.composite), judged by the chosen standard;
- backward: the gradient of rank s's gmmX for the upstream gradient G of gmmY, by torch autograd
  of the float64 forward (gmmY = X W1_r[j] per block), not by restating the backward formula
  the operators implement (ROUNDTRIP.backward).
"""

from __future__ import annotations

import numpy as np

from golden import exact, judge
from golden.judges import Verdict, as_f64
from ops.alltoallv_gmm import data as dispatch_data
from ops.moe_layer import data

CLAUSE = {"identity": "ROUNDTRIP.identity", "composite": "ROUNDTRIP.composite",
          "backward": "ROUNDTRIP.backward"}


def blocks(case, rank: int) -> list[tuple[int, int, int]]:
    """The blocks (source, expert rank, expert) of rank `rank`'s tokens, in gmmX's row order."""
    return [(rank, r, j) for r in range(case.ep) for j in range(case.e)]


def composite_golden(case, rank: int) -> np.ndarray:
    """y of the activation-free layer in float64."""
    x = as_f64(dispatch_data.gmm_x(case.dispatch, rank))
    y, at = np.empty_like(x), 0
    weights: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for _, r, j in blocks(case, rank):
        n = case.send[rank][r * case.e + j]
        if n:
            if r not in weights:
                weights[r] = (as_f64(data.w1(case, r)), as_f64(data.w2(case, r)))
            w1, w2 = weights[r]
            y[at:at + n] = (x[at:at + n] @ w1[j]) @ w2[j]
        at += n
    return y


def backward_golden(case, rank: int) -> np.ndarray:
    """d(sum(gmmY * G))/d(gmmX) of rank `rank`'s tokens, by torch autograd in float64."""
    import torch

    x = torch.tensor(as_f64(dispatch_data.gmm_x(case.dispatch, rank)), requires_grad=True)
    grad = torch.tensor(as_f64(data.grad_blocks(case, blocks(case, rank))))
    loss, at = x.sum() * 0, 0
    for _, r, j in blocks(case, rank):
        n = case.send[rank][r * case.e + j]
        if n:
            w = torch.tensor(as_f64(data.w1(case, r)[j]))
            loss = loss + (x[at:at + n] @ w * grad[at:at + n]).sum()
        at += n
    loss.backward()
    return x.grad.numpy()


def requested(call) -> dict[str, bool]:
    """y is the composite's one output, always asked for."""
    return {"y": True}


def judge_outputs(case, rank: int, outputs: dict[str, np.ndarray], asked: dict[str, bool],
                  standard: str) -> tuple[list[tuple[str, str, Verdict]], list[str]]:
    """(clause, finding kind, verdict) of y under the case's mode."""
    y = outputs["y"]
    if case.mode == "identity":
        verdict = exact("y", y, dispatch_data.gmm_x(case.dispatch, rank))
        return [(CLAUSE["identity"], "movement", verdict)], []
    golden = composite_golden(case, rank) if case.mode == "composite" else backward_golden(
        case, rank)
    return [(CLAUSE[case.mode], "numeric", judge(standard, "y", y, golden, case.dtype))], []
