"""Evidence services: record (immutable), list and read evidence on a model version.

Fairness assessments arrive as sufficient statistics; the metrics are derived here, by Charter's
own code, with the thresholds of the call or the server's defaults.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from charter import __version__
from charter.audit import service as audit
from charter.errors import InvalidInput, NotFound
from charter.evidence.models import EvidenceRow
from charter.evidence.schemas import DecisionFairnessCreate, EvidenceRead, FairnessEvidenceCreate
from charter.inventory import service as inventory
from charter.inventory.models import ModelVersionRow
from charter.security.permissions import Permission
from charter.security.principal import Principal, authorize

if TYPE_CHECKING:  # NumPy and DuckDB stay out of the import (see charter.cli.models)
    from charter.compute.fairness.stats import GroupStats
    from charter.decisions.parquet import ParquetLog

P = Permission
MAX_GROUPS = 10_000
MAX_BINS = 10_000


def _read(row: EvidenceRow, version: ModelVersionRow, *, body: bool) -> EvidenceRead:
    return EvidenceRead(
        id=row.id,
        model=version.model.name,
        version=version.version,
        kind=row.kind,
        title=row.title,
        summary=dict(row.summary),
        passed=row.passed,
        data_fingerprint=row.data_fingerprint,
        engine=row.engine,
        library_version=row.library_version,
        sha256=row.sha256,
        created_at=row.created_at,
        created_by=row.created_by,
        body=dict(row.body) if body else None,
    )


def canonical_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record(
    session: Session,
    actor: Principal,
    version: ModelVersionRow,
    *,
    kind: str,
    title: str,
    summary: dict[str, Any],
    body: dict[str, Any],
    passed: bool | None,
    data_fingerprint: str | None,
    engine: str | None,
) -> EvidenceRead:
    """Append evidence to a version (the caller has authorized ``evidence:write`` in the model's team)."""
    row = EvidenceRow(
        version_id=version.id,
        kind=kind,
        title=title,
        summary=summary,
        body=body,
        passed=passed,
        data_fingerprint=data_fingerprint,
        engine=engine,
        library_version=__version__,
        sha256=canonical_sha256(body),
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "evidence.record",
        resource_type=inventory.RESOURCE,
        resource_id=version.model_id,
        details={
            "version": version.version,
            "evidence": row.id,
            "kind": kind,
            "passed": passed,
            "sha256": row.sha256,
            "data_fingerprint": data_fingerprint,
        },
    )
    from charter.risk.service import reassess  # late: risk builds on evidence

    reassess(session, [version.id], "evidence", actor=actor)
    return _read(row, version, body=True)


def list_evidence(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    version: str,
    *,
    kind: str | None = None,
    bodies: bool = False,
) -> list[EvidenceRead]:
    """Newest first; the full results only with ``bodies`` (otherwise they are not even read)."""
    row = inventory.version_for(session, actor, model_ref, version, P.MODEL_READ)
    stmt = select(EvidenceRow).where(EvidenceRow.version_id == row.id).order_by(EvidenceRow.id.desc())
    if not bodies:
        stmt = stmt.options(defer(EvidenceRow.body))
    if kind:
        stmt = stmt.where(EvidenceRow.kind == kind)
    return [_read(e, row, body=bodies) for e in session.scalars(stmt)]


def read_evidence(
    session: Session, actor: Principal, model_ref: str | int, version: str, evidence_id: int
) -> EvidenceRead:
    row = inventory.version_for(session, actor, model_ref, version, P.MODEL_READ)
    found = session.get(EvidenceRow, evidence_id)
    if found is None or found.version_id != row.id:
        raise NotFound(f"Version {row.version} of {row.model.name} has no evidence {evidence_id}.")
    return _read(found, row, body=True)


def record_fairness(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    version: str,
    data: FairnessEvidenceCreate,
    *,
    default_thresholds: dict[str, tuple[str, float]],
    default_min_group_size: int,
) -> EvidenceRead:
    """Derive the fairness metrics from the statistics sent, judge them, and store them as evidence."""
    from charter.compute.fairness import GroupStats, fairness_metrics

    row = inventory.version_for(session, actor, model_ref, version, P.EVIDENCE_WRITE)
    try:
        stats = GroupStats.from_dict(data.statistics)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The statistics are not a valid GroupStats: {exc}") from exc
    # The bootstrap costs groups x bins x resamples: bound what one request may ask for.
    if len(stats.groups) > MAX_GROUPS or (stats.bins or 0) > MAX_BINS:
        raise InvalidInput(
            f"The statistics have {len(stats.groups):,} groups and {stats.bins or 0:,} score bins; "
            f"at most {MAX_GROUPS:,} groups and {MAX_BINS:,} bins are accepted."
        )
    thresholds = dict(data.thresholds) if data.thresholds is not None else dict(default_thresholds)
    result = fairness_metrics(
        stats,
        mode=data.mode,
        reference_group=tuple(data.reference_group) if data.reference_group is not None else None,
        min_group_size=data.min_group_size or default_min_group_size,
        thresholds=thresholds,
        confidence=data.confidence,
        n_resamples=data.n_resamples,
        seed=data.seed,
    )
    body = result.to_dict()
    if data.data_description:
        body["data_description"] = data.data_description
    summary = fairness_summary(body)
    title = data.title or f"Fairness by {' x '.join(stats.features)}"
    return record(
        session,
        actor,
        row,
        kind="fairness",
        title=title,
        summary=summary,
        body=body,
        passed=summary.get("passed"),
        data_fingerprint=data.data_fingerprint,
        engine=data.engine,
    )


def fairness_summary(body: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a fairness result: what cards, policies and lists show."""
    from charter.compute.fairness.report import summary_of

    return summary_of(body)


def fairness_from_decisions(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    version: str,
    data: DecisionFairnessCreate,
    *,
    default_thresholds: dict[str, tuple[str, float]],
    default_min_group_size: int,
    parquet: ParquetLog | None = None,
) -> EvidenceRead:
    """Assess the decisions a version logged (those whose outcome is known) and store it as evidence.

    Reading sensitive attributes needs ``fairness:read`` in the model's team, as in the log itself;
    the decisions read are counted in the evidence and the audit trail, never copied into them.
    """
    row = inventory.version_for(session, actor, model_ref, version, P.EVIDENCE_WRITE)
    authorize(actor, P.FAIRNESS_READ, inventory.scope_of(row.model))
    stats = decision_statistics(session, row.model_id, row.id, data, parquet=parquet)
    engine = "numpy" if parquet is None else "duckdb"
    count = int(stats.rows.sum()) if stats is not None else 0
    if stats is None or count == 0:
        raise InvalidInput(
            f"Version {row.version} of {row.model.name} has no logged decision with a known outcome in that window."
        )
    window = f"{data.since or 'the start'} to {data.until or 'now'}"
    request = FairnessEvidenceCreate(
        statistics=stats.to_dict(),
        title=data.title or f"Logged decisions by {' x '.join(data.sensitive_features)}",
        mode=data.mode,
        reference_group=data.reference_group,
        thresholds=data.thresholds,
        min_group_size=data.min_group_size,
        n_resamples=data.n_resamples,
        data_description=f"{count:,} logged decisions with outcomes, {window}",
        engine=engine,
    )
    return record_fairness(
        session,
        actor,
        row.model_id,
        row.version,
        request,
        default_thresholds=default_thresholds,
        default_min_group_size=default_min_group_size,
    )


def decision_statistics(
    session: Session,
    model_id: int,
    version_id: int,
    data: DecisionFairnessCreate,
    *,
    parquet: ParquetLog | None = None,
) -> GroupStats | None:
    """The fairness statistics of a version's logged decisions with outcomes in ``data``'s window
    (None: there are none). No authorization: callers check ``fairness:read`` (or are the system)."""
    positive_outcome = data.positive_outcome if data.positive_outcome is not None else data.positive_output
    if parquet is None:
        return _logged_statistics(session, version_id, data, positive_outcome)
    return _parquet_statistics(parquet, model_id, version_id, data, positive_outcome)


def _logged_statistics(
    session: Session, version_id: int, data: DecisionFairnessCreate, positive_outcome: Any
) -> GroupStats | None:
    """The statistics of a version's decisions with outcomes, read from the database (None: none)."""
    from charter.compute.fairness import compute_statistics
    from charter.decisions.models import DecisionAttributesRow, DecisionRow

    stmt = (
        select(DecisionRow.output, DecisionRow.outcome, DecisionAttributesRow.attributes)
        .join(DecisionAttributesRow, DecisionAttributesRow.decision_id == DecisionRow.id, isouter=True)
        .where(DecisionRow.version_id == version_id, DecisionRow.outcome_at.is_not(None))
    )
    if data.since is not None:
        stmt = stmt.where(DecisionRow.decided_at >= data.since)
    if data.until is not None:
        stmt = stmt.where(DecisionRow.decided_at < data.until)
    rows = session.execute(stmt).all()
    if not rows:
        return None
    columns: dict[str, list[Any]] = {f: [] for f in data.sensitive_features}
    for _output, _outcome, attributes in rows:
        for feature in data.sensitive_features:
            columns[feature].append((attributes or {}).get(feature))
    return compute_statistics(
        y_true=[outcome == positive_outcome for _o, outcome, _a in rows],
        y_pred=[output == data.positive_output for output, _o, _a in rows],
        sensitive_features=columns,
    )


def _parquet_statistics(
    parquet: ParquetLog, model_id: int, version_id: int, data: DecisionFairnessCreate, positive_outcome: Any
) -> GroupStats | None:
    """The same, aggregated by DuckDB over the Parquet decision log (outputs compared as JSON text)."""
    from charter.compute.fairness import SqlQuery, compute_statistics
    from charter.decisions.models import dumps

    query = parquet.fairness_query(
        model_id,
        version_id,
        features=data.sensitive_features,
        positive_output=dumps(data.positive_output).decode(),
        positive_outcome=dumps(positive_outcome).decode(),
        since=data.since,
        until=data.until,
    )
    if query is None:
        return None
    sql, params = query
    return compute_statistics(
        SqlQuery(sql, params=params),
        y_true="y_true",
        y_pred="y_pred",
        sensitive_features=list(data.sensitive_features),
        engine="duckdb",
    )
