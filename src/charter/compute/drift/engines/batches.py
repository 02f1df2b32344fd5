"""Numeric columns profiled batch by batch behind a scan: how the DuckDB engine handles large data.

A scan (DuckDB's, of Parquet, CSV or any SQL) hands over Arrow record batches whose columns are
the numeric columns cast to float64, in the scan's row order. Two passes use them:

* :func:`sample_edges` (a reference, when no edges are given): each column's exact minimum and
  maximum and a Bernoulli sample of the rows, whose order statistics become the edges;
* :func:`binned_profiles`: each batch profiled by the numpy engine's own code on the edges (the
  finite values sorted, about 8 ns a value, then two binary searches per edge; DuckDB's
  ``histogram(x, edges)`` takes about 45 ns a value, twice per column) and the batch profiles
  merged (counts add, moments by Chan's formula), so the counts are the numpy engine's exactly.

Columns run side by side on a few threads (NumPy releases the GIL while it sorts) while the scan
fetches the next batch on its own threads; memory stays at a few batches, whatever the data's size.

Sampled edges
-------------

Each row is kept with probability ``q = min(1, sample_rows / rows)``, decided by a PCG64 stream
with a fixed seed, one draw per row in the scan's order: the same data in the same order give the
same edges, whatever the batch size. The edges are the sample's finite values at the ranks
``edge_ranks(len(sample), bins)`` together with the column's exact minimum and maximum (no
reference value lies beyond its edges, as with exact edges). With ``q = 1`` they are exactly the
numpy engine's edges. With ``q < 1`` an open cell holds about ``1 / bins`` of the values, give or
take ``sqrt(bins / sample)`` of that (3 % for 1000 bins and a million sampled rows), and the tail
edges stop at a share of about ``1 / sample``. The cells are counted on all the data, not on the
sample, and the error bounds of the binned statistics are computed from the cells alone, so they
stay rigorous wherever the edges lie (see ``statistics``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from charter.compute.drift.engines.numpy_engine import finite_sorted, floats_of
from charter.compute.drift.parallel import MAX_WORKERS
from charter.compute.drift.profile import F64, NumericProfile, edge_ranks, unique_edges

__all__ = ["BATCH_ROWS", "EDGE_SAMPLE_ROWS", "SAMPLE_SEED", "binned_profiles", "sample_edges"]

# Rows per record batch: 1 MB per column, large enough that NumPy's per-call cost vanishes and small
# enough that a few batches of every column stay far below the memory the scan itself needs.
BATCH_ROWS = 1 << 17
# Rows sampled for a large reference's edges (8 MB per column while the pass runs).
EDGE_SAMPLE_ROWS = 1_000_000
SAMPLE_SEED = 20_240_601

T = TypeVar("T")
Batch = Any  # a pyarrow.RecordBatch: column i is the i-th requested column, as float64


def sample_edges(
    batches: Iterable[Batch], names: Sequence[str], *, rows: int, bins: int, sample_rows: int
) -> dict[str, F64]:
    """Each column's edges from a sample of ``sample_rows`` of the ``rows`` rows (see the module docstring)."""
    share = min(1.0, sample_rows / rows) if rows > 0 else 1.0
    low = [math.inf] * len(names)
    high = [-math.inf] * len(names)
    parts: list[list[F64]] = [[] for _ in names]

    def drawn() -> Iterator[tuple[Batch, Any]]:
        rng = np.random.Generator(np.random.PCG64(SAMPLE_SEED))
        for batch in batches:  # in order, on this thread: one draw per row, whatever the batch size
            yield batch, (None if share >= 1.0 else rng.random(batch.num_rows) < share)

    def one(item: tuple[Batch, Any], i: int) -> None:
        batch, keep = item
        floats = floats_of(batch.column(i), names[i])
        finite = np.isfinite(floats)
        low[i] = min(low[i], float(np.min(floats, where=finite, initial=math.inf)))
        high[i] = max(high[i], float(np.max(floats, where=finite, initial=-math.inf)))
        parts[i].append(floats[finite if keep is None else finite & keep])

    each_batch(drawn(), one, len(names))
    edges: dict[str, F64] = {}
    for i, name in enumerate(names):
        if low[i] > high[i]:  # no finite value: no edge, as for exact edges
            edges[name] = np.zeros(0, dtype=np.float64)
            continue
        sample = np.concatenate(parts[i]) if parts[i] else np.zeros(0, dtype=np.float64)
        parts[i] = []
        sample.sort()
        picked = sample[edge_ranks(len(sample), bins)]
        edges[name] = unique_edges(np.concatenate([[low[i]], picked, [high[i]]]))
    return edges


def binned_profiles(
    batches: Iterable[Batch], names: Sequence[str], edges: Mapping[str, F64]
) -> dict[str, NumericProfile]:
    """Each column's profile on its edges, batch by batch (no sorted values kept: the data are large)."""
    empty = np.zeros(0, dtype=np.float64)
    totals = [
        NumericProfile.of_sorted(empty, edges=edges[name], missing=0, infinite=0, keep_values=False) for name in names
    ]

    def one(batch: Batch, i: int) -> None:
        values, missing, infinite = finite_sorted(batch.column(i), names[i])
        part = NumericProfile.of_sorted(
            values, edges=edges[names[i]], missing=missing, infinite=infinite, keep_values=False
        )
        totals[i] = totals[i].merge(part, max_exact_rows=0)

    each_batch(batches, one, len(names))
    return dict(zip(names, totals, strict=True))


def each_batch(items: Iterable[T], work: Callable[[T, int], None], columns: int) -> None:
    """``work(item, i)`` for every item, in order, and every column ``i < columns``.

    The columns of one item run side by side while the next item is fetched (a scan fetches on its
    own threads, without the GIL). A column's work on one item ends before its work on the next
    starts, so per-column state needs no lock and is updated in the data's order.
    """
    workers = min(columns, os.cpu_count() or 1, MAX_WORKERS)
    if workers <= 1:
        for item in items:
            for i in range(columns):
                work(item, i)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="charter-drift") as pool:
        pending: list[Future[None]] = []
        for item in items:
            for future in pending:
                future.result()
            pending = [pool.submit(work, item, i) for i in range(columns)]
        for future in pending:
            future.result()
