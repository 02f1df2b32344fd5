"""Containment: actions that limit the harm a model version can do while an incident is handled.

``deprecate_version`` moves a production version to ``deprecated`` through the inventory's own
lifecycle (``inventory.service.promote``: its permissions, gates and audit event apply, and its
comment names the incident); ``suspend_logging`` makes the decision log refuse the version's
decisions (see ``service.suspended_versions``). Lifting a containment is an audited action too.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from charter.errors import Conflict, InvalidInput, NotFound
from charter.incidents import lifecycle
from charter.incidents.models import ContainmentRow, IncidentRow
from charter.incidents.reads import Names, containment_read
from charter.incidents.schemas import ContainmentCreate, ContainmentLift, ContainmentRead
from charter.incidents.service import add_timeline_entry, current_time, incident_for, record_event
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.inventory.schemas import Promotion
from charter.security.permissions import Permission
from charter.security.principal import Principal, authorize

if TYPE_CHECKING:
    from charter.inventory.artifacts import Protection

P = Permission


def _containment_target(
    session: Session, actor: Principal, row: IncidentRow, model_ref: str, version: str
) -> tuple[ModelRow, ModelVersionRow]:
    model = inventory.get_model_row(session, model_ref)
    # Containment acts on the model: the actor handles incidents in the model's own team too.
    authorize(actor, P.INCIDENT_WRITE, inventory.scope_of(model))
    if model.id not in {m.model_id for m in row.models}:
        raise InvalidInput(
            f"Model {model.name!r} is not among the models incident {row.id} affects; add it to the incident first."
        )
    return model, inventory.get_version_row(session, model, version)


def contain(
    session: Session,
    actor: Principal,
    incident_id: int,
    data: ContainmentCreate,
    *,
    protection: Protection,
    now: datetime | None = None,
) -> ContainmentRead:
    """Limit the harm a version can do: move it out of production (``deprecate_version``, through the
    inventory's lifecycle, so its rules and audit apply) or suspend its decision logging."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    if row.status in lifecycle.DONE:
        raise Conflict(f"Incident {row.id} is {row.status}; reopen it before taking containment actions.")
    model, version = _containment_target(session, actor, row, data.model, data.version)
    previous_stage = None
    if data.kind == "deprecate_version":
        if version.stage != "production":
            raise Conflict(
                f"Version {version.version} of {model.name} is in {version.stage!r}, not in production: "
                "there is nothing to move out of production."
            )
        previous_stage = version.stage
        comment = f"Containment for incident {row.id}: {data.reason}"
        inventory.promote(
            session,
            actor,
            model.id,
            version.version,
            Promotion(stage="deprecated", comment=comment),
            protection=protection,
        )
    elif any(c.active and c.kind == "suspend_logging" and c.version_id == version.id for c in row.containments):
        raise Conflict(f"Incident {row.id} already suspends the decision logging of {model.name} {version.version}.")
    containment = ContainmentRow(
        kind=data.kind,
        model_id=model.id,
        version_id=version.id,
        active=True,
        reason=data.reason,
        previous_stage=previous_stage,
        created_at=moment,
        created_by=actor.actor,
    )
    row.containments.append(containment)
    row.updated_at = moment
    what = "moved out of production" if data.kind == "deprecate_version" else "decision logging suspended"
    add_timeline_entry(
        session,
        row,
        actor,
        "containment",
        f"{model.name} {version.version}: {what}. {data.reason}",
        moment,
        data={"kind": data.kind, "model": model.name, "version": version.version},
    )
    session.flush()
    record_event(
        session,
        actor,
        "incident.contain",
        row,
        containment=containment.id,
        kind=data.kind,
        model=model.name,
        model_id=model.id,
        version=version.version,
        previous_stage=previous_stage,
    )
    return containment_read(containment, Names(session, [row]))


def lift_containment(
    session: Session,
    actor: Principal,
    incident_id: int,
    containment_id: int,
    data: ContainmentLift,
    *,
    protection: Protection,
    now: datetime | None = None,
) -> ContainmentRead:
    """End a containment. A deprecation with ``restore`` moves the version back to production (the
    inventory's gates apply: a refusal changes nothing); without it the version stays where it is."""
    moment = current_time(now)
    row = incident_for(session, actor, incident_id, P.INCIDENT_WRITE)
    containment = next((c for c in row.containments if c.id == containment_id), None)
    if containment is None:
        raise NotFound(f"Incident {row.id} has no containment {containment_id}.")
    if not containment.active:
        raise Conflict(f"Containment {containment_id} was already lifted at {containment.lifted_at}.")
    model = session.get(ModelRow, containment.model_id)
    version = session.get(ModelVersionRow, containment.version_id)
    assert model is not None and version is not None
    authorize(actor, P.INCIDENT_WRITE, inventory.scope_of(model))
    restored = None
    if containment.kind == "deprecate_version" and data.restore:
        if version.stage != "deprecated":
            raise Conflict(
                f"Version {version.version} of {model.name} is now in {version.stage!r}, no longer deprecated: "
                "it cannot be restored; lift with `restore: false`."
            )
        restored = containment.previous_stage or "production"
        comment = f"Containment of incident {row.id} lifted: {data.reason}"
        inventory.promote(
            session,
            actor,
            model.id,
            version.version,
            Promotion(stage=restored, comment=comment),
            protection=protection,
        )
    containment.active = False
    containment.lifted_at, containment.lifted_by, containment.lift_reason = moment, actor.actor, data.reason
    row.updated_at = moment
    what = {"deprecate_version": "deprecation", "suspend_logging": "decision-logging suspension"}[containment.kind]
    body = f"{model.name} {version.version}: {what} lifted" + (f", back in {restored}" if restored else "")
    add_timeline_entry(
        session,
        row,
        actor,
        "containment",
        f"{body}. {data.reason}",
        moment,
        data={"kind": containment.kind, "lifted": containment.id, "restored": restored},
    )
    session.flush()
    record_event(
        session,
        actor,
        "incident.lift",
        row,
        containment=containment.id,
        kind=containment.kind,
        model=model.name,
        version=version.version,
        restored=restored,
    )
    return containment_read(containment, Names(session, [row]))
