"""What every operator's case model shares: its errors, its faults, its compact form.

A case is one whole EP world as plain data (ops/<name>/case.py): it serialises to JSON and back,
and a JSON file replays it anywhere. An invalid case is a consistent world plus `faults`, each a
small named deviation applied to every rank's arguments, so the JSON says exactly what was passed.
"""

from __future__ import annotations

import array
import base64
import json
import sys
import zlib
from dataclasses import dataclass
from typing import Any

_PACKED = (("b", 7), ("h", 15), ("i", 31), ("q", 63))  # array typecodes by signed bits


class CaseFormatError(ValueError):
    """A case file that cannot be read; the message names the field."""


@dataclass(frozen=True)
class Fault:
    op: str
    param: str
    arg: Any = None

    def __post_init__(self) -> None:  # JSON lists come back as tuples: keep one form
        if isinstance(self.arg, list):
            object.__setattr__(self, "arg", tuple(self.arg))


def pack_compact(d: dict[str, Any]) -> str:
    """A case's JSON dict for a passing case's record: the dict without its send matrix, then
    the matrix as packed little-endian integers of the narrowest type, deflated, in base64."""
    d = dict(d)
    flat = [v for row in d["send"] for v in row]
    code = next(c for c, bits in _PACKED if all(-(1 << bits) <= v < (1 << bits) for v in flat))
    packed = array.array(code, flat)
    if sys.byteorder == "big":
        packed.byteswap()
    d["send"] = {"lengths": [len(row) for row in d["send"]], "type": code}
    raw = json.dumps(d, separators=(",", ":")).encode() + b"\n" + packed.tobytes()
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack_compact(text: str) -> dict[str, Any]:
    """The JSON dict of a case written by `pack_compact`."""
    try:
        head, _, body = zlib.decompress(base64.b64decode(text, validate=True)).partition(b"\n")
        d = json.loads(head)
        packed = array.array(d["send"]["type"])
        packed.frombytes(body)
    except (ValueError, KeyError, TypeError, zlib.error) as err:
        raise CaseFormatError(f"not a compact case: {err}") from err
    if sys.byteorder == "big":
        packed.byteswap()
    flat, rows, at = packed.tolist(), [], 0
    for n in d["send"]["lengths"]:
        rows.append(flat[at:at + n])
        at += n
    d["send"] = rows
    return d


def need(cond: bool, name: str, what: str, got: Any) -> None:
    if not cond:
        raise CaseFormatError(f"case field '{name}': expected {what}, got {got!r}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


