"""Build the fake CANN libraries (tests/fakes/acl/fake_acl.c) with gcc, once per source version.

One shared object holds every symbol; the names the `aclnn` backend loads (libascendcl.so,
libnnopbase.so, libopapi.so, libhccl.so) are symlinks to it, so that all four handles share one
state (allocations, handles, the registered operator), as the real libraries share a process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

SOURCE = Path(__file__).parent / "acl" / "fake_acl.c"
LIBRARIES = ("libascendcl.so", "libnnopbase.so", "libopapi.so", "libhccl.so")
CFLAGS = ("-O1", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
          "-pthread")


class BuildError(RuntimeError):
    """gcc is missing or rejected the fake's source."""


def build(root: Path) -> Path:
    """The directory holding the fake libraries (built under `root` unless already there)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:12]
    out = root / f"fake_acl-{digest}"
    target = out / "libfake_acl.so"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".fake_acl.lock")):
        if not target.exists():
            gcc = shutil.which("gcc") or shutil.which("cc")
            if gcc is None:
                raise BuildError("no C compiler: install gcc to build the fake CANN libraries")
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / f".libfake_acl.{os.getpid()}.so"
            done = subprocess.run([gcc, *CFLAGS, "-o", str(tmp), str(SOURCE)], capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                raise BuildError(f"gcc failed on {SOURCE}:\n{done.stderr}")
            os.replace(tmp, target)
        for name in LIBRARIES:
            link = out / name
            if not link.is_symlink():
                link.symlink_to(target.name)
    return out


def default_root() -> Path:
    """tests/_build in the checkout (gitignored)."""
    return Path(__file__).resolve().parents[1] / "_build"
