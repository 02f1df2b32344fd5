"""The risk register: risks with likelihood and impact, controls, residual rating, owner, treatment,
incidents, review date; acceptance; and the heat map of the inventory.

A risk about a model is read and written in the model's team scope; an organisation-wide risk in
the team it names, or in the organisation when it names none. Writing needs ``risk:write``;
accepting a risk whose residual rating is high or critical also needs ``risk:accept``. Every
change is one audit event naming the risk (``risk``, id).

Ratings come from the 5 x 5 matrix (:func:`charter.risk.scoring.matrix_rating`): likelihood x
impact banded low (1-4), medium (5-9), high (10-16), critical (20-25).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.errors import Conflict, InvalidInput, NotFound
from charter.identity.models import TeamRow
from charter.identity.service import find_principal, get_team, team_names
from charter.incidents.models import IncidentRow
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow
from charter.policies.models import PolicyRow, PolicyVersionRow
from charter.risk import scoring
from charter.risk import service as risk_service
from charter.risk.models import RATINGS, RiskIncidentRow, RiskRow
from charter.risk.schemas import HeatMap, ModelRating, RiskAccept, RiskCreate, RiskRead, RiskUpdate
from charter.security.permissions import Permission
from charter.security.principal import Principal, Scope, authorize

P = Permission
RESOURCE = "risk"
#: Residual ratings whose acceptance needs ``risk:accept`` (others: ``risk:write``).
ACCEPT_NEEDS_PERMISSION = frozenset({"high", "critical"})


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def scope_of(row: RiskRow) -> Scope:
    return Scope(row.team_id)


def _overdue(row: RiskRow, today: date) -> bool:
    return row.status != "closed" and row.review_date is not None and row.review_date < today


def _read(row: RiskRow, *, model: str | None, team: str | None, incidents: list[int], today: date) -> RiskRead:
    return RiskRead(
        id=row.id,
        model=model,
        team=team,
        title=row.title,
        description=row.description,
        category=row.category,
        likelihood=row.likelihood,
        impact=row.impact,
        inherent_score=row.likelihood * row.impact,
        inherent_rating=row.inherent_rating,
        controls=list(row.controls),
        control_rules=list(row.control_rules),
        residual_likelihood=row.residual_likelihood,
        residual_impact=row.residual_impact,
        residual_score=row.residual_likelihood * row.residual_impact,
        residual_rating=row.residual_rating,
        owner=row.owner,
        treatment=row.treatment,
        incidents=incidents,
        review_date=row.review_date,
        review_overdue=_overdue(row, today),
        status=row.status,
        accepted_by=row.accepted_by,
        accepted_at=row.accepted_at,
        acceptance_note=row.acceptance_note,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _reads(session: Session, rows: Sequence[RiskRow], now: datetime) -> list[RiskRead]:
    """Reads of many risks with three queries (names, teams, incident links), never one per risk."""
    ids = [r.id for r in rows]
    links: dict[int, list[int]] = defaultdict(list)
    if ids:
        stmt = (
            select(RiskIncidentRow.risk_id, RiskIncidentRow.incident_id)
            .where(RiskIncidentRow.risk_id.in_(ids))
            .order_by(RiskIncidentRow.incident_id)
        )
        for risk_id, incident_id in session.execute(stmt):
            links[risk_id].append(incident_id)
    model_ids = {r.model_id for r in rows if r.model_id is not None}
    models: dict[int, str] = {}
    if model_ids:
        models = {
            i: n for i, n in session.execute(select(ModelRow.id, ModelRow.name).where(ModelRow.id.in_(model_ids)))
        }
    teams = team_names(session, {r.team_id for r in rows if r.team_id is not None})
    today = now.date()
    return [
        _read(
            r,
            model=models.get(r.model_id) if r.model_id is not None else None,
            team=teams.get(r.team_id) if r.team_id is not None else None,
            incidents=links.get(r.id, []),
            today=today,
        )
        for r in rows
    ]


def _risk_row(session: Session, risk_id: int) -> RiskRow:
    row = session.get(RiskRow, risk_id)
    if row is None:
        raise NotFound(f"There is no risk {risk_id} in the register.")
    return row


def _risk_for(session: Session, actor: Principal, risk_id: int, permission: Permission) -> RiskRow:
    row = _risk_row(session, risk_id)
    authorize(actor, permission, scope_of(row))
    return row


def _owner(session: Session, name: str) -> str:
    if find_principal(session, name) is None:
        raise InvalidInput(f"`owner`: there is no user or service account named {name!r}.")
    return name


def _incidents(session: Session, actor: Principal, ids: Sequence[int]) -> list[int]:
    """The incident ids, each existing and readable by the actor; repeats dropped."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = dict(session.execute(select(IncidentRow.id, IncidentRow.team_id).where(IncidentRow.id.in_(wanted))).all())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(f"`incidents`: there is no incident {', '.join(map(str, missing))}.")
    for incident_id in wanted:
        authorize(actor, P.INCIDENT_READ, Scope(found[incident_id]))
    return wanted


def _control_rules(session: Session, refs: Sequence[str]) -> list[str]:
    """``policy-id/rule-id`` references, each naming a rule of the policy's current version."""
    out = list(dict.fromkeys(refs))
    if not out:
        return []
    policies = {ref.split("/", 1)[0] for ref in out}
    stmt = (
        select(PolicyRow.id, PolicyVersionRow.document)
        .join(
            PolicyVersionRow,
            (PolicyVersionRow.policy_id == PolicyRow.id) & (PolicyVersionRow.number == PolicyRow.version),
        )
        .where(PolicyRow.id.in_(policies))
    )
    rules = {pid: {r["id"] for r in document.get("rules", [])} for pid, document in session.execute(stmt)}
    problems = []
    for ref in out:
        policy, rule = ref.split("/", 1)
        if policy not in rules:
            problems.append(f"there is no policy {policy!r}")
        elif rule not in rules[policy]:
            problems.append(f"policy {policy!r} has no rule {rule!r}")
    if problems:
        raise InvalidInput("`control_rules`: " + "; ".join(problems) + ".")
    return out


def _residual(likelihood: int, impact: int, residual_likelihood: int, residual_impact: int) -> None:
    if residual_likelihood > likelihood or residual_impact > impact:
        raise InvalidInput(
            f"The residual likelihood and impact ({residual_likelihood}, {residual_impact}) cannot exceed the "
            f"inherent ones ({likelihood}, {impact}): controls do not raise a risk. Raise the inherent ones."
        )


def _link(session: Session, risk_id: int, incident_ids: list[int]) -> None:
    session.execute(delete(RiskIncidentRow).where(RiskIncidentRow.risk_id == risk_id))
    session.add_all(RiskIncidentRow(risk_id=risk_id, incident_id=i) for i in incident_ids)


def create_risk(session: Session, actor: Principal, data: RiskCreate, *, now: datetime | None = None) -> RiskRead:
    moment = _now(now)
    model: ModelRow | None = None
    team: TeamRow | None = None
    if data.model is not None:
        if data.team is not None:
            raise InvalidInput("Name a model or a team, not both: a model's risk belongs to the model's team.")
        model = inventory.get_model_row(session, data.model)
        team_id: int | None = model.team_id
    elif data.team is not None:
        team = get_team(session, data.team)
        team_id = team.id
    else:
        team_id = None
    authorize(actor, P.RISK_WRITE, Scope(team_id))
    residual_likelihood = data.residual_likelihood or data.likelihood
    residual_impact = data.residual_impact or data.impact
    _residual(data.likelihood, data.impact, residual_likelihood, residual_impact)
    row = RiskRow(
        model_id=model.id if model else None,
        team_id=team_id,
        title=data.title,
        description=data.description,
        category=data.category,
        likelihood=data.likelihood,
        impact=data.impact,
        inherent_rating=scoring.matrix_rating(data.likelihood, data.impact),
        controls=list(data.controls),
        control_rules=_control_rules(session, data.control_rules),
        residual_likelihood=residual_likelihood,
        residual_impact=residual_impact,
        residual_rating=scoring.matrix_rating(residual_likelihood, residual_impact),
        owner=_owner(session, data.owner),
        treatment=data.treatment,
        review_date=data.review_date,
        status="open",
        created_at=moment,
        created_by=actor.actor,
        updated_at=moment,
        updated_by=actor.actor,
    )
    incidents = _incidents(session, actor, data.incidents)
    session.add(row)
    session.flush()
    _link(session, row.id, incidents)
    session.flush()
    audit.record(
        session,
        actor,
        "risk.create",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={
            "title": row.title,
            "model": model.name if model else None,
            "team": team.name if team else None,
            "category": row.category,
            "inherent": {"likelihood": row.likelihood, "impact": row.impact, "rating": row.inherent_rating},
            "residual": {
                "likelihood": row.residual_likelihood,
                "impact": row.residual_impact,
                "rating": row.residual_rating,
            },
            "owner": row.owner,
            "treatment": row.treatment,
            "incidents": incidents,
        },
    )
    return _reads(session, [row], moment)[0]


_RATED = ("likelihood", "impact", "residual_likelihood", "residual_impact")


def update_risk(
    session: Session, actor: Principal, risk_id: int, data: RiskUpdate, *, now: datetime | None = None
) -> RiskRead:
    """Change the fields sent. A change to the likelihood or impact of an accepted risk reopens it:
    what was accepted was the earlier rating."""
    moment = _now(now)
    row = _risk_for(session, actor, risk_id, P.RISK_WRITE)
    sent = data.model_fields_set
    for name in ("title", "category", "likelihood", "impact", "residual_likelihood", "residual_impact", "owner"):
        if name in sent and getattr(data, name) is None:
            raise InvalidInput(f"`{name}` cannot be removed; send a new value.")
    changes: dict[str, Any] = {}

    def change(name: str, new: Any, shown: Any = None) -> None:
        old = getattr(row, name)
        if old != new:
            setattr(row, name, new)
            changes[name] = shown if shown is not None else {"old": _plain(old), "new": _plain(new)}

    for name in ("title", "category", "treatment", "review_date", *_RATED):
        if name in sent:
            change(name, getattr(data, name))
    if "description" in sent:
        change("description", data.description, shown="changed")
    if "controls" in sent and data.controls is not None:
        change("controls", list(data.controls))
    if "control_rules" in sent and data.control_rules is not None:
        change("control_rules", _control_rules(session, data.control_rules))
    if "owner" in sent and data.owner is not None:
        change("owner", _owner(session, data.owner))
    if "incidents" in sent and data.incidents is not None:
        wanted = _incidents(session, actor, data.incidents)
        current = sorted(session.scalars(select(RiskIncidentRow.incident_id).where(RiskIncidentRow.risk_id == row.id)))
        if wanted != current:
            _link(session, row.id, wanted)
            changes["incidents"] = {"old": current, "new": wanted}
    # A lower inherent value lowers a residual one not sent with it: controls never raise a risk.
    if "residual_likelihood" not in sent and row.residual_likelihood > row.likelihood:
        change("residual_likelihood", row.likelihood)
    if "residual_impact" not in sent and row.residual_impact > row.impact:
        change("residual_impact", row.impact)
    _residual(row.likelihood, row.impact, row.residual_likelihood, row.residual_impact)
    row.inherent_rating = scoring.matrix_rating(row.likelihood, row.impact)
    row.residual_rating = scoring.matrix_rating(row.residual_likelihood, row.residual_impact)
    if row.status == "accepted" and any(k in changes for k in _RATED):
        row.status = "open"
        changes["status"] = {"old": "accepted", "new": "open", "why": "the rating changed after acceptance"}
    if "status" in sent and data.status is not None and data.status != row.status:
        changes["status"] = {"old": row.status, "new": data.status}
        row.status = data.status
    if not changes:
        return _reads(session, [row], moment)[0]
    row.updated_at = moment
    row.updated_by = actor.actor
    session.flush()
    changes["ratings"] = {"inherent": row.inherent_rating, "residual": row.residual_rating}
    audit.record(session, actor, "risk.update", resource_type=RESOURCE, resource_id=row.id, details=changes)
    return _reads(session, [row], moment)[0]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def accept_risk(
    session: Session, actor: Principal, risk_id: int, data: RiskAccept, *, now: datetime | None = None
) -> RiskRead:
    """Accept the residual risk (treatment ``accept``); a high or critical one needs ``risk:accept``."""
    moment = _now(now)
    row = _risk_for(session, actor, risk_id, P.RISK_WRITE)
    if row.residual_rating in ACCEPT_NEEDS_PERMISSION:
        authorize(actor, P.RISK_ACCEPT, scope_of(row))
    if row.status == "closed":
        raise Conflict(f"Risk {row.id} is closed; reopen it (status open) before accepting it.")
    row.status = "accepted"
    row.treatment = "accept"
    row.accepted_by = actor.actor
    row.accepted_at = moment
    row.acceptance_note = data.note
    if data.review_date is not None:
        row.review_date = data.review_date
    row.updated_at = moment
    row.updated_by = actor.actor
    session.flush()
    audit.record(
        session,
        actor,
        "risk.accept",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={
            "residual_rating": row.residual_rating,
            "permission": (P.RISK_ACCEPT if row.residual_rating in ACCEPT_NEEDS_PERMISSION else P.RISK_WRITE).value,
            "note": data.note[:500],
            "review_date": _plain(row.review_date),
        },
    )
    return _reads(session, [row], moment)[0]


def read_risk(session: Session, actor: Principal, risk_id: int, *, now: datetime | None = None) -> RiskRead:
    row = _risk_for(session, actor, risk_id, P.RISK_READ)
    return _reads(session, [row], _now(now))[0]


def _visible(actor: Principal) -> Any:
    """A WHERE clause limiting risks to the scopes the actor may read them in (None: no limit)."""
    teams = actor.team_ids_with(P.RISK_READ)
    return None if teams is None else RiskRow.team_id.in_(teams)


@dataclass(frozen=True)
class RiskFilter:
    """Which risks to list; every field left at its default matches all."""

    model: str | None = None
    status: str | None = None
    category: str | None = None
    rating: str | None = None  # the residual rating
    owner: str | None = None
    overdue: bool = False  # not closed, past the review date
    # A heat-map cell (likelihood, impact): the open and accepted risks in it (the map counts those),
    # on the residual scores or, with ``residual`` false, the inherent ones.
    cell: tuple[int, int] | None = None
    residual: bool = True


def _selected(session: Session, actor: Principal, where: RiskFilter, moment: datetime) -> Select[Any]:
    stmt = select(RiskRow)
    clause = _visible(actor)
    if clause is not None:
        stmt = stmt.where(clause)
    if where.model is not None:
        row = inventory.get_model_row(session, where.model)
        authorize(actor, P.RISK_READ, inventory.scope_of(row))
        stmt = stmt.where(RiskRow.model_id == row.id)
    if where.status is not None:
        stmt = stmt.where(RiskRow.status == where.status)
    if where.category is not None:
        stmt = stmt.where(RiskRow.category == where.category)
    if where.rating is not None:
        stmt = stmt.where(RiskRow.residual_rating == where.rating)
    if where.owner is not None:
        stmt = stmt.where(RiskRow.owner == where.owner)
    if where.overdue:
        stmt = stmt.where(RiskRow.status != "closed", RiskRow.review_date < moment.date())
    if where.cell is not None:
        if where.residual:
            stmt = stmt.where(RiskRow.residual_likelihood == where.cell[0], RiskRow.residual_impact == where.cell[1])
        else:
            stmt = stmt.where(RiskRow.likelihood == where.cell[0], RiskRow.impact == where.cell[1])
        if where.status is None:
            stmt = stmt.where(RiskRow.status != "closed")
    return stmt


def list_risks(
    session: Session,
    actor: Principal,
    where: RiskFilter = RiskFilter(),
    *,
    now: datetime | None = None,
    offset: int = 0,
    limit: int = 500,
) -> list[RiskRead]:
    """Risks the actor may read, highest residual score first (``offset``, ``limit``: a page of them)."""
    moment = _now(now)
    stmt = (
        _selected(session, actor, where, moment)
        .order_by((RiskRow.residual_likelihood * RiskRow.residual_impact).desc(), RiskRow.id)
        .offset(max(0, offset))
        .limit(max(1, min(limit, 5000)))
    )
    return _reads(session, list(session.scalars(stmt)), moment)


def count_risks(
    session: Session, actor: Principal, where: RiskFilter = RiskFilter(), *, now: datetime | None = None
) -> int:
    """How many risks :func:`list_risks` would list with no page limit."""
    stmt = _selected(session, actor, where, _now(now)).with_only_columns(func.count(), maintain_column_froms=True)
    return int(session.scalar(stmt) or 0)


def heat_map(session: Session, actor: Principal, *, now: datetime | None = None) -> HeatMap:
    """Counts of the open and accepted risks the actor may read per (likelihood, impact) cell,
    inherent and residual, and per model the rating of its latest assessment."""
    moment = _now(now)
    inherent = [[0] * 5 for _ in range(5)]
    residual = [[0] * 5 for _ in range(5)]
    by_rating = dict.fromkeys(RATINGS, 0)
    overdue = 0
    stmt = select(
        RiskRow.likelihood,
        RiskRow.impact,
        RiskRow.residual_likelihood,
        RiskRow.residual_impact,
        RiskRow.residual_rating,
        RiskRow.review_date,
    ).where(RiskRow.status != "closed")
    clause = _visible(actor)
    if clause is not None:
        stmt = stmt.where(clause)
    total = 0
    today = moment.date()
    for likelihood, impact, r_likelihood, r_impact, rating, review in session.execute(stmt):
        total += 1
        inherent[likelihood - 1][impact - 1] += 1
        residual[r_likelihood - 1][r_impact - 1] += 1
        by_rating[rating] += 1
        overdue += review is not None and review < today
    models = [
        ModelRating(
            model=name,
            version=label,
            rating=row.rating,
            score=row.score,
            assessment=row.id,
            assessed_at=row.created_at,
        )
        for row, name, label in risk_service.latest_ratings(session, actor).values()
    ]
    return HeatMap(
        inherent=inherent,
        residual=residual,
        risks=total,
        by_residual_rating=by_rating,
        overdue_reviews=overdue,
        models=models,
    )
