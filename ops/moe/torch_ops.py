"""The torch ops both MoE operators' `torch` backends are built from: numpy arrays seen as torch
tensors without a copy, rows moved as raw bytes, the shared expert's matmul and the grouped
matmul, each product in float32 cast back to the output's dtype.
"""

from __future__ import annotations

import warnings
from typing import Any

import ml_dtypes
import numpy as np


def as_tensor(array: np.ndarray) -> Any:
    """A torch tensor sharing `array`'s memory (bfloat16 travels as its bits)."""
    import torch

    arr = np.asarray(array)
    with warnings.catch_warnings():  # read-only inputs are only ever read
        warnings.simplefilter("ignore", UserWarning)
        if arr.dtype == np.dtype(ml_dtypes.bfloat16):
            return torch.from_numpy(arr.view(np.uint16)).view(torch.bfloat16)
        return torch.from_numpy(arr)


def row_bytes(array: np.ndarray, writable: bool = False) -> Any:
    """An (rows, bytes per row) uint8 tensor over a 2-D array's memory: rows move as raw bits."""
    arr = np.asarray(array)
    if not arr.flags.c_contiguous:
        if writable:  # a copy would silently drop what is written into it
            raise ValueError("an output or workspace buffer that is not C-contiguous")
        arr = np.ascontiguousarray(arr)
    return as_tensor(arr.view(np.uint8).reshape(arr.shape[0], arr.shape[1] * arr.itemsize))


def shared_expert(a: dict) -> None:
    """mmY = mmX @ mmWeight (transposed when transMmWeight), written into the caller's mmY."""
    w = as_tensor(a["mm_weight"]).float()
    w = w.T if a["trans_mm_weight"] else w
    y = as_tensor(a["mm_y"])
    y.copy_((as_tensor(a["mm_x"]).float() @ w).to(y.dtype))


def grouped_matmul(a: dict, rows: np.ndarray, out: np.ndarray,
                   bounds: list[tuple[int, int]]) -> None:
    """out[lo:hi] = rows[lo:hi] @ gmmWeight[j] for each local expert j's rows (`bounds`)."""
    x, weights, y = as_tensor(rows), as_tensor(a["gmm_weight"]), as_tensor(out)
    for j, (lo, hi) in enumerate(bounds):
        w = weights[j].float()
        w = w.T if a["trans_gmm_weight"] else w
        y[lo:hi].copy_((x[lo:hi].float() @ w).to(y.dtype))
