"""Incidents over ``/api/v1/incidents``: report, work through the lifecycle, contain, review, report to authorities.

``report_incident`` and ``handle_incident`` are the framework's names; the other methods map one
to one onto the REST routes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from charter.client.base import ClientBase, Moment, paginate, plain, query, segment
from charter.incidents.schemas import (
    ContainmentRead,
    EntryRead,
    IncidentRead,
    RegulatorReport,
    ReviewRead,
)
from charter.pagination import Page

#: An affected model: ``"name"``, ``"name@version"``, ``(name, version)`` or ``{"model", "version"}``.
ModelRef = str | tuple[str, str | None] | Mapping[str, Any]


def _model(ref: ModelRef) -> dict[str, Any]:
    if isinstance(ref, str):
        name, _, version = ref.partition("@")
        return {"model": name, "version": version or None}
    if isinstance(ref, tuple):
        return {"model": ref[0], "version": ref[1]}
    return dict(ref)


def _path(incident: int, *parts: str) -> str:
    return "/".join([f"/api/v1/incidents/{segment(incident)}", *parts])


class IncidentsAPI(ClientBase):
    def report_incident(
        self,
        title: str,
        *,
        type: str,
        severity: str,
        models: Sequence[ModelRef] = (),
        **fields: Any,
    ) -> IncidentRead:
        """Report an incident. ``fields``: description, source, detected_at, commander, assignee,
        affected_people, affected_groups, data_categories, records_affected, consequences,
        contact_point, member_states, details (see ``IncidentCreate``)."""
        body = {"title": title, "type": type, "severity": severity, "models": [_model(m) for m in models], **fields}
        return self._post(IncidentRead, "/api/v1/incidents", plain(body))

    def get_incident(self, incident: int) -> IncidentRead:
        """One incident with its timeline, clocks, containments and review."""
        return self._get(IncidentRead, _path(incident))

    def list_incidents(
        self,
        *,
        status: str | Sequence[str] | None = None,
        severity: str | Sequence[str] | None = None,
        type: str | None = None,
        model: str | None = None,
        overdue: bool | None = None,
        page_size: int = 100,
    ) -> Iterator[IncidentRead]:
        """Every incident you may read that matches, newest first, page by page."""
        params = query(
            status=[status] if isinstance(status, str) else status,
            severity=[severity] if isinstance(severity, str) else severity,
            type=type,
            model=model,
            overdue=None if overdue is None else str(overdue).lower(),
            limit=page_size,
        )
        return paginate(
            lambda cursor: self._get(Page[IncidentRead], "/api/v1/incidents", {**params, **query(cursor=cursor)})
        )

    def update_incident(self, incident: int, **changes: Any) -> IncidentRead:
        """Change the fields given (``models`` as in ``report_incident`` replaces the list)."""
        if "models" in changes and changes["models"] is not None:
            changes["models"] = [_model(m) for m in changes["models"]]
        data = self._transport.json("PATCH", _path(incident), json=plain(changes))
        return IncidentRead.model_validate(data)

    def handle_incident(self, incident: int, status: str, *, note: str | None = None) -> IncidentRead:
        """Move an incident to its next status (``triaged``, ``investigating``, ``mitigating``,
        ``resolved``, ``closed``; ``investigating`` again reopens it). A refused move raises
        ``Conflict`` naming the allowed next statuses in ``details["allowed"]``."""
        return self._post(IncidentRead, _path(incident, "status"), query(status=status, note=note))

    def add_incident_entry(
        self,
        incident: int,
        kind: str,
        body: str,
        *,
        audience: str | None = None,
        recipient: str | None = None,
        at: Moment | None = None,
    ) -> EntryRead:
        """Add an ``immediate_action``, ``investigation_note``, ``mitigation`` or ``communication``
        (with ``audience`` internal/external and ``recipient``) to the timeline."""
        entry = query(kind=kind, body=body, audience=audience, recipient=recipient, at=at)
        return self._post(EntryRead, _path(incident, "timeline"), plain(entry))

    def assign_incident(self, incident: int, **roles: str | None) -> IncidentRead:
        """``commander=`` and/or ``assignee=`` (a user name; None unassigns)."""
        return self._post(IncidentRead, _path(incident, "assignment"), roles)

    def mark_reportable(self, incident: int, regime: str, *, reason: str | None = None) -> IncidentRead:
        """Start a regulatory clock: ``eu_ai_act_serious``, ``eu_ai_act_widespread``, ``eu_ai_act_death``
        or ``gdpr_breach``, counted from the incident's ``detected_at``."""
        return self._post(IncidentRead, _path(incident, "reportable"), query(regime=regime, reason=reason))

    def mark_report_submitted(
        self,
        incident: int,
        regime: str,
        *,
        reference: str | None = None,
        submitted_at: Moment | None = None,
        note: str | None = None,
    ) -> IncidentRead:
        body = plain(query(reference=reference, submitted_at=submitted_at, note=note))
        return self._post(IncidentRead, _path(incident, "reportable", segment(regime), "submitted"), body)

    def regulator_report(self, incident: int, regime: str) -> RegulatorReport:
        """The content of the report to the authority, assembled from the incident."""
        return self._get(RegulatorReport, _path(incident, "report"), {"regime": regime})

    def contain(self, incident: int, kind: str, model: str, version: str, *, reason: str) -> ContainmentRead:
        """``deprecate_version`` (out of production) or ``suspend_logging`` (refuse its decisions)."""
        body = {"kind": kind, "model": model, "version": version, "reason": reason}
        return self._post(ContainmentRead, _path(incident, "containments"), body)

    def lift_containment(
        self, incident: int, containment: int, *, reason: str, restore: bool = True
    ) -> ContainmentRead:
        path = _path(incident, "containments", segment(containment), "lift")
        return self._post(ContainmentRead, path, {"reason": reason, "restore": restore})

    def write_review(
        self,
        incident: int,
        *,
        root_cause: str,
        contributing_factors: Sequence[str] = (),
        follow_ups: Sequence[Mapping[str, Any]] = (),
        lessons: str | None = None,
    ) -> ReviewRead:
        """The post-incident review; each follow-up is ``{"action", "owner", "due_date", "done"?}``."""
        body = {
            "root_cause": root_cause,
            "contributing_factors": list(contributing_factors),
            "follow_ups": [dict(f) for f in follow_ups],
            "lessons": lessons,
        }
        data = self._transport.json("PUT", _path(incident, "review"), json=plain(body))
        return ReviewRead.model_validate(data)
