"""`--spec-profile auto`: which shipped profile matches the CANN and torch_npu installed here.

The sources record no CANN release numbers for the ops-transformer snapshots, so the choice rests
on what the install itself shows: whether aclnnAlltoAllvGroupedMatMulV2 (added in 6af2bcd76, June
2026) is exported by a library op-plugin would take it from (fixtures/oplib.py: the same order the
aclnn backend loads by) and, when torch_npu is installed, whether its npu_alltoallv_gmm takes
comm_mode (op-plugin 052e8c4a8). A shipped profile whose entry points are those the install has is
the match; the versions read are reported with it.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

from fixtures.oplib import entry_symbols, op_library_candidates, resolve_op_library
from spec.operator import Operator
from spec.profiles import Profile, ProfileError, available, load

HOME_VARIABLES = ("ASCEND_HOME_PATH", "ASCEND_TOOLKIT_HOME")


@dataclass(frozen=True)
class Install:
    cann: str | None  # the toolkit's version, as its version file says
    torch_npu: str | None
    library: Path | None  # the library op-plugin takes the operator's V1 entry point from
    has_v2: bool  # some library in op-plugin's order exports aclnnAlltoAllvGroupedMatMulV2
    torch_npu_comm_mode: bool | None  # npu_alltoallv_gmm takes comm_mode (None: no torch_npu)
    library_v2: Path | None = None  # the library op-plugin takes V2 from


def _home(env: dict[str, str]) -> Path | None:
    home = next((env[v] for v in HOME_VARIABLES if env.get(v)), None)
    return Path(home) if home else None


def find_install(op: Operator, env: dict[str, str] | None = None,
                 cann_version: str | None = None) -> Install:
    """Read the CANN install the environment points at, for `op`'s entry points; ProfileError
    when there is none."""
    env = dict(os.environ) if env is None else env
    home = _home(env)
    if home is None or not (home / "lib64").is_dir():
        raise ProfileError("--spec-profile auto: no CANN install found; set "
                           f"{' or '.join(HOME_VARIABLES)} to the toolkit (its lib64 holds "
                           "libopapi.so or libopapi_*.so) or name a profile: "
                           f"{', '.join(available(op))}")
    lib64 = home / "lib64"
    library = resolve_op_library(lib64, env, op.symbols["v1"])
    if library is None:
        searched = ", ".join(map(str, op_library_candidates(lib64, env))) or f"no libopapi*.so in {lib64}"
        raise ProfileError(f"--spec-profile auto: no library exports "
                           f"{entry_symbols(op.symbols['v1'])[0]} "
                           f"(searched in op-plugin's order: {searched}); set ASCEND_HOME_PATH, "
                           "ASCEND_OPP_PATH or ASCEND_CUSTOM_OPP_PATH to the CANN holding the "
                           "operator, or name a profile")
    library_v2 = (resolve_op_library(lib64, env, op.symbols["v2"]) if "v2" in op.symbols
                  else None)
    try:
        torch_npu = importlib.metadata.version("torch_npu")
    except importlib.metadata.PackageNotFoundError:
        torch_npu = None
    return Install(cann_version, torch_npu, library, library_v2 is not None,
                   _torch_npu_comm_mode(torch_npu), library_v2)


def _torch_npu_comm_mode(version: str | None) -> bool | None:
    if version is None:
        return None
    import inspect

    import torch_npu

    try:
        doc = str(inspect.signature(torch_npu.npu_alltoallv_gmm))
    except (AttributeError, TypeError, ValueError):
        return None
    return "comm_mode" in doc


def pick(op: Operator, install: Install, directory: Path | None = None
         ) -> tuple[Profile, str]:
    """The shipped profile whose entry points are the install's, and why; ProfileError if none
    or several match, or if torch_npu and CANN disagree about V2."""
    profiles = [load(op, n, directory) for n in available(op, directory)]
    want = ("v1", "v2") if install.has_v2 else ("v1",)
    v2 = (f"{install.library_v2 or install.library} exports" if install.has_v2 else
          f"no library in op-plugin's order ({install.library} first for V1) exports")
    if install.torch_npu_comm_mode is not None and install.torch_npu_comm_mode != install.has_v2:
        raise ProfileError(
            f"--spec-profile auto: torch_npu {install.torch_npu} "
            f"{'takes' if install.torch_npu_comm_mode else 'lacks'} comm_mode but {v2} the V2 "
            "symbol; name a profile")
    matches = [p for p in profiles if p.kind == "shipped" and p.entries == want]
    why = (f"{v2} {op.symbols.get('v2', op.title + 'V2')}"
           + (f" (CANN {install.cann})" if install.cann else "")
           + (f"; torch_npu {install.torch_npu}" if install.torch_npu else ""))
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise ProfileError(f"--spec-profile auto: {why}; shipped profiles with entry points "
                           f"{', '.join(want)}: {found}; name one with --spec-profile")
    return matches[0], why
