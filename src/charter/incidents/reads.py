"""Incidents as they are read: rows (and their models, clocks, containments, review) to schemas."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.identity.service import team_names
from charter.incidents import lifecycle
from charter.incidents.models import ContainmentRow, IncidentRow, ReviewRow, TimelineEntryRow
from charter.incidents.schemas import (
    AffectedModelRead,
    ClockRead,
    ContainmentRead,
    EntryRead,
    FollowUpRead,
    IncidentRead,
    RegulatoryReportRead,
    ReviewRead,
)
from charter.inventory.models import ModelRow, ModelVersionRow


def clocks_of(row: IncidentRow, now: datetime) -> list[ClockRead]:
    state = lifecycle.clock_state(row.response_due_at, row.triaged_at, now)
    clocks = [
        ClockRead(
            kind="response",
            regime=None,
            due_at=state.due_at,
            met_at=state.met_at,
            overdue=state.overdue,
            breached=state.breached,
            remaining_seconds=state.remaining_seconds,
        )
    ]
    for report in row.reports:
        state = lifecycle.clock_state(report.due_at, report.submitted_at, now)
        clocks.append(
            ClockRead(
                kind="regulatory",
                regime=report.regime,
                due_at=state.due_at,
                met_at=state.met_at,
                overdue=state.overdue,
                breached=state.breached,
                remaining_seconds=state.remaining_seconds,
            )
        )
    return clocks


def entry_read(row: TimelineEntryRow) -> EntryRead:
    return EntryRead(
        id=row.id,
        kind=row.kind,
        body=row.body,
        audience=row.audience,
        recipient=row.recipient,
        data=dict(row.data),
        at=row.at,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def review_read(row: ReviewRow) -> ReviewRead:
    return ReviewRead(
        root_cause=row.root_cause,
        contributing_factors=list(row.contributing_factors),
        follow_ups=[FollowUpRead.model_validate(f) for f in row.follow_ups],
        lessons=row.lessons,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


class Names:
    """Model, version and team names for a batch of incidents, read in three queries."""

    def __init__(self, session: Session, rows: Iterable[IncidentRow]) -> None:
        rows = list(rows)
        model_ids = {m.model_id for r in rows for m in r.models} | {c.model_id for r in rows for c in r.containments}
        version_ids = {m.version_id for r in rows for m in r.models if m.version_id is not None}
        version_ids |= {c.version_id for r in rows for c in r.containments}
        self.models: dict[int, tuple[str, int]] = {}
        if model_ids:
            found = session.execute(
                select(ModelRow.id, ModelRow.name, ModelRow.team_id).where(ModelRow.id.in_(model_ids))
            )
            self.models = {i: (name, team) for i, name, team in found}
        self.versions: dict[int, tuple[str, str]] = {}
        if version_ids:
            found_versions = session.execute(
                select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.stage).where(
                    ModelVersionRow.id.in_(version_ids)
                )
            )
            self.versions = {i: (version, stage) for i, version, stage in found_versions}
        team_ids = {team for _, team in self.models.values()} | {r.team_id for r in rows if r.team_id is not None}
        self.teams = team_names(session, team_ids)


def containment_read(row: ContainmentRow, names: Names) -> ContainmentRead:
    return ContainmentRead(
        id=row.id,
        incident_id=row.incident_id,
        kind=row.kind,
        model=names.models[row.model_id][0],
        version=names.versions[row.version_id][0],
        active=row.active,
        reason=row.reason,
        previous_stage=row.previous_stage,
        created_at=row.created_at,
        created_by=row.created_by,
        lifted_at=row.lifted_at,
        lifted_by=row.lifted_by,
        lift_reason=row.lift_reason,
    )


def incident_read(
    session: Session, row: IncidentRow, now: datetime, *, names: Names | None = None, timeline: bool = False
) -> IncidentRead:
    names = names or Names(session, [row])
    clocks = clocks_of(row, now)
    entries = None
    if timeline:
        stmt = select(TimelineEntryRow).where(TimelineEntryRow.incident_id == row.id).order_by(TimelineEntryRow.id)
        entries = [entry_read(e) for e in session.scalars(stmt)]
    models = []
    for link in row.models:
        name, team = names.models[link.model_id]
        version, stage = names.versions[link.version_id] if link.version_id is not None else (None, None)
        models.append(
            AffectedModelRead(
                model_id=link.model_id,
                model=name,
                team=names.teams[team],
                version_id=link.version_id,
                version=version,
                stage=stage,
            )
        )
    return IncidentRead(
        id=row.id,
        title=row.title,
        description=row.description,
        type=row.type,
        severity=row.severity,
        status=row.status,
        source=row.source,
        dedup_key=row.dedup_key,
        team=names.teams[row.team_id] if row.team_id is not None else None,
        reporter=row.reporter,
        commander=row.commander,
        assignee=row.assignee,
        detected_at=row.detected_at,
        reported_at=row.reported_at,
        triaged_at=row.triaged_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        updated_at=row.updated_at,
        models=models,
        affected_people=row.affected_people,
        affected_groups=list(row.affected_groups),
        data_categories=list(row.data_categories),
        records_affected=row.records_affected,
        consequences=row.consequences,
        contact_point=row.contact_point,
        member_states=list(row.member_states),
        details=dict(row.details),
        allowed_next=list(lifecycle.allowed_next(row.status)),
        clocks=clocks,
        overdue=any(c.overdue for c in clocks),
        reports=[
            RegulatoryReportRead(
                regime=r.regime,
                reason=r.reason,
                marked_at=r.marked_at,
                marked_by=r.marked_by,
                due_at=r.due_at,
                submitted_at=r.submitted_at,
                submitted_by=r.submitted_by,
                reference=r.reference,
            )
            for r in row.reports
        ],
        containments=[containment_read(c, names) for c in row.containments],
        review=review_read(row.review) if row.review is not None else None,
        timeline=entries,
    )
