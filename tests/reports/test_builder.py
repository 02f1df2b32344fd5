"""The report document built from real seeded data: a model's report, an organisation's, periods, scoping, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from charter.errors import InvalidInput, NotFound, PermissionDenied
from charter.reports.builder import build_model_report, build_organisation_report
from charter.reports.schemas import ReportDocument
from tests.reports.conftest import MODEL, Governed, as_user


def year() -> tuple[datetime, datetime]:
    """The year up to now: taken when a test runs, not at collection (a long suite runs for minutes)."""
    now = datetime.now(UTC)
    return now - timedelta(days=365), now + timedelta(minutes=5)


def model_report(governed: Governed, user: str = "rosa", **kwargs: object) -> ReportDocument:
    start, end = kwargs.pop("period", None) or year()  # type: ignore[misc]
    with governed.session() as s:
        return build_model_report(
            s,
            as_user(s, user),
            kwargs.pop("model", MODEL),  # type: ignore[arg-type]
            start=start,
            end=end,
            public_key=governed.public_key,
            **kwargs,  # type: ignore[arg-type]
        )


def org_report(governed: Governed, user: str = "rosa", **kwargs: object) -> ReportDocument:
    with governed.session() as s:
        return build_organisation_report(
            s,
            as_user(s, user),
            start=year()[0],
            end=year()[1],
            public_key=governed.public_key,
            **kwargs,  # type: ignore[arg-type]
        )


def test_the_eu_ai_act_report_lists_the_waiver_as_an_open_gap(governed: Governed) -> None:
    waiver = governed.waiver
    document = model_report(governed, frameworks=["eu-ai-act"])
    assert document.kind == "model" and document.frameworks == ["eu-ai-act"]
    (section,) = document.models
    assert (section.model, section.version, section.stage, section.team) == (
        MODEL,
        "1.0.0",
        "production",
        "credit-risk",
    )
    waived = [g for g in section.gaps if g.kind == "waived"]
    assert [(g.framework, g.ref, g.waiver) for g in waived] == [
        ("eu-ai-act", "high-risk-fairness/disparate-impact", waiver["id"])
    ]
    assert waived[0].waiver_expires_at is not None and waived[0].status == "not_satisfied"
    # Full requirement detail in a model report, only the framework asked for.
    (framework,) = section.frameworks
    assert framework.framework == "eu-ai-act" and framework.requirements
    assert sum(framework.counts.values()) == len(framework.requirements)
    assert any(r.waived for r in framework.requirements)
    # The waiver, the approval and the promotion it allowed, the fairness evidence behind the failure.
    assert [(w.id, w.rule, w.status, w.approved_by) for w in section.waivers] == [
        (waiver["id"], "disparate-impact", "active", "user:rosa")
    ]
    moves = [(t.to_stage, t.by) for t in section.transitions]
    assert moves == [("review", "user:olivia"), ("approved", "user:rita"), ("production", "user:olivia")]
    (fairness,) = section.fairness
    assert fairness.passed is False and fairness.highlights["four_fifths_ratio"] == pytest.approx(0.4)
    assert section.monitoring == []
    assert document.totals.models == 1 and document.totals.waived_gaps == 1
    assert document.totals.gaps == len(section.gaps)
    # The chain was verified while building, and the model's events in the period counted.
    assert document.audit.ok and document.audit.fault is None and document.audit.events > 0
    assert 0 < document.audit.events_in_period < document.audit.events


def test_every_framework_by_default_and_risk_from_the_latest_assessment(governed: Governed) -> None:
    gov = governed.gov
    assert model_report(governed).models[0].risk is None  # never assessed
    path = f"/api/v1/risk/models/{MODEL}/versions/1.0.0/assessments"
    first = gov.ok(gov.client.post(path, headers=gov.owner), 201)
    gov.fairness("1.0.0", (50, 45))  # new evidence re-assesses the version
    assessments = gov.ok(gov.client.get(path, headers=gov.owner))  # type: ignore[arg-type]
    newest = max(a["id"] for a in assessments)  # type: ignore[union-attr]
    assert newest > first["id"]
    document = model_report(governed)
    section = document.models[0]
    assert {f.framework for f in section.frameworks} == {"eu-ai-act", "gdpr", "nist-ai-rmf", "iso-42001"}
    assert document.frameworks == [f.framework for f in section.frameworks]
    assert section.risk is not None and section.risk.assessment == newest
    assert section.risk.rating in {"low", "medium", "high", "critical"}
    assert section.risk.factors and all(0.0 <= f.score <= 1.0 for f in section.risk.factors)
    assert document.totals.by_rating == {section.risk.rating: 1}
    assert len(section.fairness) == 2 and section.fairness[0].id > section.fairness[1].id  # newest first


def test_the_period_limits_what_is_dated(governed: Governed) -> None:
    gov = governed.gov
    gov.ok(
        gov.client.post(
            "/api/v1/incidents",
            json={
                "title": "Approval rate collapsed for applicants over 60",
                "type": "bias_fairness",
                "severity": "SEV2",
                "models": [{"model": MODEL, "version": "1.0.0"}],
            },
            headers=gov.owner,
        ),
        201,
    )
    recent = model_report(governed)
    assert [i.severity for i in recent.models[0].incidents] == ["SEV2"] and recent.totals.open_incidents == 1
    now = datetime.now(UTC)
    last_year = (now - timedelta(days=400), now - timedelta(days=300))
    old = model_report(governed, period=last_year)
    section = old.models[0]
    assert section.incidents == [] and section.transitions == [] and section.waivers == []
    assert section.fairness == [] and old.audit.events_in_period == 0
    # The status is the model's status when the report is built: the waived gap is still there.
    assert any(g.kind == "waived" for g in section.gaps)
    assert old.period.start == last_year[0] and old.period.end == last_year[1]


def test_an_organisation_report_counts_and_is_scoped_to_what_the_reader_may_see(governed: Governed) -> None:
    gov = governed.gov
    other = {"name": "cv-screening", "team": "people-analytics", "domain": "employment", "purpose": "Rank CVs"}
    gov.ok(gov.client.post("/api/v1/models", json=other, headers=gov.outsider), 201)
    version = gov.client.post("/api/v1/models/cv-screening/versions", json={"version": "0.1.0"}, headers=gov.outsider)
    gov.ok(version, 201)
    empty = {"name": "no-versions-yet", "team": "credit-risk", "domain": "credit"}
    gov.ok(gov.client.post("/api/v1/models", json=empty, headers=gov.owner), 201)
    seen: list[tuple[int, int]] = []
    document = org_report(governed, progress=lambda done, total: seen.append((done, total)))
    assert document.kind == "organisation"
    assert [m.model for m in document.models] == ["credit-scoring", "cv-screening"]  # no version: no status
    assert seen == [(1, 2), (2, 2)]
    assert all(f.requirements == [] for m in document.models for f in m.frameworks)  # counts and gaps only
    credit = document.models[0]
    assert any(g.kind == "waived" and g.waiver == governed.waiver["id"] for g in credit.gaps)
    for framework in document.frameworks:
        assert document.totals.by_status[framework] == {
            status: sum(
                f.counts.get(status, 0) for m in document.models for f in m.frameworks if f.framework == framework
            )
            for status in document.totals.by_status[framework]
        }
    assert document.totals.gaps == sum(len(m.gaps) for m in document.models)
    assert sum(document.totals.by_rating.values()) == 2
    # A team's viewer: not the whole organisation, but their own team, and only its models.
    with pytest.raises(PermissionDenied):
        org_report(governed, "vera")
    team = org_report(governed, "vera", team="credit-risk")
    assert [m.model for m in team.models] == ["credit-scoring"]
    with pytest.raises(PermissionDenied):
        org_report(governed, "vera", team="people-analytics")
    with pytest.raises(PermissionDenied):
        model_report(governed, "vera", model="cv-screening")
    with pytest.raises(NotFound, match="No team 'ghosts'"):
        org_report(governed, team="ghosts")


def test_a_broken_chain_is_reported_not_hidden(governed: Governed) -> None:
    with governed.session() as s:
        seq, body = s.execute(text("SELECT seq, body FROM audit_events WHERE seq = 3")).one()
        changed = body.replace('"outcome":"allowed"', '"outcome":"denied"')
        assert changed != body
        s.execute(text("UPDATE audit_events SET body = :b WHERE seq = :s"), {"b": changed, "s": seq})
    document = model_report(governed)
    assert document.audit.ok is False
    assert document.audit.fault is not None and "seq 3" in document.audit.fault and "modified" in document.audit.fault


def test_bad_input_is_refused_with_a_message(governed: Governed) -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match=r"ends .* before it starts"):
        model_report(governed, period=(now, now - timedelta(days=1)))
    with pytest.raises(NotFound, match="No compliance framework 'sox'; known: eu-ai-act"):
        model_report(governed, frameworks=["eu-ai-act", "sox"])
    with pytest.raises(NotFound, match="No model 'ghost'"):
        model_report(governed, model="ghost")
    with pytest.raises(NotFound, match="has no version"):
        model_report(governed, version="9.9.9")
