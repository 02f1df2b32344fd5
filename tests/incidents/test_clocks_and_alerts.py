"""Clocks with fixed times (response SLAs, regulatory deadlines, overdue) and alert deduplication.

These call the services directly with an injected ``now``, as the worker and the monitoring slice
will; the HTTP surface of the same functions is tested in the other files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from charter.db.engine import Database
from charter.errors import Conflict, InvalidInput
from charter.identity import service as identity
from charter.identity.schemas import TeamCreate
from charter.incidents import service
from charter.incidents.schemas import (
    AffectedModel,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    ReportableMark,
    ReportSubmission,
    StatusChange,
)
from charter.inventory import service as inventory
from charter.inventory.schemas import ModelCreate, VersionCreate
from tests.conftest import OPERATOR

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def run(db: Database) -> Iterator[Callable[[Callable[[Session], Any]], Any]]:
    """Run one unit of work (committed), as a request or a worker tick would."""
    with db.session() as session:
        identity.create_team(session, OPERATOR, TeamCreate(name="credit-risk"))
        inventory.register_model(session, OPERATOR, ModelCreate(name="credit-scoring", team="credit-risk"))
        inventory.create_version(session, OPERATOR, "credit-scoring", VersionCreate(version="1.0.0"))

    def _run(work: Callable[[Session], Any]) -> Any:
        with db.session() as session:
            return work(session)

    yield _run


def report(run: Callable[..., Any], at: datetime, **fields: Any) -> IncidentRead:
    data = IncidentCreate(
        **{"title": "Scores drifted", "type": "performance", "severity": "SEV1", **fields}  # type: ignore[arg-type]
    )
    return run(lambda s: service.report_incident(s, OPERATOR, data, now=at))  # type: ignore[no-any-return]


def read(run: Callable[..., Any], incident_id: int, at: datetime) -> IncidentRead:
    return run(lambda s: service.read_incident(s, OPERATOR, incident_id, now=at))  # type: ignore[no-any-return]


def move(run: Callable[..., Any], incident_id: int, status: str, at: datetime) -> IncidentRead:
    change = StatusChange(status=status)  # type: ignore[arg-type]
    return run(lambda s: service.change_status(s, OPERATOR, incident_id, change, now=at))  # type: ignore[no-any-return]


def overdue(run: Callable[..., Any], at: datetime) -> list[tuple[int, str, str | None, int]]:
    found = run(lambda s: service.overdue(s, at))
    return [(c.incident_id, c.kind, c.regime, c.overdue_seconds) for c in found]


def test_response_sla_runs_from_the_report_until_triage(run: Callable[..., Any]) -> None:
    incident = report(run, T0, detected_at=T0 - timedelta(hours=5))
    due = T0 + timedelta(minutes=15)  # SEV1, counted from the report, not from the detection
    assert incident.clocks[0].due_at == due
    before = read(run, incident.id, due - timedelta(seconds=1))
    assert (before.overdue, before.clocks[0].remaining_seconds) == (False, 1)
    assert overdue(run, due - timedelta(seconds=1)) == []
    after = read(run, incident.id, due + timedelta(seconds=1))
    assert (after.overdue, after.clocks[0].remaining_seconds, after.clocks[0].breached) == (True, -1, True)
    assert overdue(run, due + timedelta(seconds=1)) == [(incident.id, "response", None, 1)]
    listed = run(lambda s: service.list_incidents(s, OPERATOR, overdue=True, now=due + timedelta(seconds=1)))
    assert [i.id for i in listed.items] == [incident.id]
    triaged = move(run, incident.id, "triaged", due + timedelta(minutes=5))
    clock = triaged.clocks[0]
    assert (clock.met_at, clock.overdue, clock.breached, clock.remaining_seconds) == (
        due + timedelta(minutes=5),
        False,
        True,
        None,
    )
    assert overdue(run, due + timedelta(days=1)) == []
    assert run(lambda s: service.list_incidents(s, OPERATOR, overdue=True, now=due + timedelta(days=1))).items == []


def test_a_new_severity_before_triage_moves_the_response_deadline(run: Callable[..., Any]) -> None:
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    incident = report(run, friday, severity="SEV4")
    assert incident.clocks[0].due_at == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # one business day: Monday
    raised = run(
        lambda s: service.update_incident(
            s, OPERATOR, incident.id, IncidentUpdate(severity="SEV2"), now=friday + timedelta(minutes=10)
        )
    )
    assert raised.clocks[0].due_at == friday + timedelta(hours=1)
    custom = report(run, T0, severity="SEV3", title="other")
    assert custom.clocks[0].due_at == T0 + timedelta(hours=4)
    configured = run(
        lambda s: service.report_incident(
            s,
            OPERATOR,
            IncidentCreate(title="x", type="safety", severity="SEV3"),
            slas={"SEV3": "30m"},
            now=T0,
        )
    )
    assert configured.clocks[0].due_at == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("regime", "period"),
    [
        ("eu_ai_act_serious", timedelta(days=15)),
        ("eu_ai_act_widespread", timedelta(days=2)),
        ("eu_ai_act_death", timedelta(days=10)),
        ("gdpr_breach", timedelta(hours=72)),
    ],
)
def test_regulatory_clock_runs_from_detection_until_submission(
    run: Callable[..., Any], regime: str, period: timedelta
) -> None:
    detected = T0 - timedelta(hours=20)
    incident = report(run, T0, detected_at=detected, type="privacy")
    move(run, incident.id, "triaged", T0 + timedelta(minutes=1))
    marked = run(
        lambda s: service.mark_reportable(
            s, OPERATOR, incident.id, ReportableMark(regime=regime), now=T0 + timedelta(hours=1)
        )
    )
    due = detected + period
    clock = next(c for c in marked.clocks if c.kind == "regulatory")
    assert (clock.regime, clock.due_at, clock.met_at, clock.overdue) == (regime, due, None, False)
    assert clock.remaining_seconds == int((due - (T0 + timedelta(hours=1))).total_seconds())
    assert overdue(run, due) == []
    assert overdue(run, due + timedelta(minutes=1)) == [(incident.id, "regulatory", regime, 60)]
    late = read(run, incident.id, due + timedelta(minutes=1))
    assert late.overdue and next(c for c in late.clocks if c.kind == "regulatory").remaining_seconds == -60
    submitted = run(
        lambda s: service.mark_submitted(
            s,
            OPERATOR,
            incident.id,
            regime,
            ReportSubmission(reference="case-17", submitted_at=due - timedelta(hours=1)),
            now=due + timedelta(minutes=1),
        )
    )
    clock = next(c for c in submitted.clocks if c.kind == "regulatory")
    assert (clock.met_at, clock.overdue, clock.breached) == (due - timedelta(hours=1), False, False)
    assert submitted.reports[0].reference == "case-17" and submitted.reports[0].submitted_by == "system:tests"
    assert overdue(run, due + timedelta(days=30)) == []


def test_changing_the_detection_time_moves_every_regulatory_deadline(run: Callable[..., Any]) -> None:
    incident = report(run, T0, detected_at=T0 - timedelta(hours=1))
    for regime in ("gdpr_breach", "eu_ai_act_serious"):
        run(lambda s, r=regime: service.mark_reportable(s, OPERATOR, incident.id, ReportableMark(regime=r), now=T0))
    earlier = T0 - timedelta(days=3)
    updated = run(
        lambda s: service.update_incident(s, OPERATOR, incident.id, IncidentUpdate(detected_at=earlier), now=T0)
    )
    dues = {r.regime: r.due_at for r in updated.reports}
    assert dues == {"gdpr_breach": earlier + timedelta(hours=72), "eu_ai_act_serious": earlier + timedelta(days=15)}
    # 72 hours from three days ago has passed: the GDPR clock is overdue at once, and listed as such.
    assert overdue(run, T0 + timedelta(minutes=1))[-1] == (incident.id, "regulatory", "gdpr_breach", 60)
    with pytest.raises(InvalidInput, match="cannot be after the incident was reported"):
        run(
            lambda s: service.update_incident(
                s,
                OPERATOR,
                incident.id,
                IncidentUpdate(detected_at=T0 + timedelta(minutes=1)),
                now=T0 + timedelta(hours=1),
            )
        )


def test_regulatory_marks_and_submissions_refuse_what_makes_no_sense(run: Callable[..., Any]) -> None:
    incident = report(run, T0)
    mark = ReportableMark(regime="gdpr_breach")
    run(lambda s: service.mark_reportable(s, OPERATOR, incident.id, mark, now=T0))
    with pytest.raises(Conflict, match="already marked reportable under gdpr_breach"):
        run(lambda s: service.mark_reportable(s, OPERATOR, incident.id, mark, now=T0))
    with pytest.raises(Conflict, match="not marked reportable under 'eu_ai_act_death'"):
        run(lambda s: service.mark_submitted(s, OPERATOR, incident.id, "eu_ai_act_death", ReportSubmission(), now=T0))
    with pytest.raises(InvalidInput, match="before the incident was detected"):
        run(
            lambda s: service.mark_submitted(
                s,
                OPERATOR,
                incident.id,
                "gdpr_breach",
                ReportSubmission(submitted_at=T0 - timedelta(days=1)),
                now=T0 + timedelta(hours=1),
            )
        )
    run(lambda s: service.mark_submitted(s, OPERATOR, incident.id, "gdpr_breach", ReportSubmission(), now=T0))
    with pytest.raises(Conflict, match="already submitted"):
        run(lambda s: service.mark_submitted(s, OPERATOR, incident.id, "gdpr_breach", ReportSubmission(), now=T0))


def test_overdue_lists_both_kinds_most_overdue_first(run: Callable[..., Any]) -> None:
    first = report(run, T0, severity="SEV2")  # response due T0 + 1 h
    second = report(run, T0, detected_at=T0 - timedelta(hours=80), title="breach")  # SEV1: due T0 + 15 min
    move(run, second.id, "triaged", T0 + timedelta(minutes=5))
    run(lambda s: service.mark_reportable(s, OPERATOR, second.id, ReportableMark(regime="gdpr_breach"), now=T0))
    at = T0 + timedelta(hours=2)
    assert overdue(run, at) == [
        (second.id, "regulatory", "gdpr_breach", int(timedelta(hours=10).total_seconds())),
        (first.id, "response", None, 3600),
    ]


def alert(run: Callable[..., Any], at: datetime, key: str = "drift:credit-scoring", **fields: Any) -> Any:
    values: dict[str, Any] = {
        "type": "performance",
        "severity": "SEV3",
        "title": "PSI above 0.25 on income",
        "models": [AffectedModel(model="credit-scoring", version="1.0.0")],
        "details": {"psi": 0.31},
        **fields,
    }
    return run(lambda s: service.open_or_attach(s, OPERATOR, dedup_key=key, now=at, **values))


def test_alerts_with_one_key_land_in_one_open_incident(run: Callable[..., Any], db: Database) -> None:
    opened = alert(run, T0)
    assert opened.created and opened.incident.source == "monitoring_alert"
    assert opened.incident.dedup_key == "drift:credit-scoring" and opened.incident.details == {"psi": 0.31}
    again = alert(run, T0 + timedelta(minutes=5), details={"psi": 0.35})
    assert not again.created and again.incident.id == opened.incident.id
    assert again.incident.severity == "SEV3"
    worse = alert(run, T0 + timedelta(minutes=10), severity="SEV1", title="PSI above 0.5")
    assert not worse.created and worse.incident.severity == "SEV1"
    assert worse.incident.clocks[0].due_at == T0 + timedelta(minutes=15)  # SEV1 from the original report
    milder = alert(run, T0 + timedelta(minutes=12), severity="SEV4")
    assert milder.incident.severity == "SEV1"  # an alert never lowers the severity
    other = alert(run, T0 + timedelta(minutes=13), key="drift:other")
    assert other.created and other.incident.id != opened.incident.id
    timeline = read(run, opened.incident.id, T0 + timedelta(hours=1)).timeline or []
    alerts = [e for e in timeline if e.kind == "alert"]
    assert [e.data["details"] for e in alerts] == [{"psi": 0.35}, {"psi": 0.31}, {"psi": 0.31}]
    assert "raised from SEV3 to SEV1" in alerts[1].body
    with db.session() as session:
        events = audit_events(session, "incident.alert")
    assert [e.details["escalated_from"] for e in events] == [None, "SEV3", None]
    assert {e.resource_id for e in events} == {str(opened.incident.id)}


def audit_events(session: Session, action: str) -> list[Any]:
    from charter.audit import service as audit
    from charter.audit.schemas import AuditFilter

    page = audit.list_events(session, OPERATOR, AuditFilter(action=action), limit=500)
    return list(reversed(page.items))


@pytest.mark.parametrize("closing", [("resolved",), ("resolved", "closed")])
def test_a_resolved_incident_takes_no_more_alerts(run: Callable[..., Any], closing: tuple[str, ...]) -> None:
    opened = alert(run, T0, severity="SEV4")
    for n, status in enumerate(("triaged", "investigating", "mitigating", *closing)):
        move(run, opened.incident.id, status, T0 + timedelta(minutes=n + 1))
    again = alert(run, T0 + timedelta(hours=1), severity="SEV4")
    assert again.created and again.incident.id != opened.incident.id
    assert alert(run, T0 + timedelta(hours=2), severity="SEV4").incident.id == again.incident.id


def test_bad_alerts_are_invalid_input(run: Callable[..., Any]) -> None:
    with pytest.raises(InvalidInput, match="dedup_key"):
        alert(run, T0, key="  ")
    with pytest.raises(InvalidInput, match="severity"):
        alert(run, T0, severity="SEV0")
    alert(run, T0)
    with pytest.raises(InvalidInput, match="severity"):
        alert(run, T0, severity="SEV0")  # attaching checks it too


def test_concurrent_alerts_with_one_key_open_one_incident(run: Callable[..., Any], db: Database) -> None:
    # Eight workers raise the same alert at once; the key's lock makes all but one attach.
    workers = 8
    barrier = threading.Barrier(workers)

    def raise_alert(n: int) -> bool:
        barrier.wait()
        with db.session() as session:
            outcome = service.open_or_attach(
                session,
                OPERATOR,
                dedup_key="latency:credit-scoring",
                type="availability",
                severity="SEV3",
                title=f"p99 latency above 2 s (worker {n})",
                now=T0,
            )
        return outcome.created

    with ThreadPoolExecutor(workers) as pool:
        created = list(pool.map(raise_alert, range(workers)))
    assert sorted(created) == [False] * (workers - 1) + [True]
    page = run(lambda s: service.list_incidents(s, OPERATOR, now=T0))
    (incident,) = page.items
    timeline = read(run, incident.id, T0).timeline or []
    assert [e.kind for e in timeline].count("alert") == workers - 1
