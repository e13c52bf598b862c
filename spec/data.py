"""Content-addressed tensor values: every value derives from (case seed, tensor, rank, block).

As in nccl-tests, no rank needs another rank's data to know what it should receive: an operator's
data recipe (ops/<name>/data.py) addresses each block of rows by where it travels (the rows rank
s sends to expert j of rank r from (seed, s, r, j) alone), so the oracle of rank r regenerates
exactly the blocks addressed to it, and a misrouted or reordered row shows. Values are random,
never zero (magnitudes in [0.25, 1], weights scaled by 1/sqrt(H)), so a dropped or unwritten
element cannot hide behind a zero.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence

import ml_dtypes
import numpy as np

from spec import memo

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


def keys(seed: int, name: str, addresses: Sequence[tuple[int, ...]]) -> list[int]:
    """`key(seed, name, *a)` of every address `a` (non-negative, all of one length), computed
    together: a world of ep 128 addresses 32 Ki blocks a rank."""
    if not addresses:
        return []
    parts = np.asarray(addresses, np.int64)
    if parts.ndim != 2 or parts.min() < 0:
        return [key(seed, name, *a) for a in addresses]
    z = np.full(len(parts), _mix_int(seed, zlib.crc32(name.encode())), np.uint64)
    for p in parts.T.astype(np.uint64):  # the steps of _mix_int, on uint64 lanes
        z += p
        z += np.uint64(_GOLDEN)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z.tolist()


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
    if (dtype == "float16" and m.size >= F16_BITS_MIN
            and F16_NORMAL_SCALES[0] <= scale <= F16_NORMAL_SCALES[1]):
        return _f16_of_normal(m)
    return m.astype(np_dtype(dtype))


# Scales whose values (magnitudes 0.25 to 1 times the scale) are normal float16 numbers, with a
# factor of two to spare at either end (float16's normal range is 2^-14 to 65504).
F16_NORMAL_SCALES = (2.0**-11, 2.0**14)
F16_BITS_MIN = 1 << 14  # fewer values round faster by astype than by their bits


def _f16_of_normal(m: np.ndarray) -> np.ndarray:
    """float32 values whose float16 roundings are normal numbers, rounded to float16 (to
    nearest, ties to even) on their bits, CHUNK elements at a time: what `astype(float16)`
    gives, about twice as fast (numpy converts to float16 one element at a time)."""
    flat = m.reshape(-1)
    out = np.empty(flat.size, np.uint16)
    for a in range(0, flat.size, CHUNK):
        bits = flat[a:a + CHUNK].view(np.uint32)
        mag = bits & np.uint32(0x7FFFFFFF)
        mag += np.uint32(0x0FFF) + ((mag >> np.uint32(13)) & np.uint32(1))  # ties to even
        mag >>= np.uint32(13)
        mag -= np.uint32((127 - 15) << 10)  # float32's exponent bias to float16's
        mag |= (bits >> np.uint32(16)) & np.uint32(0x8000)
        out[a:a + CHUNK] = mag
    return out.view(np.float16).reshape(m.shape)


CHUNK = 1 << 16  # elements hashed at a time: the temporaries stay in the core's cache


_F16_WIDEN = np.float32(2.0**112)  # float16's exponent bias (15) to float32's (127)


def float32_of(a: np.ndarray) -> np.ndarray:
    """`a` (float16, bfloat16 or other) in float32, exactly: bfloat16 through its bits, float16
    through its bits CHUNK elements at a time where no value is infinite or NaN (numpy widens
    float16 one element at a time; this is about twice as fast), else by `astype`."""
    if a.dtype == NP_DTYPES["bfloat16"]:
        return np.left_shift(a.view(np.uint16), 16, dtype=np.uint32).view(np.float32)
    if a.dtype != np.float16 or a.size < F16_BITS_MIN or not a.flags.c_contiguous:
        return a.astype(np.float32)
    bits = a.reshape(-1).view(np.uint16)
    out = np.empty(bits.size, np.float32)
    mag = np.empty(min(CHUNK, bits.size), np.uint32)
    sign = np.empty_like(mag)
    for lo in range(0, bits.size, CHUNK):
        part, n = bits[lo:lo + CHUNK], min(CHUNK, bits.size - lo)
        m, s, o = mag[:n], sign[:n], out[lo:lo + n]
        np.bitwise_and(part, 0x7FFF, out=m, casting="unsafe")
        if m.max() >= 0x7C00:  # an infinity or a NaN: the exponent shift does not carry them
            o[...] = part.view(np.float16)
            continue
        np.left_shift(m, 13, out=m)
        np.multiply(m.view(np.float32), _F16_WIDEN, out=o)  # exact, subnormals included
        np.bitwise_and(part, 0x8000, out=s, casting="unsafe")
        np.left_shift(s, 16, out=s)
        o.view(np.uint32)[...] |= s
    return out.reshape(a.shape)


def product_f32(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`float32_of(x) @ w` (w float32), with x widened a slice of rows at a time: a large x
    never exists in float32 whole (twice its bytes, a fresh mapping faulted in per call), and a
    row's product reads that row alone."""
    step = max(64, CHUNK // max(x.shape[-1], 1))
    if x.ndim != 2 or x.shape[0] <= step:
        return float32_of(x) @ w
    out = np.empty((x.shape[0], w.shape[-1]), np.float32)
    for lo in range(0, x.shape[0], step):
        np.matmul(float32_of(x[lo:lo + step]), w, out=out[lo:lo + step])
    return out


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
                 index: np.ndarray, cache: bool) -> None:
    """Block `k` of len(out) elements into `out`, CHUNK elements at a time (the same values,
    several times faster than whole-array passes through memory), or from _BLOCKS if `cache`."""
    n = len(out)
    address = (k, n, dtype, scale)
    cache = cache and n >= _Blocks.MIN_ELEMENTS
    known = _BLOCKS.get(address) if cache else None
    if known is not None:
        out[...] = known
        return
    lo, hi = np.uint32(k & 0xFFFFFFFF), np.uint32(k >> 32)
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        np.add(ramp[:b - a], np.uint32(a), out=index[:b - a])
        _fill(out[a:b], index[:b - a], lo, hi, dtype, scale)
    if cache:
        _BLOCKS.put(address, out)


def block_values(keys: list[int], sizes: list[int], dtype: str, scale: float = 1.0,
                 cache: bool = True) -> np.ndarray:
    """Values of several blocks at once, flat: element i of block b is a function of
    (keys[b], i) alone, so any block can be regenerated without the others. Random signs,
    magnitudes in [0.25, 1] * scale: never zero. `cache`: keep large blocks in _BLOCKS (a
    caller that keeps them itself says no)."""
    total = int(sum(sizes))
    out = np.empty(total, np_dtype(dtype))
    if total == 0:
        return out
    if total >= 4096 * len(keys):  # large blocks: one at a time
        ramp = np.arange(min(CHUNK, max(sizes)), dtype=np.uint32)
        index = np.empty_like(ramp)
        offset = 0
        for k, n in zip(keys, sizes, strict=True):
            _large_block(out[offset:offset + n], k, dtype, scale, ramp, index, cache)
            offset += n
        return out
    sizes_arr = np.asarray(sizes, np.int64)  # many small blocks: one pass for all
    index = np.arange(total, dtype=np.uint32)
    index -= np.repeat((np.cumsum(sizes_arr) - sizes_arr).astype(np.uint32), sizes_arr)
    lo = np.repeat(np.asarray([k & 0xFFFFFFFF for k in keys], np.uint32), sizes_arr)
    hi = np.repeat(np.asarray([k >> 32 for k in keys], np.uint32), sizes_arr)
    _fill(out, index, lo, hi, dtype, scale)
    return out


def stacked_blocks(seed: int, name: str, blocks: Sequence[tuple[int, ...]], rows: Sequence[int],
                   width: int, dtype: str) -> np.ndarray:
    """The rows of blocks `blocks` (addresses of `name`'s values), rows[i] rows of `width` values
    each, in the order given, stacked: (sum(rows), width), the values `block_values` gives.

    Inside a memo scope (spec.memo.case_scope) each block is hashed once: the blocks a call makes
    are kept (read-only) while the scope has room, and a call whose blocks are all kept gathers
    them, as a rank's oracle does with the rows its peers' inputs were made of."""
    kept: dict = memo.remembered(("stacked blocks", seed, name, width, dtype), dict)
    addressed = list(zip(blocks, rows, strict=True))
    parts = [kept.get(b) for b in addressed] if kept else None
    if parts and all(p is not None for p in parts):
        return np.concatenate(parts)
    total = int(sum(rows))
    keeping = memo.reserve(total * width * np_dtype(dtype).itemsize)
    out = block_values(keys(seed, name, blocks), [n * width for n in rows], dtype,
                       cache=not keeping).reshape(total, width)
    if keeping:
        out.flags.writeable = False
        offset = 0
        for b, n in addressed:
            kept[b, n] = out[offset:offset + n]
            offset += n
    return out


def block_elements(keys: np.ndarray, index: np.ndarray, dtype: str, scale: float = 1.0
                   ) -> np.ndarray:
    """Element `index[n]` of the block keyed `keys[n]` (uint64 arrays of one shape), the values
    `block_values` gives: a single row of any block, without its block, to tell where a row came
    from."""
    keys = np.asarray(keys, np.uint64)
    lo = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    hi = (keys >> np.uint64(32)).astype(np.uint32)
    out = np.empty(keys.shape, np_dtype(dtype))
    _fill(out, np.asarray(index).astype(np.uint32), lo, hi, dtype, scale)
    return out


def random_values(seed: int, name: str, address: tuple[int, ...], shape: tuple[int, ...],
                  dtype: str, scale: float = 1.0) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    return block_values([key(seed, name, *address)], [n], dtype, scale).reshape(shape)
