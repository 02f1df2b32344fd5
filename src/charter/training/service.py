"""Training services: courses, completions per person, and whether a model's people hold current training.

Managing courses and recording completions needs ``compliance:write`` (risk officers) or
``user:write`` (administrators) in the organisation. Completions are personal data: listing other
people's needs ``user:read`` or ``compliance:write``; everyone may read their own. Each change writes
one audit event in the caller's transaction; services flush, the caller commits.

What the policy facts read (:func:`training_facts`): a model version's **people** are

- its **owners**: the active users bound to ``model_owner`` in the model's team, judged now;
- its **approvers**: the users who moved this version into ``approved``, each judged at the moment
  they approved it (training taken afterwards does not make an approval trained), plus the person
  whose promotion into ``approved`` is being decided, judged now, so that a policy can refuse an
  approval by someone without current training.

Each must hold a current completion of every **required** course. Service accounts and the local
operator are not people and are not checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Integer, bindparam, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.errors import Conflict, InvalidInput, NotFound
from charter.identity.models import PrincipalRow, RoleBindingRow
from charter.inventory.models import ModelRow, ModelVersionRow, StageTransitionRow
from charter.security.permissions import Permission, Role
from charter.security.principal import ORG, Principal, authorize
from charter.training.models import CompletionRow, CourseRow
from charter.training.schemas import CompletionCreate, CompletionRead, CourseCreate, CourseRead, TrainingStatus

P = Permission
COURSE_RESOURCE = "training_course"
_CHUNK = 900  # ids per IN (...) list: well under SQLite's limit on bound parameters
_CLOCK_SKEW = timedelta(minutes=5)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _may_manage(actor: Principal) -> None:
    if not actor.can(P.USER_WRITE, ORG):
        authorize(actor, P.COMPLIANCE_WRITE, ORG)


def _may_read_everyone(actor: Principal) -> bool:
    return actor.can(P.USER_READ, ORG) or actor.can(P.COMPLIANCE_WRITE, ORG)


def _course_read(row: CourseRow) -> CourseRead:
    return CourseRead.model_validate(row, from_attributes=True)


def _current(expires_at: datetime | None, completed_at: datetime, at: datetime) -> bool:
    return completed_at <= at and (expires_at is None or at < expires_at)


def _completion_read(row: CompletionRow, person: str, course: CourseRow, now: datetime) -> CompletionRead:
    return CompletionRead(
        id=row.id,
        person=person,
        course=course.id,
        course_title=course.title,
        kind=course.kind,
        completed_at=row.completed_at,
        expires_at=row.expires_at,
        current=_current(row.expires_at, row.completed_at, now),
        note=row.note,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


# -- courses ----------------------------------------------------------------------------------------


def create_course(session: Session, actor: Principal, data: CourseCreate) -> CourseRead:
    _may_manage(actor)
    if session.get(CourseRow, data.id) is not None:
        raise Conflict(f"A course {data.id!r} already exists.")
    row = CourseRow(
        id=data.id,
        title=data.title,
        kind=data.kind,
        validity_days=data.validity_days,
        required=data.required,
        description=data.description,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "training.course.create",
        resource_type=COURSE_RESOURCE,
        resource_id=row.id,
        details={"title": row.title, "kind": row.kind, "validity_days": row.validity_days, "required": row.required},
    )
    return _course_read(row)


def list_courses(session: Session, actor: Principal) -> list[CourseRead]:
    if not actor.holds(P.COMPLIANCE_READ):
        authorize(actor, P.COMPLIANCE_READ, ORG)
    return [_course_read(r) for r in session.scalars(select(CourseRow).order_by(CourseRow.id))]


def _course(session: Session, course_id: str) -> CourseRow:
    row = session.get(CourseRow, course_id)
    if row is None:
        raise NotFound(f"No training course {course_id!r}; add it first (`charter training course add`).")
    return row


# -- completions ------------------------------------------------------------------------------------


def record_completion(
    session: Session, actor: Principal, data: CompletionCreate, *, now: datetime | None = None
) -> CompletionRead:
    """Record that a user completed a course; it expires after the course's validity unless told otherwise."""
    _may_manage(actor)
    moment = _now(now)
    course = _course(session, data.course)
    person = session.scalars(select(PrincipalRow).where(PrincipalRow.name == data.person)).first()
    if person is None or person.kind != "user":
        raise NotFound(f"No user named {data.person!r}: training is recorded for people (users).")
    completed_at = data.completed_at or moment
    if completed_at > moment + _CLOCK_SKEW:
        raise InvalidInput(f"completed_at {completed_at:%Y-%m-%d %H:%M} UTC is in the future.")
    expires_at = data.expires_at
    if expires_at is None and course.validity_days is not None:
        expires_at = completed_at + timedelta(days=course.validity_days)
    if expires_at is not None and expires_at <= completed_at:
        raise InvalidInput("expires_at must come after completed_at.")
    row = CompletionRow(
        course_id=course.id,
        principal_id=person.id,
        completed_at=completed_at,
        expires_at=expires_at,
        note=data.note,
        recorded_at=moment,
        recorded_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "training.record",
        resource_type="user",
        resource_id=person.name,
        details={
            "completion": row.id,
            "course": course.id,
            "completed_at": completed_at.isoformat(),
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return _completion_read(row, person.name, course, moment)


def list_completions(
    session: Session,
    actor: Principal,
    *,
    person: str | None = None,
    course: str | None = None,
    current_only: bool = False,
    now: datetime | None = None,
) -> list[CompletionRead]:
    """Completions, newest first. Anyone may list their own; other people's need ``user:read`` or
    ``compliance:write``."""
    if not _may_read_everyone(actor) and (person != actor.name or actor.kind != "user"):
        authorize(actor, P.USER_READ, ORG)
    moment = _now(now)
    stmt = (
        select(CompletionRow, PrincipalRow.name, CourseRow)
        .join(PrincipalRow, PrincipalRow.id == CompletionRow.principal_id)
        .join(CourseRow, CourseRow.id == CompletionRow.course_id)
        .order_by(CompletionRow.completed_at.desc(), CompletionRow.id.desc())
    )
    if person is not None:
        stmt = stmt.where(PrincipalRow.name == person)
    if course is not None:
        stmt = stmt.where(CompletionRow.course_id == course)
    reads = [_completion_read(row, name, c, moment) for row, name, c in session.execute(stmt)]
    return [r for r in reads if r.current or not current_only]


def my_training(session: Session, actor: Principal, *, now: datetime | None = None) -> TrainingStatus:
    """The caller's own completions and the required courses they hold no current completion of."""
    moment = _now(now)
    completions = list_completions(session, actor, person=actor.name, now=moment) if actor.kind == "user" else []
    held = {c.course for c in completions if c.current}
    required = session.scalars(select(CourseRow.id).where(CourseRow.required).order_by(CourseRow.id))
    return TrainingStatus(
        person=actor.name, completions=completions, missing_required=[c for c in required if c not in held]
    )


def _chunks(ids: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _completions_of(
    session: Session, names: Iterable[str], courses: Iterable[str] | None = None
) -> dict[str, list[tuple[str, datetime, datetime | None]]]:
    """user name -> (course, completed_at, expires_at) of every completion (of ``courses`` when given)."""
    out: dict[str, list[tuple[str, datetime, datetime | None]]] = defaultdict(list)
    wanted = sorted(set(names))
    for chunk in _chunks(wanted):
        stmt = (
            select(PrincipalRow.name, CompletionRow.course_id, CompletionRow.completed_at, CompletionRow.expires_at)
            .join(PrincipalRow, PrincipalRow.id == CompletionRow.principal_id)
            .where(PrincipalRow.name.in_(chunk), PrincipalRow.kind == "user")
        )
        if courses is not None:
            stmt = stmt.where(CompletionRow.course_id.in_(sorted(set(courses))))
        for name, course, completed_at, expires_at in session.execute(stmt):
            out[name].append((course, completed_at, expires_at))
    return out


def current_training(
    session: Session, principal_names: Iterable[str], *, now: datetime | None = None
) -> dict[str, dict[str, datetime | None]]:
    """user name -> course id -> when its current completion expires (None: never), for current ones only.

    No authorization: for services that decided access already (policy facts, compliance status).
    """
    moment = _now(now)
    out: dict[str, dict[str, datetime | None]] = {name: {} for name in principal_names}
    for name, rows in _completions_of(session, out).items():
        for course, completed_at, expires_at in rows:
            if not _current(expires_at, completed_at, moment):
                continue
            best = out[name]
            # The completion that lasts longest decides (None, never expiring, outlasts any date).
            if course not in best:
                best[course] = expires_at
            elif (prior := best[course]) is not None and (expires_at is None or expires_at > prior):
                best[course] = expires_at
    return out


# -- the facts a policy reads -----------------------------------------------------------------------

# Owners (rank 0) and this version's approvals (rank 1) in one statement, built once; approvals come
# first in the union so that its ``at`` column keeps their type (the owners' is NULL).
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_APPROVALS = select(
    StageTransitionRow.version_id.label("vid"),
    literal_column("1", Integer).label("rank"),
    StageTransitionRow.actor.label("name"),
    StageTransitionRow.at.label("at"),
).where(StageTransitionRow.to_stage == "approved", StageTransitionRow.version_id.in_(_IDS))
_OWNERS = (
    select(ModelVersionRow.id, literal_column("0", Integer), PrincipalRow.name, null())
    .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
    .join(RoleBindingRow, RoleBindingRow.team_id == ModelRow.team_id)
    .join(PrincipalRow, PrincipalRow.id == RoleBindingRow.principal_id)
    .where(
        ModelVersionRow.id.in_(_IDS),
        RoleBindingRow.role == Role.MODEL_OWNER.value,
        PrincipalRow.kind == "user",
        PrincipalRow.is_active,
    )
)
_BOTH = union_all(_APPROVALS, _OWNERS).subquery()
_PEOPLE = select(_BOTH.c.vid, _BOTH.c.rank, _BOTH.c.name, _BOTH.c.at).order_by(
    _BOTH.c.vid, _BOTH.c.rank, _BOTH.c.at, _BOTH.c.name
)
_USER = "user:"


@dataclass
class _People:
    """Who must be trained for one version: (actor name, role, the moment they are judged at)."""

    checks: list[tuple[str, str, datetime]] = field(default_factory=list)

    def add(self, name: str, role: str, at: datetime) -> None:
        if (name, role, at) not in self.checks:
            self.checks.append((name, role, at))


def training_facts(
    session: Session,
    version_ids: Sequence[int],
    now: datetime,
    *,
    deciding_approval_by: str | None = None,
) -> dict[int, dict[str, Any]]:
    """version id -> ``{"owners_trained": bool | None, "training": {...}}`` (see the module's docstring).

    ``deciding_approval_by``: the actor (``user:name``) of a promotion into ``approved`` being
    decided. Three queries whatever the number of versions; one when no course is required (then
    nobody is checked and ``owners_trained`` is None, as it is for a version with nobody to check).
    """
    required = list(session.scalars(select(CourseRow.id).where(CourseRow.required).order_by(CourseRow.id)))
    people: dict[int, _People] = {vid: _People() for vid in version_ids}
    if required:
        connection = session.connection()
        for chunk in _chunks(list(version_ids)):
            for vid, rank, name, at in connection.execute(_PEOPLE, {"ids": chunk}):
                if rank == 0:
                    people[vid].add(_USER + name, "owner", now)
                elif name.startswith(_USER):  # people only: not service accounts, not the local operator
                    people[vid].add(name, "approver", at)
        if deciding_approval_by is not None and deciding_approval_by.startswith(_USER):
            for found in people.values():
                found.add(deciding_approval_by, "approver", now)
    names = {name.removeprefix(_USER) for found in people.values() for name, _r, _a in found.checks}
    held = _completions_of(session, names, required) if required and names else {}
    out: dict[int, dict[str, Any]] = {}
    for vid, found in people.items():
        missing: list[dict[str, str]] = []
        for name, role, at in found.checks:
            rows = held.get(name.removeprefix(_USER), [])
            for course in required:
                if not any(c == course and _current(expires, done, at) for c, done, expires in rows):
                    entry = {"person": name, "course": course, "role": role}
                    if entry not in missing:
                        missing.append(entry)
        checked = list(dict.fromkeys(name for name, _r, _a in found.checks))
        trained = None if not required or not checked else not missing
        out[vid] = {
            "owners_trained": trained,
            "training": {"required": list(required), "people": checked, "missing": missing},
        }
    return out
