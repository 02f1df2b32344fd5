"""Inventory services: datasets, models, versions, the lifecycle, diffs and history.

Each function authorizes the acting principal in the model's team scope, changes rows, and records
the audit event in the same transaction. Services flush; the caller commits. Every event about a
model, its versions or its artifacts names the model as its resource (``model``, id), so the
audit trail's index on the resource gives the model's history in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.audit.models import AuditEventRow, event_field
from charter.errors import CharterError, Conflict, InvalidInput, NotFound, PermissionDenied, named_list
from charter.evidence.models import EvidenceRow
from charter.identity.models import TeamRow
from charter.identity.service import get_team, team_names
from charter.inventory import cards, lifecycle
from charter.inventory.models import (
    ArtifactRow,
    DatasetRow,
    ModelRow,
    ModelVersionRow,
    StageTransitionRow,
    VersionDatasetRow,
)
from charter.inventory.schemas import (
    ArtifactRead,
    DatasetCreate,
    DatasetRead,
    FieldChange,
    HistoryEntry,
    LineageRead,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    Promotion,
    TransitionRead,
    VersionCreate,
    VersionDiff,
    VersionRead,
)
from charter.pagination import Page, clamp_limit, parse_int_cursor
from charter.security.permissions import Permission
from charter.security.principal import Principal, Scope, authorize

if TYPE_CHECKING:
    from charter.inventory.artifacts import Protection

P = Permission
RESOURCE = "model"


def _now() -> datetime:
    return datetime.now(UTC)


def scope_of(model: ModelRow) -> Scope:
    return Scope.team(model.team_id)


def _visible(actor: Principal, permission: Permission, column: Any) -> Any:
    """A WHERE clause limiting rows to the teams where ``actor`` holds ``permission`` (None: no limit)."""
    teams = actor.team_ids_with(permission)
    if teams is None:
        return None
    return column.in_(teams)


# -- datasets ---------------------------------------------------------------------------------------


def _dataset_read(row: DatasetRow, team: str) -> DatasetRead:
    return DatasetRead(
        id=row.id,
        name=row.name,
        team=team,
        description=row.description,
        location=row.location,
        classification=row.classification,
        legal_basis=row.legal_basis,
        retention_days=row.retention_days,
        consent_required=row.consent_required,
        tags=list(row.tags),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def register_dataset(session: Session, actor: Principal, data: DatasetCreate) -> DatasetRead:
    team = get_team(session, data.team)
    authorize(actor, P.DATASET_WRITE, Scope.team(team.id))
    if data.classification in ("personal", "special_category") and data.legal_basis is None:
        raise InvalidInput(
            f"A dataset classified {data.classification!r} needs a `legal_basis` (GDPR Art. 6), "
            "e.g. consent, contract or legitimate_interests."
        )
    if session.scalars(select(DatasetRow.id).where(DatasetRow.name == data.name)).first() is not None:
        raise Conflict(f"A dataset named {data.name!r} already exists.")
    row = DatasetRow(
        name=data.name,
        team_id=team.id,
        description=data.description,
        location=data.location,
        classification=data.classification,
        legal_basis=data.legal_basis,
        retention_days=data.retention_days,
        consent_required=data.consent_required,
        tags=data.tags,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "dataset.register",
        resource_type="dataset",
        resource_id=row.id,
        details={"name": row.name, "team": team.name, "classification": row.classification},
    )
    return _dataset_read(row, team.name)


def get_dataset_row(session: Session, ref: str) -> DatasetRow:
    stmt = select(DatasetRow)
    stmt = stmt.where(DatasetRow.id == int(ref)) if ref.isdigit() else stmt.where(DatasetRow.name == ref)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"No dataset {ref!r}.")
    return row


def read_dataset(session: Session, actor: Principal, ref: str) -> DatasetRead:
    row = get_dataset_row(session, ref)
    authorize(actor, P.DATASET_READ, Scope.team(row.team_id))
    return _dataset_read(row, team_names(session, {row.team_id})[row.team_id])


def list_datasets(
    session: Session,
    actor: Principal,
    *,
    query: str | None = None,
    team: str | None = None,
    classification: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[DatasetRead]:
    limit = clamp_limit(limit)
    stmt = select(DatasetRow).order_by(DatasetRow.id).limit(limit + 1)
    where = _visible(actor, P.DATASET_READ, DatasetRow.team_id)
    if where is not None:
        stmt = stmt.where(where)
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(or_(DatasetRow.name.like(pattern), func.lower(DatasetRow.description).like(pattern)))
    if team:
        stmt = stmt.where(DatasetRow.team_id == get_team(session, team).id)
    if classification:
        stmt = stmt.where(DatasetRow.classification == classification)
    after = parse_int_cursor(cursor)
    if after is not None:
        stmt = stmt.where(DatasetRow.id > after)
    rows = list(session.scalars(stmt))
    names = team_names(session, {r.team_id for r in rows})
    items = [_dataset_read(r, names[r.team_id]) for r in rows[:limit]]
    return Page(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def dataset_usage(session: Session, actor: Principal, ref: str) -> list[tuple[str, str, str, str]]:
    """(model, version, stage, role) of every version the actor may read that uses the dataset."""
    dataset = get_dataset_row(session, ref)
    authorize(actor, P.DATASET_READ, Scope.team(dataset.team_id))
    stmt = (
        select(ModelRow.name, ModelVersionRow.version, ModelVersionRow.stage, VersionDatasetRow.role)
        .join(ModelVersionRow, ModelVersionRow.id == VersionDatasetRow.version_id)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .where(VersionDatasetRow.dataset_id == dataset.id)
        .order_by(ModelRow.name, ModelVersionRow.id)
    )
    where = _visible(actor, P.MODEL_READ, ModelRow.team_id)
    if where is not None:
        stmt = stmt.where(where)
    return [(m, v, s, r) for m, v, s, r in session.execute(stmt)]


# -- models -----------------------------------------------------------------------------------------


def model_read(row: ModelRow, team: str, latest: ModelVersionRow | None = None, count: int = 0) -> ModelRead:
    return ModelRead(
        id=row.id,
        name=row.name,
        team=team,
        description=row.description,
        purpose=row.purpose,
        intended_use=row.intended_use,
        out_of_scope_uses=list(row.out_of_scope_uses),
        domain=row.domain,
        deployment_context=row.deployment_context,
        data_sources=list(row.data_sources),
        regulations=list(row.regulations),
        tags=list(row.tags),
        risk_tier=row.risk_tier,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        latest_version=latest.version if latest else None,
        latest_stage=latest.stage if latest else None,
        version_count=count,
    )


def get_model_row(session: Session, ref: str | int) -> ModelRow:
    """A model by id or name (names start with a letter, so a number is always an id)."""
    ref = str(ref)
    stmt = select(ModelRow)
    stmt = stmt.where(ModelRow.id == int(ref)) if ref.isdigit() else stmt.where(ModelRow.name == ref)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"No model {ref!r}.")
    return row


def _model_for(session: Session, actor: Principal, ref: str | int, permission: Permission) -> ModelRow:
    row = get_model_row(session, ref)
    authorize(actor, permission, scope_of(row))
    return row


def register_model(session: Session, actor: Principal, data: ModelCreate) -> ModelRead:
    team = get_team(session, data.team)
    authorize(actor, P.MODEL_WRITE, Scope.team(team.id))
    if session.scalars(select(ModelRow.id).where(ModelRow.name == data.name)).first() is not None:
        raise Conflict(f"A model named {data.name!r} already exists.")
    fields = data.model_dump(exclude={"name", "team"})
    row = ModelRow(name=data.name, team_id=team.id, created_by=actor.actor, **fields)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "model.register",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={"name": row.name, "team": team.name, "domain": row.domain},
    )
    return model_read(row, team.name)


def _latest(session: Session, model_ids: Iterable[int]) -> dict[int, tuple[ModelVersionRow, int]]:
    ids = list(model_ids)
    if not ids:
        return {}
    newest = (
        select(ModelVersionRow.model_id, func.max(ModelVersionRow.id).label("vid"), func.count().label("n"))
        .where(ModelVersionRow.model_id.in_(ids))
        .group_by(ModelVersionRow.model_id)
        .subquery()
    )
    rows = session.execute(select(ModelVersionRow, newest.c.n).join(newest, ModelVersionRow.id == newest.c.vid)).all()
    return {v.model_id: (v, n) for v, n in rows}


def read_model(session: Session, actor: Principal, ref: str | int) -> ModelRead:
    row = _model_for(session, actor, ref, P.MODEL_READ)
    latest = _latest(session, [row.id]).get(row.id)
    team = team_names(session, {row.team_id})[row.team_id]
    return model_read(row, team, *(latest or (None, 0)))


def list_models(
    session: Session,
    actor: Principal,
    *,
    query: str | None = None,
    team: str | None = None,
    stage: str | None = None,
    risk_tier: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[ModelRead]:
    """Models the actor may read, oldest first; filters combine with AND.

    ``stage`` matches models with at least one version in that stage.
    """
    limit = clamp_limit(limit)
    stmt = select(ModelRow).order_by(ModelRow.id).limit(limit + 1)
    where = _visible(actor, P.MODEL_READ, ModelRow.team_id)
    if where is not None:
        stmt = stmt.where(where)
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                ModelRow.name.like(pattern),
                func.lower(ModelRow.description).like(pattern),
                func.lower(ModelRow.purpose).like(pattern),
            )
        )
    if team:
        stmt = stmt.where(ModelRow.team_id == get_team(session, team).id)
    if stage:
        has_stage = select(ModelVersionRow.id).where(
            ModelVersionRow.model_id == ModelRow.id, ModelVersionRow.stage == stage
        )
        stmt = stmt.where(has_stage.exists())
    if risk_tier:
        stmt = stmt.where(ModelRow.risk_tier == risk_tier)
    if domain:
        stmt = stmt.where(ModelRow.domain == domain)
    after = parse_int_cursor(cursor)
    if after is not None:
        stmt = stmt.where(ModelRow.id > after)
    rows = list(session.scalars(stmt))
    if tag:
        # Tags are a JSON list; filtering in Python keeps the SQL portable. Pages may then be short,
        # but the cursor still moves on, so nothing is skipped.
        kept = [r for r in rows[:limit] if tag in r.tags]
    else:
        kept = rows[:limit]
    names = team_names(session, {r.team_id for r in kept})
    latest = _latest(session, (r.id for r in kept))
    items = [model_read(r, names[r.team_id], *(latest.get(r.id) or (None, 0))) for r in kept]
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def update_model(session: Session, actor: Principal, ref: str | int, data: ModelUpdate) -> ModelRead:
    row = _model_for(session, actor, ref, P.MODEL_WRITE)
    changes = data.model_dump(exclude_unset=True)
    before = {key: getattr(row, key) for key in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = _now()
    session.flush()
    audit.record(
        session,
        actor,
        "model.update",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={"changes": {k: {"old": before[k], "new": v} for k, v in changes.items() if before[k] != v}},
    )
    return read_model(session, actor, row.id)


def set_risk_tier(session: Session, actor: Principal, ref: str | int, tier: str | None) -> ModelRead:
    """The EU AI Act tier is a risk decision: the risk officer's, not the model owner's."""
    row = _model_for(session, actor, ref, P.MODEL_READ)
    authorize(actor, P.RISK_WRITE, scope_of(row))
    old, row.risk_tier = row.risk_tier, tier
    row.updated_at = _now()
    session.flush()
    audit.record(
        session,
        actor,
        "model.risk_tier",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={"old": old, "new": tier},
    )
    return read_model(session, actor, row.id)


# -- versions ---------------------------------------------------------------------------------------


def artifact_read(row: ArtifactRow) -> ArtifactRead:
    return ArtifactRead(
        path=row.path,
        digest=row.digest,
        size=row.size,
        format=row.format,
        scan_verdict=row.scan_verdict,
        scan_findings=list(row.scan_findings),
        encrypted=row.blob.wrapped_key is not None,
        key_id=row.blob.key_id,
        override_by=row.override_by,
        override_reason=row.override_reason,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def version_read(row: ModelVersionRow) -> VersionRead:
    return VersionRead(
        id=row.id,
        model=row.model.name,
        version=row.version,
        stage=row.stage,
        description=row.description,
        framework=row.framework,
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        metrics=dict(row.metrics),
        parameters=dict(row.parameters),
        card=dict(row.card),
        datasets=[
            LineageRead(dataset=d.dataset.name, role=d.role, classification=d.dataset.classification)
            for d in row.datasets
        ],
        artifacts=[artifact_read(a) for a in row.artifacts],
        transitions=[
            TransitionRead(from_stage=t.from_stage, to_stage=t.to_stage, actor=t.actor, comment=t.comment, at=t.at)
            for t in row.transitions
        ],
        signed=row.signature is not None,
        signature_key_id=row.signature_key_id,
        signed_at=row.signed_at,
        created_at=row.created_at,
        created_by=row.created_by,
        stage_changed_at=row.stage_changed_at,
    )


def get_version_row(session: Session, model: ModelRow, version: str) -> ModelVersionRow:
    row = session.scalars(
        select(ModelVersionRow).where(ModelVersionRow.model_id == model.id, ModelVersionRow.version == version)
    ).first()
    if row is None:
        raise NotFound(f"Model {model.name!r} has no version {version!r}.")
    return row


def version_ids(session: Session, model: ModelRow, names: set[str], *, before: str) -> dict[str, int]:
    """version name -> id for ``names`` of ``model``; a 404 naming the missing ones otherwise
    (``before``: what registering a version comes before, e.g. "logging its decisions")."""
    if not names:
        return {}
    stmt = select(ModelVersionRow.version, ModelVersionRow.id).where(
        ModelVersionRow.model_id == model.id, ModelVersionRow.version.in_(names)
    )
    found = {name: vid for name, vid in session.execute(stmt)}
    missing = sorted(names - set(found))
    if missing:
        raise NotFound(
            f"Model {model.name!r} has no version {named_list([repr(m) for m in missing])}; "
            f"register a version before {before}.",
            details={"versions": missing[:20]},
        )
    return found


def version_for(
    session: Session, actor: Principal, model_ref: str | int, version: str, permission: Permission
) -> ModelVersionRow:
    model = _model_for(session, actor, model_ref, permission)
    return get_version_row(session, model, version)


def create_version(session: Session, actor: Principal, model_ref: str | int, data: VersionCreate) -> VersionRead:
    model = _model_for(session, actor, model_ref, P.MODEL_WRITE)
    exists = select(ModelVersionRow.id).where(
        ModelVersionRow.model_id == model.id, ModelVersionRow.version == data.version
    )
    if session.scalars(exists).first() is not None:
        raise Conflict(f"Model {model.name!r} already has a version {data.version!r}; versions are immutable.")
    row = ModelVersionRow(
        model_id=model.id,
        version=data.version,
        description=data.description,
        framework=data.framework,
        input_schema=data.input_schema,
        output_schema=data.output_schema,
        metrics=data.metrics,
        parameters=data.parameters,
        card=_checked_card(data.card),
        created_by=actor.actor,
    )
    seen: set[tuple[int, str]] = set()
    for link in data.datasets:
        dataset = get_dataset_row(session, link.dataset)
        authorize(actor, P.DATASET_READ, Scope.team(dataset.team_id))
        if (dataset.id, link.role) not in seen:
            seen.add((dataset.id, link.role))
            row.datasets.append(VersionDatasetRow(dataset_id=dataset.id, role=link.role, dataset=dataset))
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request registered the same version first
        raise Conflict(f"Model {model.name!r} already has a version {data.version!r}.") from exc
    model.updated_at = _now()
    audit.record(
        session,
        actor,
        "version.create",
        resource_type=RESOURCE,
        resource_id=model.id,
        details={
            "version": row.version,
            "framework": row.framework,
            "datasets": [f"{link.dataset}:{link.role}" for link in data.datasets],
        },
    )
    from charter.policies import gates as policy_gates  # the policies read the inventory: imported late

    warnings = policy_gates.check_registration(session, actor, row)
    return version_read(row).model_copy(update={"warnings": warnings})


def _checked_card(fields: dict[str, Any]) -> dict[str, Any]:
    return cards.check_editable(fields)


def read_version(session: Session, actor: Principal, model_ref: str | int, version: str) -> VersionRead:
    return version_read(version_for(session, actor, model_ref, version, P.MODEL_READ))


def list_versions(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    *,
    stage: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[VersionRead]:
    """Newest first."""
    model = _model_for(session, actor, model_ref, P.MODEL_READ)
    limit = clamp_limit(limit)
    stmt = (
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model.id)
        .order_by(ModelVersionRow.id.desc())
        .limit(limit + 1)
    )
    if stage:
        stmt = stmt.where(ModelVersionRow.stage == stage)
    before = parse_int_cursor(cursor)
    if before is not None:
        stmt = stmt.where(ModelVersionRow.id < before)
    rows = list(session.scalars(stmt))
    items = [version_read(r) for r in rows[:limit]]
    return Page(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def update_card(
    session: Session, actor: Principal, model_ref: str | int, version: str, fields: dict[str, Any]
) -> VersionRead:
    """Edit the owner-written card fields. The card is documentation: it stays editable at every stage."""
    row = version_for(session, actor, model_ref, version, P.MODEL_WRITE)
    changes = _checked_card({k: v for k, v in fields.items() if v is not None})
    card = dict(row.card)
    removed = [k for k, v in fields.items() if v is None and k in card]
    for key in removed:
        del card[key]
    card.update(changes)
    row.card = card
    session.flush()
    audit.record(
        session,
        actor,
        "version.card.update",
        resource_type=RESOURCE,
        resource_id=row.model_id,
        details={"version": row.version, "fields": sorted(changes), "removed": removed},
    )
    return version_read(row)


# -- the lifecycle ----------------------------------------------------------------------------------


def promote(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    version: str,
    data: Promotion,
    *,
    protection: Protection,
) -> VersionRead:
    """Move a version to another stage, if the lifecycle, the actor's role, four eyes and every gate allow it.

    A refused promotion is audited as denied (or failed, for a gate) and changes nothing.
    """
    model = _model_for(session, actor, model_ref, P.MODEL_READ)
    row = get_version_row(session, model, version)
    source, target = row.stage, data.stage
    base = {"version": row.version, "from": source, "to": target}

    def refuse(error: CharterError, outcome: str = "denied") -> None:
        # The request's transaction is rolled back; the error carries its audit event so that the
        # refusal is recorded in a transaction of its own (see ``CharterError.audit``).
        raise error.recorded_as(
            "version.promote", resource_type=RESOURCE, resource_id=model.id, outcome=outcome, details=base
        )

    needed = lifecycle.permissions_for(source, target)
    if needed is None:
        allowed = ", ".join(lifecycle.allowed_next(source)) or "none: it is final"
        raise InvalidInput(
            f"A version cannot move from {source!r} to {target!r}. From {source!r} it may move to: {allowed}."
        )
    scope = scope_of(model)
    if not any(actor.can(p, scope) for p in needed):
        names = " or ".join(repr(p.value) for p in needed)
        refuse(PermissionDenied(f"{actor.actor} lacks {names} in the {scope} to move a version to {target!r}."))
    if target == "approved" and actor.actor == row.created_by:
        refuse(
            PermissionDenied(
                f"Four eyes: {actor.actor} wrote version {row.version} and cannot approve it; "
                "another reviewer must approve."
            )
        )
    from charter.inventory import artifacts
    from charter.policies import gates as _policy_gate  # noqa: F401 (registers the policy gate; it reads the inventory)

    reasons = artifacts.promotion_refusals(protection, row, target)
    request = lifecycle.GateInput(session, actor, model.id, row.id, source, target, protection=protection)
    reasons += lifecycle.gates.refusals(request)
    if reasons:
        refuse(
            Conflict(
                f"Version {row.version} cannot move to {target!r}: " + "; ".join(reasons), details={"gates": reasons}
            ),
            outcome="failed",
        )
    row.stage = target
    row.stage_changed_at = _now()
    row.transitions.append(
        StageTransitionRow(from_stage=source, to_stage=target, actor=actor.actor, comment=data.comment)
    )
    model.updated_at = row.stage_changed_at
    session.flush()
    action = "version.approve" if target == "approved" else "version.promote"
    audit.record(
        session, actor, action, resource_type=RESOURCE, resource_id=model.id, details={**base, "comment": data.comment}
    )
    from charter.risk.service import reassess  # late: risk builds on the inventory

    reassess(session, [row.id], "stage_change", actor=actor)
    return version_read(row).model_copy(update={"warnings": request.warnings})


# -- diff and history -------------------------------------------------------------------------------

_DIFF_FIELDS = ("description", "framework", "input_schema", "output_schema", "parameters", "stage")


def _changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[FieldChange]:
    return [
        FieldChange(field=f"{prefix}{key}", old=old.get(key), new=new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def diff_versions(session: Session, actor: Principal, model_ref: str | int, old: str, new: str) -> VersionDiff:
    model = _model_for(session, actor, model_ref, P.MODEL_READ)
    a, b = get_version_row(session, model, old), get_version_row(session, model, new)
    return VersionDiff(
        model=model.name,
        old=a.version,
        new=b.version,
        metadata=_changes({f: getattr(a, f) for f in _DIFF_FIELDS}, {f: getattr(b, f) for f in _DIFF_FIELDS}),
        metrics=_changes(dict(a.metrics), dict(b.metrics)),
        artifacts=_changes({x.path: x.digest for x in a.artifacts}, {x.path: x.digest for x in b.artifacts}),
        datasets=_changes(
            {f"{d.dataset.name}": d.role for d in a.datasets}, {f"{d.dataset.name}": d.role for d in b.datasets}
        ),
        card=_changes(dict(a.card), dict(b.card)),
    )


def history(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[HistoryEntry]:
    """Every audited change to the model, its versions and artifacts, newest first (from the audit trail)."""
    model = _model_for(session, actor, model_ref, P.MODEL_READ)
    limit = clamp_limit(limit)
    body = AuditEventRow.__table__.c.body
    stmt = (
        select(AuditEventRow.seq, AuditEventRow.body)
        .where(event_field(body, "resource_type") == RESOURCE, event_field(body, "resource_id") == str(model.id))
        .order_by(AuditEventRow.seq.desc())
        .limit(limit + 1)
    )
    before = parse_int_cursor(cursor)
    if before is not None:
        stmt = stmt.where(AuditEventRow.seq < before)
    rows = session.execute(stmt).all()
    items = []
    for seq, raw in rows[:limit]:
        event = orjson.loads(raw)
        items.append(
            HistoryEntry(
                seq=seq,
                ts=event["ts"],
                actor=event["actor"],
                action=event["action"],
                outcome=event["outcome"],
                details=event["details"],
            )
        )
    return Page(items=items, next_cursor=str(items[-1].seq) if len(rows) > limit else None)


def team_row(session: Session, team_id: int) -> TeamRow:
    team = session.get(TeamRow, team_id)
    assert team is not None
    return team


# -- model cards ------------------------------------------------------------------------------------


def card_facts(session: Session, row: ModelVersionRow) -> cards.CardFacts:
    """What the registry knows about a version, as the pure card builder takes it."""
    model = row.model
    return cards.CardFacts(
        model=model.name,
        version=row.version,
        team=team_row(session, model.team_id).name,
        stage=row.stage,
        description=row.description or model.description,
        purpose=model.purpose,
        intended_use=model.intended_use,
        out_of_scope_uses=tuple(model.out_of_scope_uses),
        domain=model.domain,
        deployment_context=model.deployment_context,
        regulations=tuple(model.regulations),
        tags=tuple(model.tags),
        risk_tier=model.risk_tier,
        framework=row.framework,
        metrics=dict(row.metrics),
        parameters=dict(row.parameters),
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        datasets=tuple(
            cards.CardDataset(
                name=d.dataset.name,
                role=d.role,
                classification=d.dataset.classification,
                location=d.dataset.location,
                legal_basis=d.dataset.legal_basis,
                description=d.dataset.description,
            )
            for d in row.datasets
        ),
        artifacts=tuple(
            cards.CardArtifact(path=a.path, digest=a.digest, size=a.size, format=a.format, scan_verdict=a.scan_verdict)
            for a in row.artifacts
        ),
        approvals=tuple(
            cards.CardApproval(actor=t.actor, at=t.at, comment=t.comment, from_stage=t.from_stage, to_stage=t.to_stage)
            for t in row.transitions
        ),
        evidence=tuple(
            cards.CardEvidence(kind=e.kind, title=e.title, summary=dict(e.summary), created_at=e.created_at)
            for e in session.scalars(
                select(EvidenceRow).where(EvidenceRow.version_id == row.id).order_by(EvidenceRow.id)
            )
        ),
        owner_fields=dict(row.card),
        created_by=row.created_by,
        created_at=row.created_at,
        signed=row.signature is not None,
        signature_key_id=row.signature_key_id,
    )


def model_card(session: Session, actor: Principal, model_ref: str | int, version: str) -> cards.ModelCard:
    row = version_for(session, actor, model_ref, version, P.MODEL_READ)
    return cards.build_card(card_facts(session, row))
