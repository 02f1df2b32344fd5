"""safetensors: ``u64 LE header length | JSON header | data``. Only the 8-byte length and the header
are read (a 1 GB file costs two small reads); the data section is never touched.

The format cannot carry code. What can go wrong is a header that lying or lenient readers
interpret differently, so the verdict separates two cases:

* **not verified** (``safetensors-unreadable-header``): there is no header to judge: the file is
  shorter than 8 bytes, the length is 0, over 100 MB (the reference reader's ``HeaderTooLarge``) or
  past the end of the file, the header is not UTF-8, not JSON, or not an object. Every safetensors
  reader refuses such a file; the scanner cannot say what else it is. An entry whose dtype the
  scanner does not know (a newer format version) is ``safetensors-unknown-dtype``: its size cannot
  be checked.
* **unsafe** (``safetensors-malformed``): the header parses but declares what a careful reader must
  refuse. High severity for the shapes of aliasing and out-of-bounds attacks: offsets outside the
  data section or reversed, tensors that overlap, a byte span that does not match dtype x shape,
  duplicate JSON keys (two parsers, two answers). Medium for the rest: holes between tensors or
  unused bytes after the last one (where a second payload can hide; the reference reader's
  ``MetadataIncompleteBuffer``), entries without ``dtype``/``shape``/``data_offsets``, a
  ``__metadata__`` that is not a string-to-string map. A user needs "reject this file" for these,
  not "could not check", hence unsafe rather than not verified.
"""

from __future__ import annotations

import json
import math
from typing import Any, BinaryIO

from charter.compute.scan.report import Recorder, Severity

MAX_HEADER = 100_000_000
BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class _Unreadable(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Unreadable(f"{name} is not JSON")


def scan_safetensors(rec: Recorder, member: str | None, stream: BinaryIO, size: int) -> None:
    def unreadable(message: str) -> None:
        rec.add(member, "safetensors-unreadable-header", "medium", message)

    def malformed(severity: Severity, message: str) -> None:
        rec.add(member, "safetensors-malformed", severity, message)

    head = stream.read(8)
    if len(head) < 8:
        return unreadable("shorter than the 8-byte header length")
    n = int.from_bytes(head, "little")
    if n == 0:
        return unreadable("the header length is 0")
    if n > MAX_HEADER:
        return unreadable(f"the header length {n:,} is over the 100 MB that safetensors readers accept")
    if 8 + n > size:
        return unreadable(f"the header length {n:,} runs past the end of the file ({size:,} bytes)")
    raw = stream.read(n)
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        text = raw.decode("utf-8")
        if not text.startswith("{"):
            return unreadable("the header does not start with '{'")
        header = json.loads(text, object_pairs_hook=pairs, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return unreadable(f"the header is not a JSON object: {exc}")
    if not isinstance(header, dict):
        return unreadable("the header is not a JSON object")
    if duplicates:
        malformed("high", f"duplicate keys in the header: {sorted(set(duplicates))[:5]}")
    data_size = size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                malformed("medium", "__metadata__ is not a map of strings to strings")
            continue
        span = _check_entry(rec, member, key, entry, data_size)
        if span is not None:
            spans.append((*span, key))
    _check_layout(rec, member, spans, data_size)


def _check_entry(rec: Recorder, member: str | None, key: str, entry: object, data_size: int) -> tuple[int, int] | None:
    if not isinstance(entry, dict):
        rec.add(member, "safetensors-malformed", "medium", f"tensor {key!r}: the entry is not an object")
        return None
    dtype, shape, offsets = entry.get("dtype"), _ints(entry.get("shape")), _ints(entry.get("data_offsets"))
    if not isinstance(dtype, str) or shape is None or offsets is None or len(offsets) != 2:
        rec.add(
            member,
            "safetensors-malformed",
            "medium",
            f"tensor {key!r}: needs a string dtype, a list of non-negative integers as shape and two data_offsets",
        )
        return None
    begin, end = offsets
    if begin > end or end > data_size:
        rec.add(
            member,
            "safetensors-malformed",
            "high",
            f"tensor {key!r}: data_offsets [{begin}, {end}] fall outside the data section ({data_size:,} bytes)",
        )
        return None
    bits = BITS.get(dtype)
    if bits is None:
        rec.add(member, "safetensors-unknown-dtype", "medium", f"tensor {key!r}: unknown dtype {dtype!r}")
    else:
        nbits = math.prod(shape) * bits
        if nbits % 8 or nbits // 8 != end - begin:
            rec.add(
                member,
                "safetensors-malformed",
                "high",
                f"tensor {key!r}: {dtype} x {shape} needs {nbits / 8:g} bytes but data_offsets span {end - begin:,}",
            )
    return begin, end


def _check_layout(rec: Recorder, member: str | None, spans: list[tuple[int, int, str]], data_size: int) -> None:
    cursor, previous = 0, ""
    for begin, end, key in sorted(spans):
        if begin < cursor:
            rec.add(member, "safetensors-malformed", "high", f"tensors {previous!r} and {key!r} overlap")
        elif begin > cursor:
            rec.add(member, "safetensors-malformed", "medium", f"{begin - cursor:,} unused bytes before tensor {key!r}")
        if end >= cursor:
            cursor, previous = end, key
    if cursor < data_size:
        rec.add(member, "safetensors-malformed", "medium", f"{data_size - cursor:,} unused bytes after the last tensor")


def _ints(value: object) -> list[int] | None:
    """``value`` as a list of non-negative integers, or None."""
    if isinstance(value, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value):
        return value
    return None


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """Sniffed from content: a plausible header length followed by ``{``."""
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= min(MAX_HEADER, size - 8)
