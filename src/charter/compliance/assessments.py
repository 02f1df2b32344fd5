"""Impact assessments as structured forms stored as evidence on a model version.

- ``dpia``: a data protection impact assessment (GDPR Art. 35), with the content Art. 35(7) names;
- ``fria``: a fundamental rights impact assessment (EU AI Act Art. 27), with the content of Art. 27(1).

Each is immutable evidence like any other (a revision is new evidence); a requirement asks for one
with ``evidence: [{kind: dpia, max_age_days: ...}]``. Its ``passed`` is false when the assessed
residual risk is high: for a DPIA, processing then waits for prior consultation (GDPR Art. 36).
Recording one needs ``evidence:write`` in the model's team.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from charter.compliance.schemas import DpiaForm, FriaForm, RiskItem
from charter.evidence import service as evidence
from charter.evidence.schemas import EvidenceRead
from charter.inventory import service as inventory
from charter.security.permissions import Permission
from charter.security.principal import Principal

P = Permission


def _risks(items: list[RiskItem]) -> dict[str, int]:
    return {
        "risks": len(items),
        "high_risks": sum(1 for r in items if "high" in (r.likelihood, r.severity)),
        "unmitigated": sum(1 for r in items if not r.mitigation),
    }


def _record(
    session: Session,
    actor: Principal,
    model: str | int,
    version: str,
    *,
    kind: str,
    title: str,
    summary: dict[str, Any],
    body: dict[str, Any],
    passed: bool,
) -> EvidenceRead:
    row = inventory.version_for(session, actor, model, version, P.EVIDENCE_WRITE)
    return evidence.record(
        session,
        actor,
        row,
        kind=kind,
        title=title,
        summary=summary,
        body=body,
        passed=passed,
        data_fingerprint=None,
        engine=None,
    )


def record_dpia(session: Session, actor: Principal, model: str | int, version: str, form: DpiaForm) -> EvidenceRead:
    """Store a DPIA (GDPR Art. 35) on the version as ``dpia`` evidence."""
    summary = {
        "residual_risk": form.residual_risk,
        **_risks(form.risks),
        "measures": len(form.measures),
        "consultation_required": form.residual_risk == "high",
        "dpo_consulted": form.dpo_advice is not None,
    }
    return _record(
        session,
        actor,
        model,
        version,
        kind="dpia",
        title=form.title or "Data protection impact assessment (GDPR Art. 35)",
        summary=summary,
        body=form.model_dump(mode="json"),
        passed=form.residual_risk != "high",
    )


def record_fria(session: Session, actor: Principal, model: str | int, version: str, form: FriaForm) -> EvidenceRead:
    """Store a FRIA (EU AI Act Art. 27) on the version as ``fria`` evidence."""
    summary = {
        "residual_risk": form.residual_risk,
        **_risks(form.risks_of_harm),
        "affected_groups": len(form.affected_persons),
        "authority_notified": form.authority_notified,
    }
    return _record(
        session,
        actor,
        model,
        version,
        kind="fria",
        title=form.title or "Fundamental rights impact assessment (EU AI Act Art. 27)",
        summary=summary,
        body=form.model_dump(mode="json"),
        passed=form.residual_risk != "high",
    )
