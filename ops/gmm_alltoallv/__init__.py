"""aclnnGroupedMatMulAlltoAllv (GroupedMatMul, Unpermute, AlltoAllv: the combine direction, the
inverse routing of aclnnAlltoAllvGroupedMatMul, a shared-expert MatMul beside), as the engine
knows it: one record (spec.operator.Operator) over the modules of this package. Its facts:
/work/shared/contracts/gmm_alltoallv.md.

- `params.py`: the parameter table (C names, keywords, roles); `clauses.py`: the contract, one
  clause a rule, in the shipped check order; `profiles/`: one TOML per contract version.
- `call.py`: one rank's arguments and the quantities the clauses read; `case.py`: a whole world
  as data (the dispatch direction's routing matrix), with its faults; `data.py`:
  content-addressed inputs.
- `worlds.py`, `builders.py`: the strategies (valid worlds, both sides of every clause).
- `oracle.py`: expected outputs in float64 and the judging of a rank's outputs.
- `sim.py`: the independent simulator; `torch_backend.py`: the operator from torch ops;
  `torch_npu_backend.py`, `aclnn.py`: the hardware paths (torch_npu's npu_gmm_alltoallv, the C
  API through ctypes), the operator-specific halves of fixtures/torch_npu_backend.py and
  fixtures/acl/.
- `mutants/`: the mutant catalog, faulty and correct implementations built on the simulator,
  by which `python -m ci.mutation --operator gmm_alltoallv` measures the suite's power.
- `regressions/`: saved cases replayed as explicit examples.
"""

from __future__ import annotations

from pathlib import Path

from ops import register
from ops.gmm_alltoallv.case import Case
from ops.gmm_alltoallv.clauses import CLAUSES, ENTRIES, PRODUCTS
from ops.gmm_alltoallv.params import FLOAT_DTYPES, PARAMS
from spec.operator import Operator

HERE = Path(__file__).parent

OPERATOR = register(Operator(
    name="gmm_alltoallv",
    title="aclnnGroupedMatMulAlltoAllv",
    home=__name__,
    params=PARAMS,
    clauses=CLAUSES,
    products=PRODUCTS,
    entries=ENTRIES,
    symbols={"v1": "aclnnGroupedMatMulAlltoAllv", "v2": "aclnnGroupedMatMulAlltoAllvV2"},
    dtypes=FLOAT_DTYPES,
    profile_dir=HERE / "profiles",
    case_type=Case,
    parts={
        "strategies": "ops.gmm_alltoallv.builders",
        "oracle": "ops.gmm_alltoallv.oracle",
        "data": "ops.gmm_alltoallv.data",
        "mutants": "ops.gmm_alltoallv.mutants",
    },
    backends={
        "sim": "ops.gmm_alltoallv.sim:factory",
        "torch": "ops.gmm_alltoallv.torch_backend:factory",
        "torch_npu": "ops.gmm_alltoallv.torch_npu_backend:factory",
        "aclnn": "ops.gmm_alltoallv.aclnn:factory",
    },
    regressions=HERE / "regressions",
    absent_profiles={
        "cann-2025.12": "contracts/gmm_alltoallv.md records of the December 2025 code "
                        "(05c401f9) only its per-peer 2 MiB floor (RECV_SEND_MIN), not its "
                        "op_api and tiling checks and their codes",
    },
))


PROFILE_DIR = OPERATOR.profile_dir


def load(name: str, directory: Path | None = None):
    """This operator's spec profile `name` (spec.profiles.load), of `directory` if given."""
    from spec.profiles import load as load_profile

    return load_profile(OPERATOR, name, directory)


def available(directory: Path | None = None) -> tuple[str, ...]:
    """This operator's spec profiles (of `directory` if given)."""
    from spec.profiles import available as profiles

    return profiles(OPERATOR, directory)
