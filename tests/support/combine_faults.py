"""A correct simulator of aclnnGroupedMatMulAlltoAllv (ops/gmm_alltoallv/sim.py) that reads gmmX
in its first stage, as a device backend does (it copies it to the device there): a caller that
fills gmmX between the two stages gets the old contents. The round trip's pair must start the
combine after the dispatch has written its input. The faulty simulators are the operator's
mutant catalog (ops/gmm_alltoallv/mutants/)."""

from __future__ import annotations

import numpy as np

from ops.gmm_alltoallv.sim import SimBackend


class InputsAtFirstStage(SimBackend):
    def get_workspace_size(self, ctx, **a):
        if isinstance(a.get("gmm_x"), np.ndarray):
            a["gmm_x"] = a["gmm_x"].copy()
        return super().get_workspace_size(ctx, **a)


def inputs_at_first_stage(**options) -> InputsAtFirstStage:
    return InputsAtFirstStage(**options)
