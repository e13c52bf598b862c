"""Build the fake CANN libraries (tests/fakes/acl/fake_acl.c) with gcc, once per source version.

One shared object holds every symbol; the names the `aclnn` backend loads (libascendcl.so,
libnnopbase.so, libopapi.so, libhccl.so) are symlinks to it, so that all four handles share one
state (allocations, handles, the registered operator), as the real libraries share a process.

The build is laid out like a CANN installation, `<root>/fake_acl-<digest>/` being its
ASCEND_HOME_PATH: the libraries in `lib64/`, the kernel package in `opp/` (the
binary_info_config.json the fake's first stage requires, and an empty vendors/config.ini).
`build()` returns the `lib64` directory (the backend's lib_dir). `v2=False` (or FAKE_ACL_NO_V2=1
in the environment) builds a CANN without the V2 entry points (aclnnAlltoAllvGroupedMatMulV2,
aclnnGroupedMatMulAlltoAllvV2). The kernel package lists both operators' kernels.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

SOURCE = Path(__file__).parent / "acl" / "fake_acl.c"
LIBRARIES = ("libascendcl.so", "libnnopbase.so", "libopapi.so", "libhccl.so")
CFLAGS = ("-O1", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
          "-pthread")
NO_V2_FLAG = "-DFAKE_ACL_NO_V2"
KERNEL_SOCS = ("ascend910_93", "ascend910_95", "ascend950")  # kernel/config/<soc> of the op
OP_TYPES = ("AlltoAllvGroupedMatMul", "GroupedMatMulAlltoAllv")  # the dispatch's, the combine's


class BuildError(RuntimeError):
    """gcc is missing or rejected the fake's source."""


def build(root: Path, v2: bool | None = None) -> Path:
    """The fake's lib64 directory (built under `root` unless already there)."""
    if v2 is None:
        v2 = os.environ.get("FAKE_ACL_NO_V2", "") in ("", "0")
    flags = CFLAGS if v2 else (*CFLAGS, NO_V2_FLAG)
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(flags).encode()).hexdigest()[:12]
    home = root / f"fake_acl-{digest}"
    out = home / "lib64"
    target = out / "libfake_acl.so"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".fake_acl.lock")):
        if not target.exists():
            gcc = shutil.which("gcc") or shutil.which("cc")
            if gcc is None:
                raise BuildError("no C compiler: install gcc to build the fake CANN libraries")
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / f".libfake_acl.{os.getpid()}.so"
            done = subprocess.run([gcc, *flags, "-o", str(tmp), str(SOURCE)], capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                raise BuildError(f"gcc failed on {SOURCE}:\n{done.stderr}")
            os.replace(tmp, target)
        for name in LIBRARIES:
            link = out / name
            if not link.is_symlink():
                link.symlink_to(target.name)
        install_kernels(home / "opp")
    return out


def install_kernels(opp: Path) -> None:
    """The op's kernel package as nnopbase finds it under ASCEND_OPP_PATH."""
    for soc in KERNEL_SOCS:
        config = opp / "built-in" / "op_impl" / "ai_core" / "tbe" / "kernel" / "config" / soc
        config.mkdir(parents=True, exist_ok=True)
        info = config / "binary_info_config.json"
        if not info.exists():
            info.write_text(json.dumps({op: {"binaryList": []} for op in OP_TYPES}) + "\n")
    vendors = opp / "vendors"
    vendors.mkdir(parents=True, exist_ok=True)
    if not (vendors / "config.ini").exists():
        (vendors / "config.ini").write_text("load_priority=\n")


def default_root() -> Path:
    """tests/_build in the checkout (gitignored)."""
    return Path(__file__).resolve().parents[1] / "_build"
