"""The content of a report to an authority, assembled from an incident. Pure: no database, no web.

What each regime asks for:

- **EU AI Act Art. 73** (serious incident, to the market surveillance authority of the Member
  State where it occurred): the AI system, what happened and when the provider became aware, the
  people affected and the harm, the causal link to the system as far as known, and the corrective
  measures. An initial, incomplete report is allowed and completed later (Art. 73(5)); the system
  must not be altered in a way that affects the evaluation of causes before the authority is
  informed (Art. 73(6)).
- **GDPR Art. 33(3)** (personal-data breach, to the supervisory authority): (a) the nature of the
  breach, the categories and approximate number of data subjects and of records; (b) the name
  and contact details of the DPO or another contact point; (c) the likely consequences; (d) the
  measures taken or proposed, including mitigation. Information may follow in phases
  (Art. 33(4)); a notification after 72 hours gives the reasons for the delay (Art. 33(1)).

Fields a report needs that the incident does not hold yet are listed in ``missing``, so a person
sees what to fill in; nothing is refused for being incomplete.
"""

from __future__ import annotations

from datetime import datetime

from charter.incidents.lifecycle import clock_state
from charter.incidents.schemas import (
    AffectedRead,
    EntryRead,
    IncidentRead,
    RegulatorReport,
    ReportEntry,
    ReportSystem,
)

REGULATIONS = {
    "eu_ai_act_serious": "EU AI Act Art. 73(2): serious incident, at the latest 15 days after awareness",
    "eu_ai_act_widespread": "EU AI Act Art. 73(3): widespread infringement or serious and irreversible disruption "
    "of critical infrastructure, at the latest 2 days after awareness",
    "eu_ai_act_death": "EU AI Act Art. 73(4): death of a person, at the latest 10 days after awareness",
    "gdpr_breach": "GDPR Art. 33: personal-data breach, within 72 hours of becoming aware",
}
AUTHORITIES = {
    "eu_ai_act": "the market surveillance authority of each Member State where the incident occurred",
    "gdpr": "the competent supervisory authority (GDPR Art. 55/56)",
}
#: Entry kinds that are measures taken (containments included).
MEASURES = ("immediate_action", "mitigation", "containment")


def _entry(e: EntryRead) -> ReportEntry:
    return ReportEntry(
        at=e.at, kind=e.kind, summary=e.body, by=e.created_by, audience=e.audience, recipient=e.recipient
    )


def _missing(incident: IncidentRead, regime: str, systems: list[ReportSystem]) -> list[str]:
    gdpr = regime == "gdpr_breach"
    needed: dict[str, bool] = {
        "description": bool(incident.description),
        "contact_point": bool(incident.contact_point),
        "consequences": bool(incident.consequences),
        "affected_people": incident.affected_people is not None,
        "affected_groups": bool(incident.affected_groups),
        "measures_taken": any(e.kind in MEASURES for e in incident.timeline or []),
    }
    if gdpr:
        needed["data_categories"] = bool(incident.data_categories)
        needed["records_affected"] = incident.records_affected is not None
    else:
        needed["ai_systems"] = bool(systems)
        needed["member_states"] = bool(incident.member_states)
    return [name for name, present in needed.items() if not present]


def _notes(regime: str, late: bool, submitted: bool) -> list[str]:
    notes: list[str] = []
    if regime == "gdpr_breach":
        notes.append("Information that is not yet known may be provided in phases without undue delay (Art. 33(4)).")
        if late:
            notes.append("The notification is later than 72 hours: give the reasons for the delay (Art. 33(1)).")
        notes.append("If the breach is likely to result in a high risk to people, they must be told too (Art. 34).")
    else:
        notes.append("An initial report may be incomplete and completed later (Art. 73(5)).")
        notes.append(
            "Do not alter the AI system in a way that may affect the evaluation of the causes before "
            "informing the authority (Art. 73(6))."
        )
    if not submitted:
        notes.append("This is a draft: mark the report submitted once it has been sent.")
    return notes


def build_report(incident: IncidentRead, regime: str, systems: list[ReportSystem], *, now: datetime) -> RegulatorReport:
    """The report for ``regime``; ``incident`` is a single read (with its timeline) marked reportable under it."""
    mark = next((r for r in incident.reports if r.regime == regime), None)
    if mark is None:
        raise ValueError(f"incident {incident.id} is not marked reportable under {regime}")
    state = clock_state(mark.due_at, mark.submitted_at, now)
    timeline = incident.timeline or []
    review = incident.review
    follow_ups = review.follow_ups if review else []
    proposed = [f"{f.action} (owner {f.owner}, due {f.due_date.isoformat()})" for f in follow_ups if not f.done]
    return RegulatorReport(
        regime=mark.regime,
        regulation=REGULATIONS[regime],
        authority=AUTHORITIES["gdpr" if regime == "gdpr_breach" else "eu_ai_act"],
        incident_id=incident.id,
        title=incident.title,
        type=incident.type,
        severity=incident.severity,
        status=incident.status,
        detected_at=incident.detected_at,
        due_at=mark.due_at,
        submitted_at=mark.submitted_at,
        submission_reference=mark.reference,
        overdue=state.overdue,
        late=state.breached,
        contact_point=incident.contact_point,
        nature=incident.description or incident.title,
        ai_systems=systems,
        affected=AffectedRead(
            people=incident.affected_people,
            groups=incident.affected_groups,
            data_categories=incident.data_categories,
            records=incident.records_affected,
        ),
        consequences=incident.consequences,
        member_states=incident.member_states,
        root_cause=review.root_cause if review else None,
        measures_taken=[_entry(e) for e in timeline if e.kind in MEASURES],
        measures_proposed=proposed,
        communications=[_entry(e) for e in timeline if e.kind == "communication"],
        timeline=[_entry(e) for e in timeline],
        missing=_missing(incident, regime, systems),
        notes=_notes(regime, state.breached, mark.submitted_at is not None),
        generated_at=now,
    )
