"""Metric services: ingest batches of points, read series at a resolution, report, keep thresholds.

Each function authorizes the acting principal in the model's team scope (``monitor:write`` to
write, ``monitor:read`` to read). Writes record one audit event in the same transaction: one per
ingested batch (never one per point), one per change of thresholds; the events name the model's
metrics (``model_metrics``, model id). Reads are not audited: metrics are measurements of a
model, not personal data. Services flush; the caller commits.

Identity of a point: (series, time to the millisecond), where a series is (model, version or
none, name, segment labels). Re-sending a point exactly as stored is not an error: it is skipped
and counted as a duplicate, so a client may retry a batch whose answer it lost. A different value
at a stored time is refused (409, naming the points) and nothing of its batch is stored; the same
point twice in one batch is refused (422).
"""

from __future__ import annotations

import hashlib
import re
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.compute.series import analyze, breaches
from charter.compute.series._arrays import F64, I64, MS_PER_DAY, MS_PER_HOUR
from charter.db.base import utcnow
from charter.errors import Conflict, InvalidInput, NotFound, named_list
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.inventory.service import get_model_row, scope_of, version_ids
from charter.metrics import store
from charter.metrics.models import MetricSeriesRow, MetricThresholdRow
from charter.metrics.schemas import (
    LABEL_PATTERN,
    MAX_BATCH,
    NAME_PATTERN,
    AnomalyRead,
    BreachRead,
    ChangePointRead,
    IngestResult,
    MetricBatch,
    MetricsReport,
    Resolution,
    SeasonRead,
    SeriesData,
    SeriesReport,
    SeriesResponse,
    Summary,
    ThresholdBreaches,
    ThresholdIn,
    ThresholdRead,
    ThresholdSet,
    TrendRead,
)
from charter.monitoring.service import mark_ingested
from charter.security.permissions import Permission
from charter.security.principal import Principal, authorize

P = Permission
RESOURCE = "model_metrics"
MAX_SERIES = 200  # series in one read or report: more needs a narrower filter
AUTO_POINTS = 5_000  # an automatic resolution keeps a read under this many points in all
REPORT_POINTS = 5_000  # ... and each series of a report under this many
MAX_POINTS = 200_000  # the most an explicit resolution may return
LISTED = 50  # anomalies and breach episodes listed per series
_NAMED = 20  # points named in a refusal
BUCKET_MS: dict[Resolution, int] = {"1m": store.MS_PER_MINUTE, "1h": MS_PER_HOUR, "1d": MS_PER_DAY}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
# The earliest and latest times a point may carry: the epoch (bucketing divides non-negative
# integers) and the last millisecond Python's datetime can show.
_LATEST = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _MS


def to_millis(moment: datetime) -> int:
    """A time as stored: milliseconds since the epoch; a time without a zone is UTC."""
    if moment.tzinfo is None:
        return (moment - _NAIVE_EPOCH) // _MS
    return (moment - _EPOCH) // _MS


def _aware(moment: datetime | None) -> datetime | None:
    """A time as answered: UTC, with its zone (a time given without one is UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_datetime(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


def _times(millis: Iterable[int]) -> list[datetime]:
    return [_EPOCH + timedelta(milliseconds=m) for m in millis]


# -- series identity --------------------------------------------------------------------------------

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SeriesKey:
    version: str | None
    name: str
    segment: Labels = ()


def _key_hash(version_id: int | None, name: str, segment: Labels) -> str:
    return hashlib.sha256(orjson.dumps([version_id, name, dict(segment)], option=orjson.OPT_SORT_KEYS)).hexdigest()


def _describe(key: SeriesKey) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in key.segment)
    return key.name + (f"@{key.version}" if key.version else "") + (f"[{labels}]" if labels else "")


@dataclass
class Columns:
    """A batch as columns: ``codes[i]`` indexes ``keys`` (the series of point ``i``)."""

    keys: list[SeriesKey]
    codes: I64
    t: I64
    values: F64
    positions: I64 | None = field(default=None)  # each point's index as sent (for messages)


def columns_of(batch: MetricBatch, *, now: datetime) -> Columns:
    """The points of a request as columns (one pass; nothing else loops over points)."""
    base_segment = dict(batch.segment or {})
    base_labels: Labels = tuple(sorted(base_segment.items()))
    default_t = to_millis(batch.time or now)
    index: dict[tuple[str | None, str, Labels], int] = {}
    codes: list[int] = []
    times: list[int] = []
    values: list[float] = []
    for point in batch.points:
        if point.segment is None:
            labels = base_labels
        else:
            labels = tuple(sorted({**base_segment, **point.segment}.items()))
        identity = (point.version or batch.version, point.name, labels)
        code = index.get(identity)
        if code is None:
            code = index[identity] = len(index)
        codes.append(code)
        times.append(default_t if point.time is None else to_millis(point.time))
        values.append(point.value)
    keys = [SeriesKey(version, name, labels) for version, name, labels in index]
    return Columns(keys, np.asarray(codes, dtype=np.int64), np.asarray(times, dtype=np.int64), np.asarray(values))


def _version_ids(session: Session, model: ModelRow, names: set[str]) -> dict[str, int]:
    return version_ids(session, model, names, before="recording its metrics")


def _insert_ignore(dialect_name: str) -> Any:
    table = typing.cast(Table, MetricSeriesRow.__table__)
    statement = postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)
    return statement.on_conflict_do_nothing(index_elements=["model_id", "key"])


def _series_ids(
    session: Session, model: ModelRow, keys: list[SeriesKey], versions: dict[str, int]
) -> tuple[list[int], set[int]]:
    """The id of each key's series, creating the missing ones; and the ids created."""
    hashes = [_key_hash(None if k.version is None else versions[k.version], k.name, k.segment) for k in keys]

    def lookup() -> dict[str, int]:
        stmt = select(MetricSeriesRow.key, MetricSeriesRow.id).where(
            MetricSeriesRow.model_id == model.id, MetricSeriesRow.key.in_(hashes)
        )
        return {key: sid for key, sid in session.execute(stmt)}

    found = lookup()
    missing = [i for i, h in enumerate(hashes) if h not in found]
    if missing:
        now = utcnow()
        rows = [
            {
                "model_id": model.id,
                "version_id": None if keys[i].version is None else versions[keys[i].version or ""],
                "name": keys[i].name,
                "segment": dict(keys[i].segment),
                "key": hashes[i],
                "created_at": now,
            }
            for i in missing
        ]
        # A concurrent batch may create the same series: its row wins, and is read back below.
        session.execute(_insert_ignore(session.get_bind().dialect.name), rows)
        found = lookup()
    return [found[h] for h in hashes], {found[hashes[i]] for i in missing}


# -- ingestion --------------------------------------------------------------------------------------


def ingest(session: Session, actor: Principal, model_ref: str | int, batch: MetricBatch) -> IngestResult:
    """Store a batch of points (see the module docstring for duplicates and conflicts)."""
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_WRITE, scope_of(model))
    return ingest_columns(session, actor, model, columns_of(batch, now=utcnow()))


_NAME = re.compile(NAME_PATTERN)
_LABEL = re.compile(LABEL_PATTERN)


def _check_keys(keys: list[SeriesKey]) -> None:
    """Names and labels as the API's schema requires them (file imports arrive without that check)."""
    for key in keys:
        if not (0 < len(key.name) <= 200 and _NAME.match(key.name)):
            raise InvalidInput(
                f"{key.name!r} is not a metric name: letters, digits, '_', '.', '-', '/' (at most 200 characters)."
            )
        for label, value in key.segment:
            if not (len(label) <= 64 and _LABEL.match(label)) or len(value) > 200:
                raise InvalidInput(
                    f"The segment label {label}={value!r} is not valid (a name, and at most 200 characters)."
                )
        if key.version is not None and len(key.version) > 64:
            raise InvalidInput(f"{key.version!r} is not a version (at most 64 characters).")


def ingest_columns(session: Session, actor: Principal, model_ref: str | int | ModelRow, data: Columns) -> IngestResult:
    """Store points given as columns (the request path above, and file imports)."""
    model = model_ref if isinstance(model_ref, ModelRow) else get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_WRITE, scope_of(model))
    n = len(data.t)
    if not 1 <= n <= MAX_BATCH:
        raise InvalidInput(f"A batch holds 1 to {MAX_BATCH:,} points, not {n:,}.")
    position = data.positions if data.positions is not None else np.arange(n)
    early, late = data.t < 0, data.t > _LATEST
    if early.any() or late.any():
        first = int(np.argmax(early | late))
        raise InvalidInput(
            f"Point {int(position[first])} has a time outside 1970-01-01 to 9999-12-31 (UTC).",
            details={"index": int(position[first])},
        )
    if not np.isfinite(data.values).all():
        first = int(np.argmax(~np.isfinite(data.values)))
        raise InvalidInput(
            f"Point {int(position[first])} has a value that is not a finite number.",
            details={"index": int(position[first])},
        )
    _check_keys(data.keys)
    versions = _version_ids(session, model, {k.version for k in data.keys if k.version is not None})
    ids, created = _series_ids(session, model, data.keys, versions)
    sid = np.asarray(ids, dtype=np.int64)[data.codes]
    order = np.lexsort((data.t, sid))
    sid, t, values, position = sid[order], data.t[order], data.values[order], position[order]
    _refuse_repeats(data, order, sid, t, position)
    keep, duplicates = _not_stored(session, data, sorted(set(ids) - created), sid, t, values, order)
    if keep is not None:
        sid, t, values = sid[keep], t[keep], values[keep]
    if len(t):
        store.WRITER.write(session, sid, t, values)
        mark_ingested(session, model.id)  # monitors that run on ingestion are due now
    names = sorted({k.name for k in data.keys})
    audit.record(
        session,
        actor,
        "metrics.ingest",
        resource_type=RESOURCE,
        resource_id=model.id,
        details={
            "received": n,
            "stored": len(t),
            "duplicates": duplicates,
            "series": len(data.keys),
            "new_series": len(created),
            "names": names[:50],
            "versions": sorted(versions),
            "first": to_datetime(int(data.t.min())).isoformat(),
            "last": to_datetime(int(data.t.max())).isoformat(),
        },
    )
    return IngestResult(
        model=model.name,
        received=n,
        stored=len(t),
        duplicates=duplicates,
        series=len(data.keys),
        new_series=len(created),
    )


def _point_names(data: Columns, original: I64, t: I64) -> list[str]:
    return [
        f"{_describe(data.keys[int(data.codes[i])])} at {to_datetime(int(m)).isoformat()}"
        for i, m in zip(original, t, strict=True)
    ]


def _refuse_repeats(data: Columns, order: I64, sid: I64, t: I64, position: I64) -> None:
    repeated = np.flatnonzero((sid[1:] == sid[:-1]) & (t[1:] == t[:-1])) + 1
    if len(repeated):
        described = _point_names(data, order[repeated], t[repeated])
        raise InvalidInput(
            f"A point may appear once per batch (same series and time to the millisecond): {named_list(described)}.",
            details={"indices": sorted(int(i) for i in position[repeated])[:_NAMED]},
        )


def _not_stored(
    session: Session,
    data: Columns,
    existing: list[int],
    sid: I64,
    t: I64,
    values: F64,
    order: I64,
) -> tuple[np.ndarray[Any, np.dtype[np.bool_]] | None, int]:
    """Which points are new (None: all); refuses a batch that changes a stored value.

    Only series that existed before the batch are looked up, and of those only the ones the batch
    does not simply extend (its first point after their last stored one): the usual batch costs
    one index probe per series.
    """
    if not existing:
        return None, 0
    latest = store.latest_times(session, existing)
    starts = np.flatnonzero(np.concatenate(([True], sid[1:] != sid[:-1])))
    ends = np.append(starts[1:], len(sid))
    keep = np.ones(len(t), dtype=bool)
    conflicts: list[I64] = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):  # one pass per series, not per point
        last = latest.get(int(sid[start]))
        if last is None or t[start] > last:
            continue
        stored = store.stored_at(session, int(sid[start]), t[start:end].tolist())
        if not stored:
            continue
        stored_t = np.fromiter(stored.keys(), dtype=np.int64, count=len(stored))
        stored_v = np.fromiter(stored.values(), dtype=np.float64, count=len(stored))
        rank = np.argsort(stored_t)
        stored_t, stored_v = stored_t[rank], stored_v[rank]
        hit = np.flatnonzero(np.isin(t[start:end], stored_t)) + start
        keep[hit] = False
        differs = stored_v[np.searchsorted(stored_t, t[hit])] != values[hit]
        conflicts.append(hit[differs])
    clashing = np.concatenate(conflicts) if conflicts else np.empty(0, dtype=np.int64)
    if len(clashing):
        described = _point_names(data, order[clashing], t[clashing])
        raise Conflict(
            f"Different values are already stored for {named_list(described)}; nothing in this batch was stored. "
            "A point (series and time) holds one value; a point re-sent exactly as stored is skipped.",
            details={"conflicts": len(clashing)},
        )
    duplicates = int((~keep).sum())
    return (keep if duplicates else None), duplicates


# -- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesQuery:
    """Which series of a model, over which range. ``segment``: labels a series must carry (``{}``:
    series without labels only; None: any)."""

    name: str | None = None
    version: str | None = None
    segment: dict[str, str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    resolution: Resolution | None = None


@dataclass(frozen=True)
class _Selected:
    row: MetricSeriesRow
    version: str | None


def parse_segment(values: Sequence[str]) -> dict[str, str] | None:
    """``["region:eu", "channel:web"]`` -> labels; ``[""]`` -> ``{}`` (no labels); ``[]`` -> None (any)."""
    if not values:
        return None
    labels: dict[str, str] = {}
    for item in values:
        if item == "":
            continue
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise InvalidInput(f"A segment filter is LABEL:VALUE (e.g. region:eu), not {item!r}.")
        labels[key] = value
    return labels


def _select(session: Session, model: ModelRow, query: SeriesQuery) -> list[_Selected]:
    stmt = (
        select(MetricSeriesRow, ModelVersionRow.version)
        .outerjoin(ModelVersionRow, ModelVersionRow.id == MetricSeriesRow.version_id)
        .where(MetricSeriesRow.model_id == model.id)
        .order_by(MetricSeriesRow.name, MetricSeriesRow.version_id, MetricSeriesRow.id)
    )
    if query.name is not None:
        stmt = stmt.where(MetricSeriesRow.name == query.name)
    if query.version is not None:
        version = session.scalar(
            select(ModelVersionRow.id).where(
                ModelVersionRow.model_id == model.id, ModelVersionRow.version == query.version
            )
        )
        if version is None:
            raise NotFound(f"Model {model.name!r} has no version {query.version!r}.")
        stmt = stmt.where(MetricSeriesRow.version_id == version)
    found = [_Selected(row, version) for row, version in session.execute(stmt)]
    wanted = query.segment
    if wanted is not None:
        # Labels are few and series per model hundreds: filtered here, portably, not in JSON SQL.
        if wanted:
            found = [s for s in found if all(s.row.segment.get(k) == v for k, v in wanted.items())]
        else:
            found = [s for s in found if not s.row.segment]
    if len(found) > MAX_SERIES:
        raise InvalidInput(
            f"{len(found)} series match; at most {MAX_SERIES} are read at once. Narrow the query with name, "
            "version or segment."
        )
    return found


def _bounds(query: SeriesQuery) -> tuple[int | None, int | None]:
    since = None if query.since is None else max(0, to_millis(query.since))
    until = None if query.until is None else to_millis(query.until)
    if since is not None and until is not None and since >= until:
        raise InvalidInput("`since` must be before `until`.")
    return since, until


_ORDER: tuple[Resolution, ...] = ("raw", "1m", "1h", "1d")


def _estimate(sizes: store.Sizes | None, resolution: Resolution) -> int:
    if sizes is None:
        return 0
    return {"raw": sizes.raw, "1m": sizes.minutes, "1h": sizes.hours, "1d": sizes.days}[resolution]


def choose_resolution(sizes: Sequence[store.Sizes | None], budget: int) -> Resolution:
    """The finest resolution whose points, summed over ``sizes``, stay within ``budget`` (else days)."""
    for resolution in _ORDER:
        if sum(_estimate(s, resolution) for s in sizes) <= budget:
            return resolution
    return "1d"


def _fetch(
    session: Session, ids: list[int], resolution: Resolution, since: int | None, until: int | None
) -> dict[int, store.Buckets]:
    if not ids:
        return {}
    if resolution == "raw":
        return store.raw_points(session, ids, since, until)
    return store.bucketed(session, ids, BUCKET_MS[resolution], since, until)


def read_series(session: Session, actor: Principal, model_ref: str | int, query: SeriesQuery) -> SeriesResponse:
    """The matching series over the range, raw or downsampled (mean, min, max, count per bucket).

    Without a resolution the finest one that keeps the answer under ``AUTO_POINTS`` points in all
    is chosen (days at the coarsest). An explicit one may return at most ``MAX_POINTS``.
    """
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_READ, scope_of(model))
    selected = _select(session, model, query)
    since, until = _bounds(query)
    ids = [s.row.id for s in selected]
    sizes = store.sizes(session, ids, since, until) if ids else {}
    estimates = [sizes.get(i) for i in ids]
    resolution = query.resolution or choose_resolution(estimates, AUTO_POINTS)
    expected = sum(_estimate(s, resolution) for s in estimates)
    if expected > MAX_POINTS:
        raise InvalidInput(
            f"About {expected:,} points at resolution {resolution}; at most {MAX_POINTS:,} are returned at once. "
            "Ask for a coarser resolution, a shorter range or fewer series (or leave the resolution out)."
        )
    data = _fetch(session, ids, resolution, since, until)
    series = []
    for s in selected:
        found = data.get(s.row.id)
        series.append(_series_data(s, found))
    return SeriesResponse(
        model=model.name, resolution=resolution, since=_aware(query.since), until=_aware(query.until), series=series
    )


def _series_data(selected: _Selected, found: store.Buckets | None) -> SeriesData:
    row = selected.row
    if found is None:
        return SeriesData(name=row.name, version=selected.version, segment=dict(row.segment), time=[], value=[])
    return SeriesData(
        name=row.name,
        version=selected.version,
        segment=dict(row.segment),
        time=_times(found.t.tolist()),
        value=found.value.tolist(),
        min=None if found.low is None else found.low.tolist(),
        max=None if found.high is None else found.high.tolist(),
        count=None if found.count is None else found.count.tolist(),
    )


# -- thresholds -------------------------------------------------------------------------------------


def parse_threshold(text: str) -> ThresholdIn:
    """``accuracy:>=:0.9`` -> a threshold (the metric must satisfy ``value op bound``)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidInput(
            f"A threshold is NAME:OP:VALUE with OP one of <, <=, >, >= (e.g. accuracy:>=:0.9), not {text!r}."
        )
    name, op, value = (p.strip() for p in parts)
    try:
        return ThresholdIn.model_validate({"name": name, "op": op, "value": float(value)})
    except ValueError as exc:  # pydantic's ValidationError included
        raise InvalidInput(
            f"A threshold is NAME:OP:VALUE with OP one of <, <=, >, >= and a finite VALUE, not {text!r}."
        ) from exc


def _stored_thresholds(session: Session, model: ModelRow) -> list[ThresholdRead]:
    rows = session.scalars(
        select(MetricThresholdRow)
        .where(MetricThresholdRow.model_id == model.id)
        .order_by(MetricThresholdRow.name, MetricThresholdRow.op)
    )
    return [ThresholdRead(name=r.name, op=r.op, value=r.bound, source="stored") for r in rows]


def list_thresholds(session: Session, actor: Principal, model_ref: str | int) -> list[ThresholdRead]:
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_READ, scope_of(model))
    return _stored_thresholds(session, model)


def set_thresholds(session: Session, actor: Principal, model_ref: str | int, data: ThresholdSet) -> list[ThresholdRead]:
    """Replace the model's stored thresholds (an empty list removes them all)."""
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_WRITE, scope_of(model))
    seen: set[tuple[str, str]] = set()
    for item in data.thresholds:
        if (item.name, item.op) in seen:
            raise InvalidInput(f"The threshold {item.name} {item.op} is given twice; give each once.")
        seen.add((item.name, item.op))
    before = _stored_thresholds(session, model)
    session.execute(delete(MetricThresholdRow).where(MetricThresholdRow.model_id == model.id))
    session.add_all(
        MetricThresholdRow(model_id=model.id, name=t.name, op=t.op, bound=t.value, created_by=actor.actor)
        for t in data.thresholds
    )
    session.flush()
    audit.record(
        session,
        actor,
        "metrics.thresholds",
        resource_type=RESOURCE,
        resource_id=model.id,
        details={
            "before": [f"{t.name} {t.op} {t.value:g}" for t in before],
            "after": [f"{t.name} {t.op} {t.value:g}" for t in data.thresholds],
        },
    )
    return _stored_thresholds(session, model)


# -- reports ----------------------------------------------------------------------------------------


def _trend_read(analysis: Any) -> TrendRead:
    t = analysis.trend
    return TrendRead(
        n=t.n,
        slope_per_day=t.slope,
        low=t.low,
        high=t.high,
        confidence=t.confidence,
        p_value=t.p_value,
        direction=t.direction,
        reason=t.reason,
    )


def _series_report(
    selected: _Selected,
    found: store.Buckets | None,
    resolution: Resolution,
    thresholds: list[ThresholdRead],
    method: Any,
) -> SeriesReport:
    row = selected.row
    t = found.t if found is not None else np.empty(0, dtype=np.int64)
    values = found.value if found is not None else np.empty(0)
    analysis = analyze(values, t.astype("datetime64[ms]"), method=method)
    times = _times(t.tolist())
    anomalies: list[AnomalyRead] = []
    count = 0
    if analysis.anomalies is not None:
        count = len(analysis.anomalies)
        anomalies = [
            AnomalyRead(
                time=times[a.index],
                value=a.value,
                method=a.method,
                score=a.score,
                expected_low=a.expected_low,
                expected_high=a.expected_high,
                reason=a.reason,
            )
            for a in analysis.anomalies.records(limit=LISTED)
        ]
    judged = []
    for threshold in thresholds:
        if threshold.name != row.name:
            continue
        runs = breaches(
            values,
            op=threshold.op,
            bound=threshold.value,
            low=None if found is None else found.low,
            high=None if found is None else found.high,
        )
        judged.append(
            ThresholdBreaches(
                threshold=f"{threshold.name} {threshold.op} {threshold.value:g}",
                breached=bool(runs),
                points=sum(r.points for r in runs),
                episodes=[
                    BreachRead(start=times[r.start], end=times[r.end], points=r.points, worst=r.worst)
                    for r in runs[-LISTED:]
                ],
            )
        )
    return SeriesReport(
        name=row.name,
        version=selected.version,
        segment=dict(row.segment),
        resolution=resolution,
        points=len(values),
        first=times[0] if times else None,
        last=times[-1] if times else None,
        summary=None
        if not len(values)
        else Summary(
            mean=float(values.mean()),
            min=float(values.min() if found is None or found.low is None else found.low.min()),
            max=float(values.max() if found is None or found.high is None else found.high.max()),
            last=float(values[-1]),
        ),
        trend=_trend_read(analysis),
        season=None
        if analysis.season is None
        else SeasonRead(period=analysis.season.period, strength=analysis.season.strength),
        change_points=[
            ChangePointRead(time=times[c.index], before_mean=c.before_mean, after_mean=c.after_mean, shift=c.shift)
            for c in analysis.change_points.points
        ],
        anomaly_count=count,
        anomalies=anomalies,
        breaches=judged,
        notes=list(analysis.notes),
    )


def report(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    query: SeriesQuery,
    *,
    thresholds: Sequence[ThresholdIn] = (),
    method: Any = "mad",
) -> MetricsReport:
    """Per series: summary, trend, cycle, change points, anomalies and threshold breaches.

    Each series is analysed at the finest resolution that keeps it under ``REPORT_POINTS``
    points (or the one asked for); at a bucketed resolution the analysis reads bucket means, and
    breaches read bucket minima and maxima. Thresholds: the model's stored ones, plus ``thresholds``.
    """
    model = get_model_row(session, model_ref)
    authorize(actor, P.MONITOR_READ, scope_of(model))
    if method not in ("mad", "ewma"):
        raise InvalidInput(f"The anomaly method is mad or ewma, not {method!r}.")
    selected = _select(session, model, query)
    since, until = _bounds(query)
    judged = _stored_thresholds(session, model) + [
        ThresholdRead(name=t.name, op=t.op, value=t.value, source="query") for t in thresholds
    ]
    ids = [s.row.id for s in selected]
    sizes = store.sizes(session, ids, since, until) if ids else {}
    by_resolution: dict[Resolution, list[int]] = {}
    chosen: dict[int, Resolution] = {}
    for sid in ids:
        resolution = query.resolution or choose_resolution([sizes.get(sid)], REPORT_POINTS)
        if _estimate(sizes.get(sid), resolution) > MAX_POINTS:
            raise InvalidInput(
                f"A series holds about {_estimate(sizes.get(sid), resolution):,} points at resolution {resolution}; "
                f"a report analyses at most {MAX_POINTS:,} per series. Ask for a coarser resolution."
            )
        chosen[sid] = resolution
        by_resolution.setdefault(resolution, []).append(sid)
    data: dict[int, store.Buckets] = {}
    for resolution, group in by_resolution.items():
        data.update(_fetch(session, group, resolution, since, until))
    return MetricsReport(
        model=model.name,
        since=_aware(query.since),
        until=_aware(query.until),
        generated_at=utcnow(),
        method=method,
        thresholds=judged,
        series=[_series_report(s, data.get(s.row.id), chosen[s.row.id], judged, method) for s in selected],
    )
