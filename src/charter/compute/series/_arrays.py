"""Inputs turned into NumPy once: values as float64, times as int64 milliseconds since the epoch (UTC).

Accepted array-likes: lists, NumPy arrays, pandas Series/Index, Arrow arrays (anything
``np.asarray`` understands). Times may be ``datetime64`` of any unit, Python or pandas datetimes
(naive ones are UTC, as everywhere in Charter), or numbers (seconds since the epoch). Everything is
checked up front and refused with :class:`~charter.errors.InvalidInput` naming the first bad index,
so that the computations below never meet a NaN they did not make themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from charter.errors import InvalidInput

F64 = np.ndarray[Any, np.dtype[np.float64]]
I64 = np.ndarray[Any, np.dtype[np.int64]]
B1 = np.ndarray[Any, np.dtype[np.bool_]]

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def as_values(values: Any, *, name: str = "values") -> F64:
    """A 1-D float64 copy-free view where possible; every value must be finite."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numbers: {exc}") from exc
    if array.ndim != 1:
        raise InvalidInput(f"{name} must be one-dimensional, not of shape {array.shape}.")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.argmax(bad))
        raise InvalidInput(
            f"{name} must be finite: index {first} is {array[first]!r} ({int(bad.sum())} such values).",
            details={"index": first},
        )
    return array


def _millis_of_objects(items: np.ndarray[Any, Any], name: str) -> I64:
    out = np.empty(len(items), dtype=np.int64)
    for i, item in enumerate(items):  # Python datetimes are Python objects: one conversion each
        if not isinstance(item, datetime):
            raise InvalidInput(f"{name}[{i}] is not a time: {item!r}.", details={"index": i})
        moment = item.replace(tzinfo=UTC) if item.tzinfo is None else item
        out[i] = (moment - _EPOCH) // _MS
    return out


def as_millis(times: Any, n: int, *, name: str = "times") -> I64:
    """Times as int64 milliseconds since 1970-01-01 UTC, one per value (``n`` of them)."""
    if getattr(getattr(times, "dtype", None), "tz", None) is not None:
        # pandas times with a zone: NumPy would make them objects, one Python conversion each;
        # pandas converts them to UTC datetime64 in one pass.
        times = times.to_numpy(dtype="datetime64[ns]")
    array = np.asarray(times)
    if array.ndim != 1 or len(array) != n:
        raise InvalidInput(f"{name} must be one-dimensional with one time per value ({n}), not {array.shape}.")
    kind = array.dtype.kind
    if kind == "M":
        millis = array.astype("datetime64[ms]").astype(np.int64)
        missing = np.isnat(array)
    elif kind in "iuf":
        seconds = array.astype(np.float64)
        missing = ~np.isfinite(seconds)
        millis = np.where(missing, 0, np.floor(np.where(missing, 0, seconds) * 1000)).astype(np.int64)
    elif kind == "O":
        return _millis_of_objects(array, name)
    else:
        raise InvalidInput(f"{name} must be datetimes or seconds since the epoch, not {array.dtype}.")
    if missing.any():
        first = int(np.argmax(missing))
        raise InvalidInput(f"{name}[{first}] is missing.", details={"index": first})
    return millis


def millis_to_datetime(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(millis))


def window_millis(window: timedelta | str | int) -> int:
    """A window length: a ``timedelta``, milliseconds, or text such as ``"15min"``, ``"1h"``, ``"1d"``, ``"1w"``."""
    if isinstance(window, timedelta):
        millis = window // _MS
    elif isinstance(window, int | np.integer):
        millis = int(window)
    elif isinstance(window, str):
        millis = parse_duration(window)
    else:
        raise InvalidInput(f"A window is a timedelta, milliseconds or text like '1h', not {window!r}.")
    if millis <= 0:
        raise InvalidInput(f"A window must be positive, not {window!r}.")
    return millis


_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "m": 60_000, "h": MS_PER_HOUR, "d": MS_PER_DAY, "w": 7 * MS_PER_DAY}


def parse_duration(text: str) -> int:
    """``"90s"``, ``"15min"`` (or ``"15m"``), ``"1h"``, ``"1d"``, ``"2w"`` in milliseconds."""
    stripped = text.strip().lower()
    digits = len(stripped) - len(stripped.lstrip("0123456789"))
    number, unit = stripped[:digits], stripped[digits:].strip()
    if not number or unit not in _UNITS:
        raise InvalidInput(f"A duration is a whole number and a unit (ms, s, min, h, d, w), e.g. '1h', not {text!r}.")
    return int(number) * _UNITS[unit]
