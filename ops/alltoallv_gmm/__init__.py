"""aclnnAlltoAllvGroupedMatMul (AlltoAllv, Permute, GroupedMatMul, a shared-expert MatMul beside),
as the engine knows it: one record (spec.operator.Operator) over the modules of this package.

- `params.py`: the parameter table (C names, keywords, roles); `clauses.py`: the contract, one
  clause a rule, in the shipped check order; `profiles/`: one TOML per contract version.
- `call.py`: one rank's arguments and the quantities the clauses read; `case.py`: a whole world
  as data, with its faults; `data.py`: content-addressed inputs.
- `worlds.py`, `builders.py`, `volume.py`, `tiles.py`, `tile_worlds.py`: the strategies (valid
  worlds, both sides of every clause, the kernel's tile boundaries); `production.py`: named
  production worlds.
- `oracle.py`: expected outputs in float64 and the judging of a rank's outputs; `diagnose.py`:
  where a wrong permuteOut's (or gmmY's) rows came from, and the fault's pattern.
- `sim.py`: the independent simulator; `torch_backend.py`: the operator from torch ops.
- `mutants/`: the mutant catalog, faulty and correct implementations built on the simulator,
  by which `python -m ci.mutation` measures the suite's power.
- `regressions/`: saved cases replayed as explicit examples.
"""

from __future__ import annotations

from pathlib import Path

from ops import register
from ops.alltoallv_gmm.case import Case
from ops.alltoallv_gmm.clauses import CLAUSES, ENTRIES, PRODUCTS
from ops.alltoallv_gmm.params import FLOAT_DTYPES, PARAMS
from spec.operator import Operator

HERE = Path(__file__).parent

OPERATOR = register(Operator(
    name="alltoallv_gmm",
    title="aclnnAlltoAllvGroupedMatMul",
    home=__name__,
    params=PARAMS,
    clauses=CLAUSES,
    products=PRODUCTS,
    entries=ENTRIES,
    symbols={"v1": "aclnnAlltoAllvGroupedMatMul", "v2": "aclnnAlltoAllvGroupedMatMulV2"},
    dtypes=FLOAT_DTYPES,
    profile_dir=HERE / "profiles",
    case_type=Case,
    parts={
        "strategies": "ops.alltoallv_gmm.builders",
        "oracle": "ops.alltoallv_gmm.oracle",
        "data": "ops.alltoallv_gmm.data",
        "production": "ops.alltoallv_gmm.production",
        "census": "ops.alltoallv_gmm.tile_worlds",
        "mutants": "ops.alltoallv_gmm.mutants",
    },
    backends={
        "sim": "ops.alltoallv_gmm.sim:factory",
        "torch": "ops.alltoallv_gmm.torch_backend:factory",
        "torch_npu": "fixtures.torch_npu_backend:factory",
        "aclnn": "fixtures.aclnn:factory",
    },
    regressions=HERE / "regressions",
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
