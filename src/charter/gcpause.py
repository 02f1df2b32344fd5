"""Pause Python's cyclic garbage collector while a bulk batch is parsed, validated and written.

A batch of 10,000 decisions or metric points allocates hundreds of thousands of small containers.
Each 700 allocations start a young collection, and every tenth of those an older one, and each
of them walks the batch built so far: validation alone ran three times slower with the collector
on (18 us against 6 us a decision, ``benchmarks/bench_decisions.py``). A batch makes no reference
cycles that would need the collector (reference counting frees it), so collection waits until the
batch is done, then runs once.

The collector is process-wide: pauses overlapping in several threads are counted and collection
resumes when the last ends. A pause is bounded by one request; it never outlives it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """Hold collection for the duration of the block (nesting and threads allowed)."""
    global _active, _was_enabled
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()
