"""Entry points for CONFORMANCE_RANK_SETUP: inject the fakes into a rank process at start-up.

`tests.fakes.rank_setup:torch_npu` puts the fake torch_npu first on sys.path and imports it
(before the pool initialises the "hccl" process group it registers); calls are logged to the
directory FAKE_TORCH_NPU_LOG. `tests.fakes.rank_setup:aclnn` registers the simulator as the
operator of the fake CANN libraries in FAKE_ACL_LIB_DIR (the backend's lib_dir) and logs their
calls to FAKE_ACL_LOG_DIR/acl.<pid>.jsonl.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"


def torch_npu(rank: int, world_size: int) -> None:
    if str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))
    module = importlib.import_module("torch_npu")
    if not str(getattr(module, "__file__", "")).startswith(str(SITE)):
        raise RuntimeError(f"rank {rank}: a real torch_npu ({module.__file__}) shadows the fake")


def aclnn(rank: int, world_size: int) -> None:
    from tests.fakes.acl import callbacks

    lib_dir = os.environ.get("FAKE_ACL_LIB_DIR")
    if not lib_dir:
        raise RuntimeError("tests.fakes.rank_setup:aclnn needs FAKE_ACL_LIB_DIR (the built fake)")
    log_dir = os.environ.get("FAKE_ACL_LOG_DIR")
    callbacks.install(lib_dir, None if not log_dir else Path(log_dir) / f"acl.{os.getpid()}.jsonl")
