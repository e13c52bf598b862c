"""Faulty simulators of aclnnGroupedMatMulAlltoAllv (ops/gmm_alltoallv/sim.py), each with one
planted fault that the oracle must catch; load as `--backend tests.support.combine_faults:NAME`.
One correct simulator beside them, `inputs_at_first_stage`, reads gmmX in its first stage as a
device backend does (it copies it to the device there): a caller that fills gmmX between the two
stages gets the old contents.

- `expert_major_unpermute`: sends the rows back in gmmX's own order (expert-major, source-minor)
  instead of destination-rank-major: every destination gets the right number of rows, some of
  them another rank's;
- `wrong_expert_weight`: expert j's rows are multiplied by expert (j + 1) mod e's weight;
- `unpermute_skips_last_expert`: the unpermute ignores the last local expert: its rows are never
  placed, so what goes back in their place is whatever the workspace held (the round trip of
  one MoE layer must catch it: tests/test_round_trip.py).
"""

from __future__ import annotations

import numpy as np

from ops.gmm_alltoallv.sim import SimBackend, f32


class ExpertMajorUnpermute(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        out[...] = rows


class WrongExpertWeight(SimBackend):
    def grouped_matmul(self, a: dict, out: np.ndarray) -> None:
        e = a["gmm_weight"].shape[0]
        for j, (lo, hi) in enumerate(self.expert_rows(a)):
            w = f32(a["gmm_weight"][(j + 1) % e])
            w = w.T if a["trans_gmm_weight"] else w
            out[lo:hi] = (f32(a["gmm_x"][lo:hi]) @ w).astype(out.dtype)


class UnpermuteSkipsLastExpert(SimBackend):
    def unpermute(self, a: dict, rows: np.ndarray, out: np.ndarray) -> None:
        e, ep, sc = a["gmm_weight"].shape[0], a["ep_world_size"], a["send_counts"]
        kept = [[0 if j == e - 1 else n for j, n in enumerate(sc[s * e:(s + 1) * e])]
                for s in range(ep)]
        starts = [lo for lo, _ in self.expert_rows(a)]
        at = 0
        for s in range(ep):
            for j in range(e):
                n = kept[s][j]
                src = starts[j] + sum(sc[t * e + j] for t in range(s))
                out[at:at + n] = rows[src:src + n]
                at += sc[s * e + j]  # the skipped expert's rows stay as the workspace held them


class InputsAtFirstStage(SimBackend):
    def get_workspace_size(self, ctx, **a):
        if isinstance(a.get("gmm_x"), np.ndarray):
            a["gmm_x"] = a["gmm_x"].copy()
        return super().get_workspace_size(ctx, **a)


def inputs_at_first_stage(**options) -> InputsAtFirstStage:
    return InputsAtFirstStage(**options)


def expert_major_unpermute(**options) -> ExpertMajorUnpermute:
    return ExpertMajorUnpermute(**options)


def wrong_expert_weight(**options) -> WrongExpertWeight:
    return WrongExpertWeight(**options)


def unpermute_skips_last_expert(**options) -> UnpermuteSkipsLastExpert:
    return UnpermuteSkipsLastExpert(**options)
