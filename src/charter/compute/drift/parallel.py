"""Columns side by side: each column's work is independent and NumPy releases the GIL while it
sorts, searches and adds, so a few threads use every core with no copy of the data."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 8


def map_columns(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[function(item) for item in items]``, on up to one thread per core (none for one item)."""
    workers = min(len(items), os.cpu_count() or 1, MAX_WORKERS)
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="charter-drift") as pool:
        return list(pool.map(function, items))
