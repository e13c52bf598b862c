"""tests/support/npu_backend.py without `probe_devices`: a failed start is the only probe."""

from tests.support.npu_backend import DIST_BACKEND, RANK_ENV, WORLD, factory, prepare_process

__all__ = ["DIST_BACKEND", "RANK_ENV", "WORLD", "factory", "prepare_process"]
