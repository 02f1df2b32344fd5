"""Risk services: scoring rules, assessments (and their re-assessment when facts change), EU AI Act
classification. The register is in :mod:`charter.risk.register`.

Each function authorizes the acting principal, changes rows and records its audit event in the
same transaction; services flush, the caller commits. Assessments and classifications name the
model as their resource (``model``, id), so they appear in the model's history beside its
evidence and promotions; rule versions name ``risk_rules`` and their number.

Who may do what:

- read rules, assessments, classifications: ``risk:read`` (in the model's team);
- run an assessment: ``evidence:write`` in the model's team (an assessment is evidence that Charter
  computes from the facts, so those who may record evidence may ask for one);
- save or install rules: ``risk:write`` in the organisation (the rules are the organisation's);
- classify a model under the EU AI Act: ``risk:write`` in the model's team (as setting its tier).

A re-assessment (:func:`reassess`) is a consequence of another change (evidence recorded, an
incident, a promotion, new rules): it is made in the name of whoever made that change, without
a permission of its own, and only for versions assessed before whose facts changed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from charter import __version__
from charter.audit import service as audit
from charter.errors import Conflict, InvalidInput, NotFound
from charter.evidence.models import EvidenceRow
from charter.evidence.service import canonical_sha256
from charter.incidents.models import IncidentModelRow
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.policies import facts
from charter.risk import classification, scoring
from charter.risk.models import AssessmentRow, ClassificationRow, RuleVersionRow
from charter.risk.schemas import (
    AssessmentRead,
    ClassificationRead,
    ClassificationRequest,
    ClassificationResult,
    QuestionnaireRead,
    RulesDocument,
    RulesRead,
    ScoreResult,
    Trigger,
)
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, authorize

log = logging.getLogger("charter.risk")
P = Permission
MODEL = inventory.RESOURCE
RULES = "risk_rules"
ENGINE = "charter.risk"
SYSTEM_ACTOR = "system:risk"
_CHUNK = 500  # versions scored per facts build when many are re-assessed at once


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _may_read_somewhere(actor: Principal) -> None:
    """The rules are the organisation's: anyone who may read risk in some scope reads them."""
    if not actor.holds(P.RISK_READ):
        authorize(actor, P.RISK_READ, ORG)


# -- rules ------------------------------------------------------------------------------------------


def _latest_rules(session: Session) -> RuleVersionRow | None:
    return session.scalars(select(RuleVersionRow).order_by(RuleVersionRow.number.desc()).limit(1)).first()


def _rules_read(row: RuleVersionRow, reassessed: int | None = None) -> RulesRead:
    return RulesRead(
        number=row.number,
        sha256=row.sha256,
        document=RulesDocument.model_validate(row.document),
        comment=row.comment,
        created_at=row.created_at,
        created_by=row.created_by,
        reassessed=reassessed,
    )


def _compiled(row: RuleVersionRow) -> scoring.CompiledRules:
    found = scoring.cached(row.number, row.sha256)
    if found is not None:
        return found
    return scoring.compile_rules(RulesDocument.model_validate(row.document), number=row.number, digest=row.sha256)


def _store_rules(
    session: Session,
    actor: Principal | str,
    document: RulesDocument,
    *,
    action: str,
    comment: str | None,
    now: datetime,
) -> tuple[RuleVersionRow, bool]:
    """A new rules version, unless the document is the one in force already; (row, created)."""
    scoring.validate(document)
    digest = scoring.sha256(document)
    latest = _latest_rules(session)
    if latest is not None and latest.sha256 == digest:
        return latest, False
    row = RuleVersionRow(
        number=(latest.number if latest else 0) + 1,
        document=scoring.canonical(document),
        sha256=digest,
        comment=comment,
        created_at=now,
        created_by=audit.actor_name(actor),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("The scoring rules were changed by someone else at the same time; try again.") from None
    audit.record(
        session,
        actor,
        action,
        resource_type=RULES,
        resource_id=row.number,
        details={"number": row.number, "sha256": digest, "title": document.title, "comment": comment},
    )
    return row, True


def _rules_in_force(session: Session, actor: Principal | str, now: datetime) -> RuleVersionRow:
    """The latest rules; the shipped default is installed on first use."""
    latest = _latest_rules(session)
    if latest is not None:
        return latest
    row, _created = _store_rules(
        session, actor, scoring.default_document(), action="risk.rules.install", comment="first use", now=now
    )
    return row


def get_rules(session: Session, actor: Principal, *, number: int | None = None) -> RulesRead:
    """The rules in force (or version ``number``). Before any is stored: the shipped default, as number 0."""
    _may_read_somewhere(actor)
    if number is not None:
        row = session.scalars(select(RuleVersionRow).where(RuleVersionRow.number == number)).first()
        if row is None:
            raise NotFound(f"There is no version {number} of the scoring rules.")
        return _rules_read(row)
    latest = _latest_rules(session)
    if latest is not None:
        return _rules_read(latest)
    document = scoring.default_document()
    return RulesRead(
        number=0,
        sha256=scoring.sha256(document),
        document=document,
        comment="the shipped default: installed on the first assessment or by `charter risk rules install`",
        created_at=_now(None),
        created_by="charter",
    )


def list_rule_versions(session: Session, actor: Principal) -> list[RulesRead]:
    _may_read_somewhere(actor)
    return [_rules_read(r) for r in session.scalars(select(RuleVersionRow).order_by(RuleVersionRow.number.desc()))]


def save_rules(
    session: Session,
    actor: Principal,
    document: RulesDocument,
    *,
    comment: str | None = None,
    now: datetime | None = None,
) -> RulesRead:
    """Store a new version of the rules (conditions checked, with positions) and re-assess every
    assessed version under it. The document in force already is not stored twice."""
    authorize(actor, P.RISK_WRITE, ORG)
    moment = _now(now)
    row, created = _store_rules(session, actor, document, action="risk.rules.save", comment=comment, now=moment)
    done = reassess(session, _assessed_versions(session), "rules_change", actor=actor, now=moment) if created else []
    return _rules_read(row, len(done))


def install_rules(session: Session, actor: Principal, *, now: datetime | None = None) -> RulesRead:
    """Make the shipped default the rules in force (a new version unless it is in force already)."""
    return save_rules(session, actor, scoring.default_document(), comment="the shipped default", now=now)


# -- assessments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    id: int
    model_id: int
    model: str
    version: str


def _assessment_read(row: AssessmentRow, target: _Target) -> AssessmentRead:
    return AssessmentRead(
        id=row.id,
        model=target.model,
        version=target.version,
        version_id=row.version_id,
        rules_version=row.rules_number,
        trigger=row.trigger,
        score=row.score,
        rating=row.rating,
        result=ScoreResult.model_validate(row.result),
        facts_digest=row.facts_digest,
        evidence_id=row.evidence_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _record(
    session: Session,
    actor: Principal | str,
    rules: RuleVersionRow,
    compiled: scoring.CompiledRules,
    scored: Sequence[tuple[_Target, dict[str, Any], ScoreResult, str]],
    trigger: Trigger,
    now: datetime,
) -> list[AssessmentRow]:
    """Store each assessment, with its evidence on the version, and one audit event each."""
    name = audit.actor_name(actor)
    evidence: list[EvidenceRow] = []
    for target, _doc, result, digest in scored:
        body = {
            "result": result.model_dump(mode="json"),
            "rules_version": rules.number,
            "rules_sha256": rules.sha256,
            "facts_digest": digest,
            "trigger": trigger,
        }
        summary: dict[str, Any] = {
            "rating": result.rating,
            "banded_rating": result.banded_rating,
            "score": result.score,
            "rules_version": rules.number,
            "trigger": trigger,
            "overrides": [o.id for o in result.overrides],
            # Numeric headlines: what policies read as facts.evidence.risk_assessment.metrics.<factor>.
            "metrics": {"overall": result.score, **{f.factor: f.score for f in result.factors}},
        }
        evidence.append(
            EvidenceRow(
                version_id=target.id,
                kind="risk_assessment",
                title=f"Risk assessment: {result.rating} ({result.score:.2f})",
                summary=summary,
                body=body,
                passed=None,
                data_fingerprint=digest,
                engine=ENGINE,
                library_version=__version__,
                sha256=canonical_sha256(body),
                created_at=now,
                created_by=name,
            )
        )
    session.add_all(evidence)
    session.flush()
    rows = [
        AssessmentRow(
            version_id=target.id,
            rules_number=rules.number,
            score=result.score,
            rating=result.rating,
            result=result.model_dump(mode="json"),
            facts_digest=digest,
            trigger=trigger,
            evidence_id=ev.id,
            created_at=now,
            created_by=name,
        )
        for (target, _doc, result, digest), ev in zip(scored, evidence, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    audit.record_many(
        session,
        actor,
        [
            audit.EventIn(
                "risk.assess",
                MODEL,
                target.model_id,
                details={
                    "version": target.version,
                    "assessment": row.id,
                    "trigger": trigger,
                    "rules_version": rules.number,
                    "score": row.score,
                    "rating": row.rating,
                    "facts_digest": row.facts_digest,
                    "evidence": ev.id,
                    "evidence_sha256": ev.sha256,
                },
            )
            for (target, *_rest), row, ev in zip(scored, rows, evidence, strict=True)
        ],
    )
    return rows


def _score_all(
    session: Session, compiled: scoring.CompiledRules, targets: Sequence[_Target], now: datetime
) -> list[tuple[_Target, dict[str, Any], ScoreResult, str]]:
    documents = facts.build_many(session, [t.id for t in targets], now, sections=scoring.sections(compiled))
    return [
        (t, documents[t.id], scoring.score(compiled, documents[t.id]), scoring.facts_digest(compiled, documents[t.id]))
        for t in targets
        if t.id in documents
    ]


def _target(row: ModelVersionRow) -> _Target:
    return _Target(row.id, row.model_id, row.model.name, row.version)


def assess(
    session: Session, actor: Principal, model_ref: str | int, version: str, *, now: datetime | None = None
) -> AssessmentRead:
    """Assess a version now (trigger ``manual``): always a new assessment, whether or not its facts changed."""
    row = inventory.version_for(session, actor, model_ref, version, P.EVIDENCE_WRITE)
    moment = _now(now)
    rules = _rules_in_force(session, actor, moment)
    compiled = _compiled(rules)
    target = _target(row)
    (stored,) = _record(
        session, actor, rules, compiled, _score_all(session, compiled, [target], moment), "manual", moment
    )
    return _assessment_read(stored, target)


def score_facts(document: dict[str, Any], rules: RulesDocument | None = None) -> ScoreResult:
    """Score a facts document with ``rules`` (default: the shipped ones) without storing anything."""
    compiled = scoring.validate(rules or scoring.default_document())
    return scoring.score(compiled, document)


def _assessed_versions(session: Session) -> list[int]:
    return list(session.scalars(select(AssessmentRow.version_id).distinct().order_by(AssessmentRow.version_id)))


def _latest_per_version(session: Session, version_ids: Sequence[int]) -> dict[int, AssessmentRow]:
    out: dict[int, AssessmentRow] = {}
    for start in range(0, len(version_ids), _CHUNK):
        chunk = list(version_ids[start : start + _CHUNK])
        newest = (
            select(func.max(AssessmentRow.id))
            .where(AssessmentRow.version_id.in_(chunk))
            .group_by(AssessmentRow.version_id)
            .scalar_subquery()
        )
        for row in session.scalars(select(AssessmentRow).where(AssessmentRow.id.in_(newest))):
            out[row.version_id] = row
    return out


def reassess(
    session: Session,
    version_ids: Collection[int],
    trigger: Trigger,
    *,
    actor: Principal | str = SYSTEM_ACTOR,
    now: datetime | None = None,
) -> list[AssessmentRead]:
    """Re-assess the versions among ``version_ids`` that were assessed before, are not retired, and
    whose facts (those the rules read, clock-derived ones left out) or rules changed since their
    latest assessment. Returns the new assessments (none: nothing changed).

    Called after evidence is recorded, an incident is reported or changes, a version is promoted,
    and new rules are saved. ``actor``: who made the change that triggered it (audited as such).
    """
    ids = sorted(set(version_ids))
    if not ids:
        return []
    latest = _latest_per_version(session, ids)
    if not latest:
        return []
    rules = _latest_rules(session)
    if rules is None:  # unreachable once an assessment exists, unless rows were removed by hand
        return []
    try:
        compiled = _compiled(rules)
    except InvalidInput as exc:
        # Stored rules that no longer compile (a fact they read was removed by an upgrade) must not
        # stop the change that triggered this; a manual assessment reports the error.
        log.warning("risk rules version %s no longer compile; not re-assessing: %s", rules.number, exc.message)
        return []
    moment = _now(now)
    rows = session.execute(
        select(ModelVersionRow.id, ModelVersionRow.model_id, ModelRow.name, ModelVersionRow.version)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .where(ModelVersionRow.id.in_(list(latest)), ModelVersionRow.stage != "retired")
        .order_by(ModelVersionRow.id)
    ).all()
    targets = [_Target(vid, mid, name, label) for vid, mid, name, label in rows]
    out: list[AssessmentRead] = []
    for start in range(0, len(targets), _CHUNK):
        scored = [
            item
            for item in _score_all(session, compiled, targets[start : start + _CHUNK], moment)
            if item[3] != latest[item[0].id].facts_digest or rules.number != latest[item[0].id].rules_number
        ]
        if scored:
            stored = _record(session, actor, rules, compiled, scored, trigger, moment)
            out += [_assessment_read(row, item[0]) for row, item in zip(stored, scored, strict=True)]
    return out


def reassess_incident(
    session: Session, incident_id: int, actor: Principal | str, *, now: datetime | None = None
) -> list[AssessmentRead]:
    """Re-assess the versions an incident affects: the versions it names, and every version of the
    models it names without a version (the facts count its open incidents for them all)."""
    links = session.execute(
        select(IncidentModelRow.model_id, IncidentModelRow.version_id).where(
            IncidentModelRow.incident_id == incident_id
        )
    ).all()
    whole = [model_id for model_id, version_id in links if version_id is None]
    ids = {version_id for _model_id, version_id in links if version_id is not None}
    if whole:
        ids |= set(session.scalars(select(ModelVersionRow.id).where(ModelVersionRow.model_id.in_(whole))))
    return reassess(session, ids, "incident", actor=actor, now=now)


def list_assessments(
    session: Session, actor: Principal, model_ref: str | int, version: str, *, limit: int = 100
) -> list[AssessmentRead]:
    """The version's assessment history, newest first."""
    row = inventory.version_for(session, actor, model_ref, version, P.RISK_READ)
    target = _target(row)
    stmt = (
        select(AssessmentRow)
        .where(AssessmentRow.version_id == row.id)
        .order_by(AssessmentRow.id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    return [_assessment_read(a, target) for a in session.scalars(stmt)]


def latest_assessment(session: Session, actor: Principal, model_ref: str | int, version: str) -> AssessmentRead:
    found = list_assessments(session, actor, model_ref, version, limit=1)
    if not found:
        raise NotFound(
            f"Version {version} of {model_ref} has not been assessed: run `charter risk assess` "
            "(or POST .../risk/assessments)."
        )
    return found[0]


def read_assessment(session: Session, actor: Principal, assessment_id: int) -> AssessmentRead:
    row = session.get(AssessmentRow, assessment_id)
    if row is None:
        raise NotFound(f"There is no risk assessment {assessment_id}.")
    version = session.get(ModelVersionRow, row.version_id)
    assert version is not None  # the foreign key cascades
    authorize(actor, P.RISK_READ, inventory.scope_of(version.model))
    return _assessment_read(row, _target(version))


# -- EU AI Act classification -----------------------------------------------------------------------


def questionnaire(actor: Principal) -> QuestionnaireRead:
    _may_read_somewhere(actor)
    return classification.questionnaire()


def _classification_read(row: ClassificationRow, model: str, *, tier_applied: bool = False) -> ClassificationRead:
    return ClassificationRead(
        id=row.id,
        model=model,
        questionnaire_version=row.questionnaire_version,
        answers=dict(row.answers),
        result=ClassificationResult.model_validate(row.result),
        tier_applied=tier_applied,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def classify_model(
    session: Session,
    actor: Principal,
    model_ref: str | int,
    data: ClassificationRequest,
    *,
    now: datetime | None = None,
) -> ClassificationRead:
    """Classify a model from its questionnaire answers and keep them (each call adds to its history).

    With ``apply_tier`` the model's risk tier becomes the proposed one (recorded in the same event).
    """
    model = inventory.get_model_row(session, model_ref)
    authorize(actor, P.RISK_WRITE, inventory.scope_of(model))
    result = classification.classify(data.answers)
    moment = _now(now)
    answers = {k: v for k, v in data.answers.items() if v is not None}
    row = ClassificationRow(
        model_id=model.id,
        questionnaire_version=classification.QUESTIONNAIRE_VERSION,
        answers=answers,
        category=result.category,
        gpai=result.gpai,
        result=result.model_dump(mode="json"),
        proposed_tier=result.proposed_tier,
        created_at=moment,
        created_by=audit.actor_name(actor),
    )
    session.add(row)
    tier: dict[str, str | None] | None = None
    if data.apply_tier and model.risk_tier != result.proposed_tier:
        tier = {"old": model.risk_tier, "new": result.proposed_tier}
        model.risk_tier = result.proposed_tier
        model.updated_at = moment
    session.flush()
    audit.record(
        session,
        actor,
        "risk.classify",
        resource_type=MODEL,
        resource_id=model.id,
        details={
            "classification": row.id,
            "questionnaire": row.questionnaire_version,
            "category": result.category,
            "gpai": result.gpai,
            "gpai_systemic_risk": result.gpai_systemic_risk,
            "proposed_tier": result.proposed_tier,
            "risk_tier": tier,
        },
    )
    return _classification_read(row, model.name, tier_applied=data.apply_tier)


def list_classifications(session: Session, actor: Principal, model_ref: str | int) -> list[ClassificationRead]:
    """The model's classifications, newest first."""
    model = inventory.get_model_row(session, model_ref)
    authorize(actor, P.RISK_READ, inventory.scope_of(model))
    stmt = select(ClassificationRow).where(ClassificationRow.model_id == model.id).order_by(ClassificationRow.id.desc())
    return [_classification_read(r, model.name) for r in session.scalars(stmt)]


def latest_ratings(session: Session, actor: Principal) -> dict[int, tuple[AssessmentRow, str, str]]:
    """model id -> (its latest assessment over all its versions, model name, version label), for the
    models whose risk the actor may read."""
    teams = actor.team_ids_with(P.RISK_READ)
    newest = (
        select(func.max(AssessmentRow.id))
        .join(ModelVersionRow, ModelVersionRow.id == AssessmentRow.version_id)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .group_by(ModelVersionRow.model_id)
    )
    if teams is not None:
        newest = newest.where(ModelRow.team_id.in_(teams))
    stmt = (
        select(AssessmentRow, ModelRow.id, ModelRow.name, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.id == AssessmentRow.version_id)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .where(AssessmentRow.id.in_(newest.scalar_subquery()))
        .order_by(ModelRow.name)
    )
    found: dict[int, tuple[AssessmentRow, str, str]] = {}
    for row, model_id, name, label in session.execute(stmt):
        found[model_id] = (row, name, label)
    return found
