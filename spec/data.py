"""Content-addressed tensor values: every value derives from (case seed, tensor, rank, block).

As in nccl-tests, no rank needs another rank's data to know what it should receive: the rows rank
s sends to expert j of rank r are generated from (seed, s, r, j) alone, so the oracle of rank r
regenerates exactly the blocks addressed to it, and a misrouted or reordered row shows. Values
are random, never zero (magnitudes in [0.25, 1], weights scaled by 1/sqrt(H)), so a dropped or
unwritten element cannot hide behind a zero.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict

import ml_dtypes
import numpy as np

from spec.call import TensorDesc
from spec.memo import memoised

NP_DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "int8": np.dtype(np.int8),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
}


def np_dtype(name: str) -> np.dtype:
    return NP_DTYPES[name]


_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix_int(*parts: int) -> int:
    """A 64-bit key from integers (splitmix64 steps): the address of one block of values."""
    z = 0
    for p in parts:
        z = (z + (p & _M64) + _GOLDEN) & _M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        z ^= z >> 31
    return z


def _fmix32(z: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser on uint32 arrays, in place."""
    z ^= z >> np.uint32(16)
    z *= np.uint32(0x85EBCA6B)
    z ^= z >> np.uint32(13)
    z *= np.uint32(0xC2B2AE35)
    z ^= z >> np.uint32(16)
    return z


def key(seed: int, name: str, *address: int) -> int:
    return _mix_int(seed, zlib.crc32(name.encode()), *address)


def _hash(index: np.ndarray, lo, hi) -> np.ndarray:
    """32 random bits per element from its index within a block and the block's key halves."""
    index *= np.uint32(0x9E3779B1)
    index ^= lo
    _fmix32(index)
    index += hi
    return _fmix32(index)


def _values(z: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    if np_dtype(dtype).kind in "iu":
        return (z % np.uint32(99) + np.uint32(1)).astype(np_dtype(dtype))
    m = (z >> np.uint32(9)).astype(np.float32)
    m *= np.float32(0.75 * 2.0**-23)
    m += np.float32(0.25)
    m.view(np.uint32)[...] |= z << np.uint32(31)  # the sign: the hash's lowest bit
    if scale != 1.0:
        m *= np.float32(scale)
    return m.astype(np_dtype(dtype))


CHUNK = 1 << 16  # elements hashed at a time: the temporaries stay in the core's cache


def _fill(out: np.ndarray, index: np.ndarray, lo, hi, dtype: str, scale: float) -> None:
    """`out[...]` = the values of elements `index` of a block with key halves `lo`, `hi`."""
    out[...] = _values(_hash(index, lo, hi), dtype, scale)


class _Blocks:
    """Recently generated large blocks, by (key, size, dtype, scale), up to a byte budget.

    A block is a pure function of its address, so a remembered block is the block: the oracle of
    a rank regenerates the rows its peers sent, and in a world whose ranks share this process
    (the simulator's) those were generated moments before. Blocks are kept read-only and copied
    out, so no caller, nor a backend writing into its inputs, can change one."""

    MIN_ELEMENTS = 1 << 16  # smaller blocks cost less to regenerate than to look after
    BUDGET = 256 << 20  # bytes

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, address: tuple) -> np.ndarray | None:
        with self._lock:
            block = self._blocks.get(address)
            if block is not None:
                self._blocks.move_to_end(address)
            return block

    def put(self, address: tuple, values: np.ndarray) -> None:
        if values.nbytes > self.BUDGET // 4:
            return
        block = values.copy()
        block.flags.writeable = False
        with self._lock:
            if address in self._blocks:
                return
            self._blocks[address] = block
            self._bytes += block.nbytes
            while self._bytes > self.BUDGET:
                _, old = self._blocks.popitem(last=False)
                self._bytes -= old.nbytes


_BLOCKS = _Blocks()


def _large_block(out: np.ndarray, k: int, dtype: str, scale: float, ramp: np.ndarray,
                 index: np.ndarray) -> None:
    """Block `k` of len(out) elements into `out`, CHUNK elements at a time (the same values,
    several times faster than whole-array passes through memory), or from _BLOCKS."""
    n = len(out)
    address = (k, n, dtype, scale)
    known = _BLOCKS.get(address) if n >= _Blocks.MIN_ELEMENTS else None
    if known is not None:
        out[...] = known
        return
    lo, hi = np.uint32(k & 0xFFFFFFFF), np.uint32(k >> 32)
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        np.add(ramp[:b - a], np.uint32(a), out=index[:b - a])
        _fill(out[a:b], index[:b - a], lo, hi, dtype, scale)
    if n >= _Blocks.MIN_ELEMENTS:
        _BLOCKS.put(address, out)


def block_values(keys: list[int], sizes: list[int], dtype: str, scale: float = 1.0) -> np.ndarray:
    """Values of several blocks at once, flat: element i of block b is a function of
    (keys[b], i) alone, so any block can be regenerated without the others. Random signs,
    magnitudes in [0.25, 1] * scale: never zero."""
    total = int(sum(sizes))
    out = np.empty(total, np_dtype(dtype))
    if total == 0:
        return out
    if total >= 4096 * len(keys):  # large blocks: one at a time
        ramp = np.arange(min(CHUNK, max(sizes)), dtype=np.uint32)
        index = np.empty_like(ramp)
        offset = 0
        for k, n in zip(keys, sizes, strict=True):
            _large_block(out[offset:offset + n], k, dtype, scale, ramp, index)
            offset += n
        return out
    sizes_arr = np.asarray(sizes, np.int64)  # many small blocks: one pass for all
    index = np.arange(total, dtype=np.uint32)
    index -= np.repeat((np.cumsum(sizes_arr) - sizes_arr).astype(np.uint32), sizes_arr)
    lo = np.repeat(np.asarray([k & 0xFFFFFFFF for k in keys], np.uint32), sizes_arr)
    hi = np.repeat(np.asarray([k >> 32 for k in keys], np.uint32), sizes_arr)
    _fill(out, index, lo, hi, dtype, scale)
    return out


def random_values(seed: int, name: str, address: tuple[int, ...], shape: tuple[int, ...],
                  dtype: str, scale: float = 1.0) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    return block_values([key(seed, name, *address)], [n], dtype, scale).reshape(shape)


def gmm_x_blocks(case, pairs: list[tuple[int, int, int]]) -> np.ndarray:
    """The rows of blocks (src, dst, expert), in the order given, stacked: (rows, H1)."""
    keys = [key(case.seed, "gmmX", s, r, j) for s, r, j in pairs]
    counts = [case.send[s][r * case.e + j] for s, r, j in pairs]
    flat = block_values(keys, [c * case.h1 for c in counts], case.dtype)
    return flat.reshape(sum(counts), case.h1)


def gmm_x_block(case, src: int, dst: int, expert: int) -> np.ndarray:
    """The rows rank `src` sends to local expert `expert` of rank `dst`, in sending order."""
    return gmm_x_blocks(case, [(src, dst, expert)])


def gmm_x(case, rank: int) -> np.ndarray:
    """gmmX of `rank`: ordered by destination rank, then the destination's local expert."""
    return gmm_x_blocks(case, [(rank, r, j) for r in range(case.ep) for j in range(case.e)])


def gmm_weight_logical(case, rank: int) -> np.ndarray:
    """The weight as the formula uses it: (e, H1, N1)."""
    return random_values(case.seed, "gmmWeight", (rank,), (case.e, case.h1, case.n1),
                         case.dtype, max(case.h1, 1) ** -0.5)


def gmm_weight(case, rank: int) -> np.ndarray:
    """The weight as passed: (e, N1, H1) when transGmmWeight, holding the same logical values."""
    w = gmm_weight_logical(case, rank)
    return np.ascontiguousarray(w.transpose(0, 2, 1)) if case.trans_gmm_weight else w


def mm_x(case, rank: int) -> np.ndarray:
    bs, h2 = case.shared.bs[rank], case.shared.h2
    return random_values(case.seed, "mmX", (rank,), (bs, h2), case.dtype)


def mm_weight_logical(case, rank: int) -> np.ndarray:
    h2, n2 = case.shared.h2, case.shared.n2
    return random_values(case.seed, "mmWeight", (rank,), (h2, n2), case.dtype, max(h2, 1) ** -0.5)


def mm_weight(case, rank: int) -> np.ndarray:
    w = mm_weight_logical(case, rank)
    return np.ascontiguousarray(w.T) if case.trans_mm_weight else w


INPUT_MAKERS = {"gmmX": gmm_x, "gmmWeight": gmm_weight, "mmX": mm_x, "mmWeight": mm_weight}


@memoised(copy=True)
def input_tensor(case, rank: int, name: str, desc: TensorDesc, counts: tuple[int, ...] | None
                 ) -> np.ndarray:
    """The value of input `name` on `rank` as the call describes it.

    The recipe's tensor when the call passes it as the case defines it; otherwise (a fault changed
    its shape or dtype, or it is a count tensor) content-addressed values of the described shape.
    """
    natural = case.natural_tensors(rank).get(name)
    if name in INPUT_MAKERS and natural == desc:
        return INPUT_MAKERS[name](case, rank)
    if name.endswith("CountsTensor") and counts is not None and desc.shape == (len(counts),):
        return np.asarray(counts, dtype=np_dtype(desc.dtype))
    return random_values(case.seed, f"fault:{name}", (rank,), desc.shape, desc.dtype)
