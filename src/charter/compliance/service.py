"""Compliance services: frameworks (shipped and users'), status per model, its history.

Frameworks are read by anyone holding ``compliance:read``; users' frameworks are written with
``compliance:write`` in the organisation (versioned, audited). A model's status needs
``compliance:read`` in the model's team. Services flush, the caller commits.

A status evaluation reads the version's facts once (the policy facts document), evaluates each
framework's conditions and the policy rules its requirements name (with the model's waivers), and
decides each requirement (:mod:`charter.compliance.status`). Each full evaluation is compared with
the last snapshot for the model and framework and stored only when something changed: the
evaluated version, the framework's content, a requirement's status or the set of open gaps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.compliance import frameworks, status
from charter.compliance.frameworks import CompiledFramework, Known
from charter.compliance.models import AttestationRow, FrameworkRow, FrameworkVersionRow, SnapshotRow
from charter.compliance.schemas import (
    ComplianceStatus,
    FrameworkDocument,
    FrameworkRead,
    FrameworkStatus,
    FrameworkSummary,
    Gap,
    SnapshotRead,
    StatusChange,
)
from charter.errors import Conflict, NotFound
from charter.evidence.models import KINDS as EVIDENCE_KINDS
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.policies import cel, engine, facts
from charter.policies import service as policies
from charter.policies.models import PolicyRow, PolicyVersionRow
from charter.policies.schemas import PolicyDocument
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, authorize

P = Permission
RESOURCE = "compliance_framework"
#: Sections every status reads besides those its expressions name.
_BASE_SECTIONS = frozenset({"model", "version", "evidence"})


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def may_read(actor: Principal) -> None:
    """Frameworks are the organisation's reference data: anyone with ``compliance:read`` somewhere reads them."""
    if not actor.holds(P.COMPLIANCE_READ):
        authorize(actor, P.COMPLIANCE_READ, ORG)


# -- frameworks -------------------------------------------------------------------------------------


def builtin_frameworks() -> tuple[CompiledFramework, ...]:
    return frameworks.builtin(frozenset(EVIDENCE_KINDS))


#: Compiled stored versions by (id, number, sha256): stored versions never change. Bounded.
_COMPILED: dict[tuple[str, int, str], CompiledFramework] = {}
_CACHE_SIZE = 1024


def _compiled(row: FrameworkVersionRow) -> CompiledFramework:
    key = (row.framework_id, row.number, row.sha256)
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= _CACHE_SIZE:
            _COMPILED.clear()
        found = _COMPILED[key] = frameworks.validate(FrameworkDocument.model_validate(row.document), None)
    return found


def _stored(session: Session) -> list[tuple[FrameworkRow, FrameworkVersionRow]]:
    stmt = (
        select(FrameworkRow, FrameworkVersionRow)
        .join(
            FrameworkVersionRow,
            (FrameworkVersionRow.framework_id == FrameworkRow.id)
            & (FrameworkVersionRow.number == FrameworkRow.version),
        )
        .order_by(FrameworkRow.id)
    )
    return [(f, v) for f, v in session.execute(stmt)]


def known_frameworks(session: Session) -> list[CompiledFramework]:
    """The shipped frameworks, then users' (their current versions), by id."""
    return [*builtin_frameworks(), *(_compiled(v) for _f, v in _stored(session))]


def find_framework(session: Session, framework_id: str) -> CompiledFramework:
    for framework in known_frameworks(session):
        if framework.id == framework_id:
            return framework
    names = ", ".join(f.id for f in known_frameworks(session))
    raise NotFound(f"No compliance framework {framework_id!r}; known: {names}.")


def _summary(framework: CompiledFramework, row: FrameworkRow | None = None) -> dict[str, Any]:
    document = framework.document
    return {
        "id": document.id,
        "title": document.title,
        "version": document.version,
        "source": document.source,
        "builtin": framework.builtin,
        "revision": row.version if row is not None else None,
        "sha256": framework.sha256,
        "requirements": len(document.requirements),
        "created_at": row.created_at if row is not None else None,
        "created_by": row.created_by if row is not None else None,
    }


def list_frameworks(session: Session, actor: Principal) -> list[FrameworkSummary]:
    may_read(actor)
    out = [FrameworkSummary(**_summary(f)) for f in builtin_frameworks()]
    out += [FrameworkSummary(**_summary(_compiled(v), f)) for f, v in _stored(session)]
    return out


def read_framework(session: Session, actor: Principal, framework_id: str) -> FrameworkRead:
    may_read(actor)
    row = session.get(FrameworkRow, framework_id)
    framework = find_framework(session, framework_id)
    return FrameworkRead(**_summary(framework, row), document=framework.document)


def _policy_rules(session: Session) -> dict[str, frozenset[str]]:
    """Every stored policy's rules (current versions) and the starter pack's: what a framework may name."""
    rules = dict(frameworks.pack_rules())
    stmt = select(PolicyVersionRow.policy_id, PolicyVersionRow.document).join(
        PolicyRow, (PolicyRow.id == PolicyVersionRow.policy_id) & (PolicyRow.version == PolicyVersionRow.number)
    )
    for policy_id, document in session.execute(stmt):
        rules[policy_id] = frozenset(str(r["id"]) for r in document.get("rules", []))
    return rules


def save_framework(
    session: Session, actor: Principal, document: FrameworkDocument, *, now: datetime | None = None
) -> tuple[FrameworkRead, bool]:
    """Store a user's framework as version 1, or as a new version when its id exists; True when created.

    Shipped frameworks cannot be replaced (copy one under another id to adapt it).
    """
    authorize(actor, P.COMPLIANCE_WRITE, ORG)
    if document.id in {f.id for f in builtin_frameworks()}:
        raise Conflict(
            f"{document.id!r} is a framework shipped with Charter and cannot be replaced; "
            "store your adaptation under another id."
        )
    others = [f for f in known_frameworks(session) if f.id != document.id]
    known = Known(
        evidence_kinds=frozenset(EVIDENCE_KINDS),
        policy_rules=_policy_rules(session),
        requirements=frozenset(f"{f.id}:{r.spec.id}" for f in others for r in f.requirements),
    )
    compiled = frameworks.validate(document, known)
    moment = _now(now)
    row = session.get(FrameworkRow, document.id)
    created = row is None
    if row is None:
        row = FrameworkRow(id=document.id, title=document.title, version=1, created_by=actor.actor)
        row.created_at = row.updated_at = moment
        session.add(row)
        session.flush()
    else:
        current = session.scalars(
            select(FrameworkVersionRow).where(
                FrameworkVersionRow.framework_id == row.id, FrameworkVersionRow.number == row.version
            )
        ).one()
        if current.sha256 == compiled.sha256:
            return FrameworkRead(**_summary(compiled, row), document=document), False  # unchanged: no new version
        row.version += 1
        row.title, row.updated_at = document.title, moment
    session.add(
        FrameworkVersionRow(
            framework_id=row.id,
            number=row.version,
            document=frameworks.canonical(document),
            sha256=compiled.sha256,
            created_at=moment,
            created_by=actor.actor,
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        "compliance.framework.create" if created else "compliance.framework.update",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={
            "version": row.version,
            "sha256": compiled.sha256,
            "title": row.title,
            "requirements": len(document.requirements),
        },
    )
    return FrameworkRead(**_summary(compiled, row), document=document), created


# -- status -----------------------------------------------------------------------------------------


def default_version(session: Session, model: ModelRow) -> ModelVersionRow:
    """The version a model's status is about: the newest in production, else the newest not retired."""
    rows = list(
        session.scalars(
            select(ModelVersionRow).where(ModelVersionRow.model_id == model.id).order_by(ModelVersionRow.id.desc())
        )
    )
    if not rows:
        raise Conflict(f"Model {model.name!r} has no version yet: register one to assess its compliance.")
    in_production = [r for r in rows if r.stage == "production"]
    live = [r for r in rows if r.stage != "retired"]
    return (in_production or live or rows)[0]


def _policies(session: Session, policy_ids: Iterable[str], now: datetime) -> dict[str, engine.CompiledPolicy]:
    """The named policies' current versions, compiled (cached by content)."""
    ids = sorted(set(policy_ids))
    if not ids:
        return {}
    stmt = (
        select(PolicyRow.id, PolicyVersionRow.number, PolicyVersionRow.sha256, PolicyVersionRow.document)
        .join(
            PolicyVersionRow,
            (PolicyVersionRow.policy_id == PolicyRow.id) & (PolicyVersionRow.number == PolicyRow.version),
        )
        .where(PolicyRow.id.in_(ids))
    )
    out = {}
    for policy_id, number, sha256, document in session.execute(stmt):
        compiled = engine.cached(policy_id, number, sha256)
        if compiled is None:
            compiled = engine.compile_policy(PolicyDocument.model_validate(document), version=number, sha256=sha256)
        out[policy_id] = compiled
    return out


def _rule_results(
    session: Session, model_id: int, compiled: dict[str, engine.CompiledPolicy], ctx: Any, now: datetime
) -> dict[str, list[status.RuleResult]]:
    """Each policy's rules on the version, its match condition aside, with the model's waivers."""
    waivers = policies.waivers_for(session, model_id, list(compiled))
    out: dict[str, list[status.RuleResult]] = {}
    for policy_id, policy in compiled.items():
        granted = waivers.get(policy_id, {})
        expiries = {w.id: w.expires_at for found in granted.values() for w in found}
        # ``state`` only labels the outcome: a status never blocks anything, whatever the policy's state.
        outcome = engine.decide(policy, ctx, state="audit", waivers=granted, now=now, matched=True)
        out[policy_id] = [
            status.RuleResult(
                policy=policy_id,
                rule=r.rule,
                status=r.status,
                message=r.message,
                reason=r.reason,
                waiver=r.waiver,
                waiver_expires_at=expiries.get(r.waiver) if r.waiver is not None else None,
                expired_waiver=r.expired_waiver,
            )
            for r in outcome.rules
        ]
    return out


def attestation_facts(session: Session, model_id: int) -> dict[str, list[status.AttestationFact]]:
    """"framework:requirement" -> the attestations covering the model (its own and organisation-wide)."""
    a = AttestationRow
    stmt = select(a.id, a.framework_id, a.requirement_id, a.created_at, a.valid_until).where(
        (a.model_id == model_id) | a.model_id.is_(None)
    )
    out: dict[str, list[status.AttestationFact]] = defaultdict(list)
    for row in session.execute(stmt.order_by(a.id)):
        fact = status.AttestationFact(row.id, row.framework_id, row.requirement_id, row.created_at, row.valid_until)
        out[f"{row.framework_id}:{row.requirement_id}"].append(fact)
    return out


def _wanted(requirements: Sequence[str] | None, framework: CompiledFramework) -> frozenset[str] | None:
    """The requirement ids of ``framework`` named in ``requirements`` ('id' or 'framework:id'); None: all."""
    if requirements is None:
        return None
    ids = {r.spec.id for r in framework.requirements}
    chosen = set()
    for name in requirements:
        owner, sep, requirement = name.partition(":")
        if sep and owner == framework.id:
            chosen.add(requirement)
        elif not sep and name in ids:
            chosen.add(name)
    return frozenset(chosen & ids)


def status_for_model(
    session: Session,
    actor: Principal,
    model: str | int,
    version: str | None = None,
    framework: str | None = None,
    now: datetime | None = None,
    *,
    requirements: Sequence[str] | None = None,
    signature_check: facts.SignatureCheck | None = None,
    record: bool = True,
) -> ComplianceStatus:
    """The model's compliance with each framework (or ``framework``), requirement by requirement.

    ``version``: the version label (default: :func:`default_version`). ``requirements`` limits the
    answer to those requirements ('id' or 'framework:id'); a limited answer is not recorded in the
    history. ``signature_check`` fills ``facts.signature.verified`` when a rule reads it.
    """
    model_row = inventory.get_model_row(session, model)
    authorize(actor, P.COMPLIANCE_READ, inventory.scope_of(model_row))
    moment = _now(now)
    row = inventory.get_version_row(session, model_row, version) if version else default_version(session, model_row)
    everything = known_frameworks(session)
    chosen = [f for f in everything if framework is None or f.id == framework]
    if not chosen:
        raise NotFound(f"No compliance framework {framework!r}; known: {', '.join(f.id for f in everything)}.")
    if requirements is not None:
        chosen = [f for f in chosen if _wanted(requirements, f)]
        if not chosen:
            raise NotFound(f"No requirement named {', '.join(requirements)} in the frameworks asked for.")
    refs = {ref for f in chosen for ref in f.policy_rules()}
    compiled = _policies(session, (frameworks.split_rule(ref)[0] for ref in refs), moment)
    paths: set[cel.Path] = set(engine.paths_of(compiled.values()))
    for f in chosen:
        for expression in f.expressions():
            paths |= expression.paths
    sections = _BASE_SECTIONS | {p[1] for p in paths if len(p) > 1}
    document = facts.build(session, row, moment, sections=frozenset(sections))
    if signature_check is not None and "signature" in document and policies.reads_verified(frozenset(paths)):
        document["signature"]["verified"] = signature_check(row.id)
    ctx = cel.context_for(facts.ROOT, document)
    rules = _rule_results(session, model_row.id, compiled, ctx, moment)
    attestations = attestation_facts(session, model_row.id)
    mapped = frameworks.links(everything)
    results = [
        status.decide_framework(
            f,
            document,
            ctx,
            rules=rules,
            attestations=attestations,
            mapped=mapped,
            now=moment,
            only=_wanted(requirements, f),
        )
        for f in chosen
    ]
    if record and requirements is None:
        for result in results:
            _snapshot(session, model_row.id, row.id, result, moment)
    return ComplianceStatus(
        model=model_row.name,
        model_id=model_row.id,
        version=row.version,
        version_id=row.id,
        stage=row.stage,
        risk_tier=model_row.risk_tier,
        evaluated_at=moment,
        frameworks=results,
        gaps=[gap for result in results for gap in result.gaps],
    )


def _gap_keys(gaps: Iterable[dict[str, Any]]) -> set[tuple[Any, ...]]:
    # Details are left out: they carry ages in days, which change without anything changing.
    return {(g["requirement"], g["kind"], g["ref"], g.get("waiver")) for g in gaps}


def _snapshot(session: Session, model_id: int, version_id: int, result: FrameworkStatus, now: datetime) -> bool:
    """Store the evaluation unless it equals the last one for the model and framework; True when stored."""
    statuses = {r.id: r.status for r in result.requirements}
    gaps = [g.model_dump(mode="json") for g in result.gaps]
    last = session.scalars(
        select(SnapshotRow)
        .where(SnapshotRow.model_id == model_id, SnapshotRow.framework_id == result.framework)
        .order_by(SnapshotRow.id.desc())
        .limit(1)
    ).first()
    if (
        last is not None
        and last.version_id == version_id
        and last.framework_sha256 == result.sha256
        and dict(last.statuses) == statuses
        and _gap_keys(last.gaps) == _gap_keys(gaps)
    ):
        return False
    session.add(
        SnapshotRow(
            model_id=model_id,
            framework_id=result.framework,
            framework_sha256=result.sha256,
            version_id=version_id,
            evaluated_at=now,
            counts=dict(result.counts),
            statuses=statuses,
            gaps=gaps,
        )
    )
    session.flush()
    return True


def history(
    session: Session, actor: Principal, model: str | int, framework: str | None = None, *, limit: int = 100
) -> list[SnapshotRead]:
    """The model's status snapshots, newest first, each with what changed since the one before it."""
    model_row = inventory.get_model_row(session, model)
    authorize(actor, P.COMPLIANCE_READ, inventory.scope_of(model_row))
    stmt = (
        select(SnapshotRow, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.id == SnapshotRow.version_id, isouter=True)
        .where(SnapshotRow.model_id == model_row.id)
        .order_by(SnapshotRow.id)
    )
    if framework is not None:
        stmt = stmt.where(SnapshotRow.framework_id == framework)
    previous: dict[str, dict[str, str]] = {}
    out = []
    for snap, label in session.execute(stmt):
        before = previous.get(snap.framework_id, {})
        after = dict(snap.statuses)
        changes = [
            StatusChange.model_validate({"requirement": key, "before": before.get(key), "after": after.get(key)})
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        ]
        previous[snap.framework_id] = after
        out.append(
            SnapshotRead(
                id=snap.id,
                framework=snap.framework_id,
                framework_sha256=snap.framework_sha256,
                model=model_row.name,
                version=label,
                evaluated_at=snap.evaluated_at,
                counts=dict(snap.counts),
                statuses=after,
                gaps=[Gap.model_validate(g) for g in snap.gaps],
                changes=changes,
            )
        )
    return list(reversed(out))[:limit]

