"""Report documents built by hand for the renderer tests (no database, no builder).

``model_report()`` has what a reader must not miss: a waived gap (the COMPAS waiver of the demo),
an expired attestation, an incident, people with non-Latin names and a title that tries HTML
injection. ``organisation_report(n)`` has ``n`` models, as an organisation report of a large estate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from charter.compliance.schemas import Finding, Gap, RequirementStatus
from charter.reports.schemas import (
    AuditIntegrity,
    EvidenceSummary,
    FactorSummary,
    FrameworkResult,
    IncidentSummary,
    ModelSection,
    Period,
    RegisterEntry,
    ReportDocument,
    RiskSummary,
    Totals,
    Transition,
    WaiverSummary,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)
GENERATED = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
OWNER = "Zoë Ångström 李"
INJECTION = "<script>alert(1)</script>"
WAIVER_ID = 7
WAIVER_EXPIRES = datetime(2025, 6, 30, tzinfo=UTC)
FAIRNESS_SHA = "a" * 64
ATTESTATION_ID = 31
SHA_EU = "e" * 64
SHA_NIST = "f" * 64


def _waived_requirement() -> RequirementStatus:
    detail = (
        "fails (disparate impact 0.71 below 0.8); excused by waiver 7 until 2025-06-30: "
        "an open gap until it passes on its own"
    )
    return RequirementStatus(
        id="Art. 10",
        title="Data and data governance",
        references=["Regulation (EU) 2024/1689, Art. 10(2)(f)"],
        status="not_satisfied",
        waived=True,
        applies_from=date(2026, 8, 2),
        in_force=False,
        why=[
            Finding(
                kind="policy_rule",
                ref="fairness-baseline/disparate-impact",
                outcome="waived",
                detail=detail,
                waiver=WAIVER_ID,
                waiver_expires_at=WAIVER_EXPIRES,
            ),
            Finding(
                kind="evidence",
                ref="fairness_report",
                outcome="passed",
                detail="fairness_report 12 recorded",
                evidence=12,
                age_days=20.5,
                passed=False,
                created_at=datetime(2025, 3, 11, 12, tzinfo=UTC),
            ),
        ],
        maps_to=["nist-ai-rmf:MEASURE 2.11"],
    )


def _expired_requirement() -> RequirementStatus:
    return RequirementStatus(
        id="Art. 14",
        title="Human oversight",
        references=[],
        status="expired",
        waived=False,
        applies_from=None,
        in_force=True,
        why=[
            Finding(
                kind="attestation",
                ref="attestation",
                outcome="expired",
                detail=f"attestation {ATTESTATION_ID} lapsed on 2025-02-01",
                attestation=ATTESTATION_ID,
                valid_until=datetime(2025, 2, 1, tzinfo=UTC),
            )
        ],
        maps_to=[],
    )


def _satisfied_requirement() -> RequirementStatus:
    return RequirementStatus(
        id="Art. 9",
        title="Risk management system",
        references=["Art. 9(2)"],
        status="satisfied",
        waived=False,
        applies_from=None,
        in_force=True,
        why=[
            Finding(kind="policy_rule", ref="risk-baseline/assessed", outcome="passed", detail="passes"),
            Finding(
                kind="evidence",
                ref="drift_report",
                outcome="passed",
                detail="drift_report 13 passed",
                evidence=13,
                age_days=3.0,
                passed=True,
                created_at=datetime(2025, 3, 28, tzinfo=UTC),
            ),
        ],
        maps_to=[],
    )


def _attested_requirement() -> RequirementStatus:
    return RequirementStatus(
        id="Art. 50(1)",
        title="Transparency to people interacting with the system",
        references=[],
        status="attested",
        waived=False,
        applies_from=None,
        in_force=True,
        why=[
            Finding(
                kind="attestation",
                ref="attestation",
                outcome="current",
                detail="attestation 32 is valid until 2026-01-01",
                attestation=32,
                valid_until=datetime(2026, 1, 1, tzinfo=UTC),
            )
        ],
        maps_to=[],
    )


def _not_applicable_requirement() -> RequirementStatus:
    return RequirementStatus(
        id="Art. 27",
        title="Fundamental rights impact assessment",
        references=[],
        status="not_applicable",
        waived=False,
        applies_from=None,
        in_force=True,
        why=[Finding(kind="applicability", ref="applies", outcome="not_applicable", detail="not true: deployer")],
        maps_to=[],
    )


def _counts(requirements: list[RequirementStatus]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for requirement in requirements:
        counts[requirement.status] = counts.get(requirement.status, 0) + 1
    return counts


def _compas_section() -> ModelSection:
    eu = [
        _satisfied_requirement(),
        _waived_requirement(),
        _expired_requirement(),
        _attested_requirement(),
        _not_applicable_requirement(),
    ]
    nist = [
        RequirementStatus(
            id="MEASURE 2.11",
            title="Fairness and bias are evaluated",
            references=[],
            status="not_satisfied",
            waived=False,
            applies_from=None,
            in_force=True,
            why=[Finding(kind="evidence", ref="bias_audit", outcome="missing", detail="no bias_audit evidence")],
            maps_to=[],
        )
    ]
    gaps = [
        Gap(
            framework="eu-ai-act",
            requirement="Art. 10",
            title="Data and data governance",
            status="not_satisfied",
            kind="waived",
            ref="fairness-baseline/disparate-impact",
            detail="fails (disparate impact 0.71 below 0.8); excused by waiver 7",
            waiver=WAIVER_ID,
            waiver_expires_at=WAIVER_EXPIRES,
        ),
        Gap(
            framework="eu-ai-act",
            requirement="Art. 14",
            title="Human oversight",
            status="expired",
            kind="expired",
            ref="attestation",
            detail=f"attestation {ATTESTATION_ID} lapsed on 2025-02-01",
        ),
        Gap(
            framework="nist-ai-rmf",
            requirement="MEASURE 2.11",
            title="Fairness and bias are evaluated",
            status="not_satisfied",
            kind="not_satisfied",
            ref="bias_audit",
            detail="no bias_audit evidence",
        ),
    ]
    return ModelSection(
        model="compas-recidivism",
        model_id=1,
        version="1.2.0",
        stage="production",
        team="Justice analytics",
        owner=OWNER,
        risk_tier="high",
        frameworks=[
            FrameworkResult(
                framework="eu-ai-act",
                title="EU AI Act",
                version="2024/1689",
                sha256=SHA_EU,
                applies=True,
                counts=_counts(eu),
                requirements=eu,
            ),
            FrameworkResult(
                framework="nist-ai-rmf",
                title="NIST AI RMF",
                version="1.0",
                sha256=SHA_NIST,
                applies=True,
                counts=_counts(nist),
                requirements=nist,
            ),
        ],
        gaps=gaps,
        risk=RiskSummary(
            assessment=4,
            rating="high",
            score=0.6825,
            rules_version=2,
            assessed_at=datetime(2025, 3, 2, tzinfo=UTC),
            factors=[
                FactorSummary(
                    factor="impact",
                    title="Impact on people",
                    score=0.9,
                    weight=3.0,
                    reasons=["decides on liberty", INJECTION],
                ),
                FactorSummary(factor="data", title="Data sensitivity", score=0.55, weight=2.0, reasons=[]),
                FactorSummary(factor="autonomy", title="Autonomy", score=0.0, weight=1.0, reasons=["human review"]),
            ],
            eu_ai_act_class="high-risk",
        ),
        register=[
            RegisterEntry(
                id=3,
                title="Disparate impact on a protected group",
                category="fairness",
                inherent_rating="high",
                residual_rating="medium",
                treatment="mitigate",
                status="open",
                owner=OWNER,
                review_date="2025-03-15",
                review_overdue=True,
            )
        ],
        fairness=[
            EvidenceSummary(
                id=12,
                kind="fairness_report",
                title="Fairness on race — Q1",
                passed=False,
                created_at=datetime(2025, 3, 11, 12, tzinfo=UTC),
                created_by=OWNER,
                sha256=FAIRNESS_SHA,
                highlights={"disparate_impact": 0.7132, "equalized_odds_difference": 0.182, "groups": 4},
            )
        ],
        monitoring=[
            EvidenceSummary(
                id=13,
                kind="drift_report",
                title="Weekly drift",
                passed=True,
                created_at=datetime(2025, 3, 28, tzinfo=UTC),
                created_by="monitor-bot",
                sha256="b" * 64,
                highlights={"max_psi": 0.04, "drifted_features": 0},
            )
        ],
        firing_alerts=1,
        incidents=[
            IncidentSummary(
                id=5,
                title="Score skew for defendants under 25",
                type="fairness",
                severity="high",
                status="investigating",
                detected_at=datetime(2025, 2, 14, 8, tzinfo=UTC),
                resolved_at=None,
                closed_at=None,
            )
        ],
        transitions=[
            Transition(
                version="1.2.0",
                from_stage="staging",
                to_stage="approved",
                by=OWNER,
                at=datetime(2025, 1, 20, tzinfo=UTC),
                reason="risk accepted by the board",
            ),
            Transition(
                version="1.2.0",
                from_stage="approved",
                to_stage="production",
                by="release-bot",
                at=datetime(2025, 1, 22, tzinfo=UTC),
                reason=None,
            ),
        ],
        waivers=[
            WaiverSummary(
                id=WAIVER_ID,
                policy="fairness-baseline",
                rule="disparate-impact",
                justification="Retraining with reweighing is scheduled; human review of every score meanwhile.",
                approved_by="Ada Lovelace",
                granted_at=datetime(2025, 1, 10, tzinfo=UTC),
                expires_at=WAIVER_EXPIRES,
                status="active",
            )
        ],
    )


def _audit(ok: bool = True) -> AuditIntegrity:
    return AuditIntegrity(
        ok=ok,
        events=1234,
        head_hash="c" * 64,
        checkpoints_checked=3,
        fault=None if ok else "event 812: hash does not match its content",
        verified_at=GENERATED,
        events_in_period=420,
    )


def model_report(*, title: str = f"COMPAS report {INJECTION}", audit_ok: bool = True) -> ReportDocument:
    section = _compas_section()
    return ReportDocument(
        kind="model",
        title=title,
        organisation="Acme Justice — Ünited",
        generated_at=GENERATED,
        generated_by=OWNER,
        charter_version="0.1.0",
        period=Period(start=T0, end=T1),
        frameworks=["eu-ai-act", "nist-ai-rmf"],
        totals=Totals(
            models=1,
            by_rating={"high": 1},
            by_status={f.framework: dict(f.counts) for f in section.frameworks},
            gaps=len(section.gaps),
            waived_gaps=sum(1 for g in section.gaps if g.kind == "waived"),
            open_incidents=1,
            firing_alerts=1,
        ),
        models=[section],
        audit=_audit(audit_ok),
    )


def _small_section(i: int) -> ModelSection:
    """Model ``i`` of a large estate: counts only (as in organisation reports), every 7th with a gap."""
    failing = i % 7 == 0
    eu = {"satisfied": 4, "attested": 1} | ({"not_satisfied": 1} if failing else {"satisfied": 5})
    nist = {"satisfied": 6, "not_applicable": 2}
    gaps = (
        [
            Gap(
                framework="eu-ai-act",
                requirement="Art. 12",
                title="Record-keeping",
                status="not_satisfied",
                kind="waived" if i % 14 == 0 else "not_satisfied",
                ref="logging/enabled",
                detail="prediction logging is off",
                waiver=1000 + i if i % 14 == 0 else None,
                waiver_expires_at=GENERATED + timedelta(days=30) if i % 14 == 0 else None,
            )
        ]
        if failing
        else []
    )
    rating = ("low", "medium", "high", "critical")[i % 4]
    return ModelSection(
        model=f"model-{i:03d}",
        model_id=i,
        version="1.0.0",
        stage="production",
        team=f"team-{i % 10}",
        owner=OWNER if i % 50 == 0 else f"owner-{i}",
        risk_tier=None,
        frameworks=[
            FrameworkResult(
                framework="eu-ai-act",
                title="EU AI Act",
                version="2024/1689",
                sha256=SHA_EU,
                applies=True,
                counts=eu,
            ),
            FrameworkResult(
                framework="nist-ai-rmf",
                title="NIST AI RMF",
                version="1.0",
                sha256=SHA_NIST,
                applies=i % 3 != 0,
                counts=nist,
            ),
        ],
        gaps=gaps,
        risk=RiskSummary(
            assessment=i,
            rating=rating,
            score=(i % 100) / 100,
            rules_version=1,
            assessed_at=T0,
            factors=[FactorSummary(factor="impact", title="Impact", score=0.5, weight=1.0, reasons=[])],
        ),
        register=[],
        fairness=[],
        monitoring=[],
        firing_alerts=int(i % 5 == 0),
        incidents=[],
        transitions=[],
        waivers=[],
    )


def organisation_report(models: int = 300) -> ReportDocument:
    sections = [_small_section(i) for i in range(1, models + 1)]
    by_rating: dict[str, int] = {}
    by_status: dict[str, dict[str, int]] = {}
    for section in sections:
        assert section.risk is not None
        by_rating[section.risk.rating] = by_rating.get(section.risk.rating, 0) + 1
        for result in section.frameworks:
            bucket = by_status.setdefault(result.framework, {})
            for status, n in result.counts.items():
                bucket[status] = bucket.get(status, 0) + n
    gaps = [g for s in sections for g in s.gaps]
    return ReportDocument(
        kind="organisation",
        title="Acme estate, Q1 2025",
        organisation="Acme",
        generated_at=GENERATED,
        generated_by="auditor",
        charter_version="0.1.0",
        period=Period(start=T0, end=T1),
        frameworks=["eu-ai-act", "nist-ai-rmf"],
        totals=Totals(
            models=len(sections),
            by_rating=by_rating,
            by_status=by_status,
            gaps=len(gaps),
            waived_gaps=sum(1 for g in gaps if g.kind == "waived"),
            open_incidents=0,
            firing_alerts=sum(s.firing_alerts for s in sections),
        ),
        models=sections,
        audit=_audit(),
    )
