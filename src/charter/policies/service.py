"""Policy services: write and version policies, move them through their lifecycle, waivers, dry runs.

Each function authorizes the acting principal, changes rows and records one audit event in the
same transaction; services flush, the caller commits. Policies are organisation-wide: writing,
moving and approving them is checked in the organisation scope; waivers are granted in the
waived model's team scope. Events about a policy name it as the resource (``policy``, id);
waivers name the model (``model``, id), so that they appear in the model's history beside the
promotions they allow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import service as audit
from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.inventory import service as inventory
from charter.inventory.models import ModelRow, ModelVersionRow
from charter.policies import cel, documents, engine, facts, lifecycle
from charter.policies.models import PolicyRow, PolicyTransitionRow, PolicyVersionRow, WaiverRow
from charter.policies.schemas import (
    DryRunItem,
    DryRunRequest,
    DryRunResult,
    PolicyDocument,
    PolicyRead,
    PolicyVersionRead,
    ProposalRead,
    TransitionRead,
    WaiverCreate,
    WaiverRead,
    WaiverStatus,
)
from charter.security.permissions import Permission
from charter.security.principal import ORG, Principal, authorize

P = Permission
RESOURCE = "policy"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


# -- reading ----------------------------------------------------------------------------------------


def _policy_row(session: Session, policy_id: str) -> PolicyRow:
    row = session.get(PolicyRow, policy_id)
    if row is None:
        raise NotFound(f"No policy {policy_id!r}.")
    return row


def _version_row(session: Session, policy_id: str, number: int) -> PolicyVersionRow:
    row = session.scalars(
        select(PolicyVersionRow).where(PolicyVersionRow.policy_id == policy_id, PolicyVersionRow.number == number)
    ).first()
    if row is None:
        raise NotFound(f"Policy {policy_id!r} has no version {number}.")
    return row


def _may_read(actor: Principal) -> None:
    """Policies are the organisation's rules: anyone who may read policies in some scope reads them all."""
    if not actor.holds(P.POLICY_READ):
        authorize(actor, P.POLICY_READ, ORG)


def _read(
    row: PolicyRow, version: PolicyVersionRow, now: datetime, history: list[PolicyTransitionRow] | None = None
) -> PolicyRead:
    pending = None
    if row.proposed_state is not None:
        assert row.proposed_by is not None and row.proposed_at is not None and row.proposed_version is not None
        pending = ProposalRead(
            state=row.proposed_state,
            version=row.proposed_version,
            proposed_by=row.proposed_by,
            proposed_at=row.proposed_at,
            comment=row.proposal_comment,
        )
    return PolicyRead(
        id=row.id,
        title=row.title,
        owner=row.owner,
        state=row.state,
        effective_state=lifecycle.effective_state(row.state, row.review_due_at, now),
        version=row.version,
        sha256=version.sha256,
        document=PolicyDocument.model_validate(version.document),
        version_created_by=version.created_by,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        state_changed_at=row.state_changed_at,
        state_changed_by=row.state_changed_by,
        review_due_at=row.review_due_at,
        pending=pending,
        history=None
        if history is None
        else [
            TransitionRead(
                kind=t.kind,
                version=t.version,
                from_state=t.from_state,
                to_state=t.to_state,
                actor=t.actor,
                at=t.at,
                comment=t.comment,
            )
            for t in history
        ],
    )


def read_policy(session: Session, actor: Principal, policy_id: str, *, now: datetime | None = None) -> PolicyRead:
    _may_read(actor)
    row = _policy_row(session, policy_id)
    history = list(
        session.scalars(
            select(PolicyTransitionRow).where(PolicyTransitionRow.policy_id == row.id).order_by(PolicyTransitionRow.id)
        )
    )
    return _read(row, _version_row(session, row.id, row.version), _now(now), history)


def list_policies(
    session: Session, actor: Principal, *, state: str | None = None, now: datetime | None = None
) -> list[PolicyRead]:
    """Every policy, by id; ``state`` filters on the effective state (``review`` finds those due)."""
    _may_read(actor)
    moment = _now(now)
    stmt = (
        select(PolicyRow, PolicyVersionRow)
        .join(
            PolicyVersionRow,
            (PolicyVersionRow.policy_id == PolicyRow.id) & (PolicyVersionRow.number == PolicyRow.version),
        )
        .order_by(PolicyRow.id)
    )
    reads = [_read(p, v, moment) for p, v in session.execute(stmt)]
    return [r for r in reads if state is None or r.effective_state == state]


def list_versions(session: Session, actor: Principal, policy_id: str) -> list[PolicyVersionRead]:
    _may_read(actor)
    row = _policy_row(session, policy_id)
    versions = session.scalars(
        select(PolicyVersionRow).where(PolicyVersionRow.policy_id == row.id).order_by(PolicyVersionRow.number)
    )
    return [
        PolicyVersionRead(
            policy=row.id,
            version=v.number,
            sha256=v.sha256,
            document=PolicyDocument.model_validate(v.document),
            created_at=v.created_at,
            created_by=v.created_by,
        )
        for v in versions
    ]


# -- writing ----------------------------------------------------------------------------------------


def _transition(
    session: Session,
    row: PolicyRow,
    actor: Principal,
    kind: str,
    *,
    from_state: str | None,
    to_state: str | None,
    comment: str | None,
    now: datetime,
) -> None:
    session.add(
        PolicyTransitionRow(
            policy_id=row.id,
            kind=kind,
            version=row.version,
            from_state=from_state,
            to_state=to_state,
            actor=actor.actor,
            comment=comment,
            at=now,
        )
    )


def create_policy(
    session: Session,
    actor: Principal,
    document: PolicyDocument,
    *,
    comment: str | None = None,
    now: datetime | None = None,
) -> PolicyRead:
    """A new policy, in ``draft``, as version 1. Malformed expressions are refused with their positions."""
    authorize(actor, P.POLICY_WRITE, ORG)
    engine.validate(document)
    moment = _now(now)
    if session.get(PolicyRow, document.id) is not None:
        raise Conflict(f"A policy {document.id!r} already exists; change it with a new version (update).")
    row = PolicyRow(
        id=document.id,
        title=document.title,
        owner=document.owner,
        state="draft",
        version=1,
        created_at=moment,
        created_by=actor.actor,
        updated_at=moment,
        state_changed_at=moment,
        state_changed_by=actor.actor,
    )
    version = PolicyVersionRow(
        policy_id=row.id,
        number=1,
        document=documents.canonical(document),
        sha256=documents.sha256(document),
        created_at=moment,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    session.add(version)
    _transition(session, row, actor, "create", from_state=None, to_state="draft", comment=comment, now=moment)
    session.flush()
    audit.record(
        session,
        actor,
        "policy.create",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={"version": 1, "sha256": version.sha256, "title": row.title, "rules": [r.id for r in document.rules]},
    )
    return _read(row, version, moment)


def update_policy(
    session: Session,
    actor: Principal,
    policy_id: str,
    document: PolicyDocument,
    *,
    comment: str | None = None,
    now: datetime | None = None,
) -> PolicyRead:
    """A new version of a draft policy's content. Other states refuse: move the policy to draft first."""
    authorize(actor, P.POLICY_WRITE, ORG)
    row = _policy_row(session, policy_id)
    if document.id != row.id:
        raise InvalidInput(f"The document's id {document.id!r} is not the policy's id {row.id!r}.")
    engine.validate(document)
    moment = _now(now)
    if row.state != "draft":
        raise Conflict(
            f"Policy {row.id!r} is in {row.state!r}: its content changes only in draft. Move it to draft "
            f"(`charter policy state {row.id} draft`), change it, then move it through the lifecycle again."
        )
    current = _version_row(session, row.id, row.version)
    digest = documents.sha256(document)
    if digest == current.sha256:
        return _read(row, current, moment)  # nothing changed: no new version
    row.version += 1
    row.title, row.owner, row.updated_at = document.title, document.owner, moment
    version = PolicyVersionRow(
        policy_id=row.id,
        number=row.version,
        document=documents.canonical(document),
        sha256=digest,
        created_at=moment,
        created_by=actor.actor,
    )
    session.add(version)
    # A proposal to enforce named the version it was made for: new content withdraws it (it must be
    # proposed again, and approved by a second person, for what is now written).
    withdrawn = row.proposed_state
    if withdrawn is not None:
        _clear_proposal(row)
    _transition(session, row, actor, "update", from_state="draft", to_state="draft", comment=comment, now=moment)
    session.flush()
    audit.record(
        session,
        actor,
        "policy.update",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={
            "version": row.version,
            "sha256": digest,
            "previous_sha256": current.sha256,
            "comment": comment,
            "withdrawn_proposal": withdrawn,
        },
    )
    return _read(row, version, moment)


def save_policy(
    session: Session, actor: Principal, document: PolicyDocument, *, now: datetime | None = None
) -> tuple[PolicyRead, bool]:
    """Create the policy, or add a version when it exists (``charter policy add``); True when created."""
    if session.get(PolicyRow, document.id) is None:
        return create_policy(session, actor, document, now=now), True
    return update_policy(session, actor, document.id, document, now=now), False


def change_state(
    session: Session,
    actor: Principal,
    policy_id: str,
    target: str,
    *,
    comment: str | None = None,
    now: datetime | None = None,
) -> PolicyRead:
    """Move a policy to another state; a move into ``enforce`` becomes a proposal awaiting approval."""
    authorize(actor, P.POLICY_WRITE, ORG)
    row = _policy_row(session, policy_id)
    moment = _now(now)
    source = lifecycle.effective_state(row.state, row.review_due_at, moment)
    if target not in lifecycle.STATES:
        raise InvalidInput(f"{target!r} is not a policy state; states: {', '.join(lifecycle.STATES)}.")
    if source == target:
        raise Conflict(f"Policy {row.id!r} is already in {target!r}.")
    if not lifecycle.can_move(source, target):
        allowed = ", ".join(lifecycle.allowed_next(source))
        raise InvalidInput(f"A policy cannot move from {source!r} to {target!r}. From {source!r}: {allowed}.")
    version = _version_row(session, row.id, row.version)
    if target == lifecycle.NEEDS_APPROVAL:
        row.proposed_state, row.proposed_version = target, row.version
        row.proposed_by, row.proposed_at, row.proposal_comment = actor.actor, moment, comment
        _transition(session, row, actor, "propose", from_state=source, to_state=target, comment=comment, now=moment)
        session.flush()
        audit.record(
            session,
            actor,
            "policy.propose",
            resource_type=RESOURCE,
            resource_id=row.id,
            details={"from": source, "to": target, "version": row.version, "comment": comment},
        )
        return _read(row, version, moment)
    row.state = target
    row.state_changed_at, row.state_changed_by, row.updated_at = moment, actor.actor, moment
    if target == "review":
        row.review_due_at = moment  # a review asked for now: due at once
    elif target != "enforce":
        row.review_due_at = None
    if target in ("draft", "retired"):
        _clear_proposal(row)
    _transition(session, row, actor, "state", from_state=source, to_state=target, comment=comment, now=moment)
    session.flush()
    audit.record(
        session,
        actor,
        "policy.state",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={"from": source, "to": target, "version": row.version, "comment": comment},
    )
    return _read(row, version, moment)


def _clear_proposal(row: PolicyRow) -> None:
    row.proposed_state = row.proposed_version = row.proposed_by = row.proposed_at = row.proposal_comment = None


def approve(
    session: Session,
    actor: Principal,
    policy_id: str,
    *,
    comment: str | None = None,
    now: datetime | None = None,
) -> PolicyRead:
    """Approve the pending proposal to enforce: a second person with ``policy:approve`` (four eyes)."""
    row = _policy_row(session, policy_id)
    base = {"version": row.version}

    def refuse(error: PermissionDenied) -> PermissionDenied:
        return error.recorded_as(
            "policy.approve", resource_type=RESOURCE, resource_id=row.id, outcome="denied", details=base
        )

    if not actor.can(P.POLICY_APPROVE, ORG):
        raise refuse(PermissionDenied(f"{actor.actor} lacks the permission 'policy:approve' in the organisation."))
    if row.proposed_state is None or row.proposed_by is None:
        raise Conflict(f"Policy {row.id!r} has no pending proposal to approve; propose it first (state enforce).")
    if row.proposed_version != row.version:  # cannot happen since update_policy withdraws it; kept as a guard
        raise Conflict(f"The proposal for policy {row.id!r} named another version; propose it again.")
    moment = _now(now)
    version = _version_row(session, row.id, row.version)
    why = lifecycle.four_eyes_refusal(actor.actor, proposed_by=row.proposed_by, author=version.created_by)
    if why is not None:
        raise refuse(PermissionDenied(f"Four eyes: {why}."))
    source = lifecycle.effective_state(row.state, row.review_due_at, moment)
    document = PolicyDocument.model_validate(version.document)
    proposed_by = row.proposed_by
    row.state = row.proposed_state
    row.review_due_at = lifecycle.review_due(moment, document.review_days)
    row.state_changed_at, row.state_changed_by, row.updated_at = moment, actor.actor, moment
    _clear_proposal(row)
    _transition(session, row, actor, "approve", from_state=source, to_state=row.state, comment=comment, now=moment)
    session.flush()
    audit.record(
        session,
        actor,
        "policy.approve",
        resource_type=RESOURCE,
        resource_id=row.id,
        details={
            "from": source,
            "to": row.state,
            "version": row.version,
            "proposed_by": proposed_by,
            "review_due_at": row.review_due_at.isoformat(),
            "comment": comment,
        },
    )
    return _read(row, version, moment)


def install_pack(
    session: Session, actor: Principal, *, now: datetime | None = None
) -> tuple[list[PolicyRead], list[str]]:
    """Load the starter pack as drafts; policies that already exist are left alone (their ids returned)."""
    authorize(actor, P.POLICY_WRITE, ORG)
    created, skipped = [], []
    for document in documents.pack_documents():
        if session.get(PolicyRow, document.id) is not None:
            skipped.append(document.id)
        else:
            created.append(create_policy(session, actor, document, comment="starter pack", now=now))
    return created, skipped


# -- waivers ----------------------------------------------------------------------------------------


def _waiver_status(row: WaiverRow, now: datetime) -> WaiverStatus:
    if row.revoked_at is not None:
        return "revoked"
    return "active" if now < row.expires_at else "expired"


def _waiver_read(row: WaiverRow, model: str, now: datetime) -> WaiverRead:
    return WaiverRead(
        id=row.id,
        policy=row.policy_id,
        rule=row.rule_id,
        model=model,
        justification=row.justification,
        approved_by=row.approved_by,
        granted_at=row.granted_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        status=_waiver_status(row, now),
    )


def grant_waiver(
    session: Session, actor: Principal, policy_id: str, data: WaiverCreate, *, now: datetime | None = None
) -> WaiverRead:
    """A time-boxed exception to one rule for one model; the granter (``policy:approve``) is its approver."""
    row = _policy_row(session, policy_id)
    model = inventory.get_model_row(session, data.model)
    authorize(actor, P.POLICY_APPROVE, inventory.scope_of(model))
    document = PolicyDocument.model_validate(_version_row(session, row.id, row.version).document)
    rules = [r.id for r in document.rules]
    if data.rule not in rules:
        raise InvalidInput(f"Policy {row.id!r} has no rule {data.rule!r}; its rules: {', '.join(rules)}.")
    moment = _now(now)
    waiver = WaiverRow(
        policy_id=row.id,
        rule_id=data.rule,
        model_id=model.id,
        justification=data.reason,
        approved_by=actor.actor,
        granted_at=moment,
        expires_at=moment + timedelta(days=data.days),
    )
    session.add(waiver)
    session.flush()
    audit.record(
        session,
        actor,
        "waiver.grant",
        resource_type=inventory.RESOURCE,
        resource_id=model.id,
        details={
            "waiver": waiver.id,
            "policy": row.id,
            "rule": data.rule,
            "days": data.days,
            "expires_at": waiver.expires_at.isoformat(),
            "reason": data.reason,
        },
    )
    return _waiver_read(waiver, model.name, moment)


def revoke_waiver(
    session: Session, actor: Principal, waiver_id: int, reason: str, *, now: datetime | None = None
) -> WaiverRead:
    waiver = session.get(WaiverRow, waiver_id)
    if waiver is None:
        raise NotFound(f"No waiver {waiver_id}.")
    model = inventory.get_model_row(session, waiver.model_id)
    authorize(actor, P.POLICY_APPROVE, inventory.scope_of(model))
    moment = _now(now)
    if waiver.revoked_at is not None:
        raise Conflict(f"Waiver {waiver_id} was already revoked.")
    waiver.revoked_at, waiver.revoked_by, waiver.revoke_reason = moment, actor.actor, reason
    session.flush()
    audit.record(
        session,
        actor,
        "waiver.revoke",
        resource_type=inventory.RESOURCE,
        resource_id=model.id,
        details={"waiver": waiver.id, "policy": waiver.policy_id, "rule": waiver.rule_id, "reason": reason},
    )
    return _waiver_read(waiver, model.name, moment)


def list_waivers(
    session: Session,
    actor: Principal,
    *,
    policy: str | None = None,
    model: str | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> list[WaiverRead]:
    """Waivers on models the actor may read, newest first; expired ones are reported as ``expired``."""
    _may_read(actor)
    moment = _now(now)
    stmt = select(WaiverRow, ModelRow.name).join(ModelRow, ModelRow.id == WaiverRow.model_id)
    teams = actor.team_ids_with(P.MODEL_READ)
    if teams is not None:
        stmt = stmt.where(ModelRow.team_id.in_(teams))
    if policy:
        stmt = stmt.where(WaiverRow.policy_id == policy)
    if model:
        stmt = stmt.where(WaiverRow.model_id == inventory.get_model_row(session, model).id)
    reads = [_waiver_read(w, name, moment) for w, name in session.execute(stmt.order_by(WaiverRow.id.desc()))]
    return [r for r in reads if status is None or r.status == status]


def waivers_for(
    session: Session, model_id: int, policy_ids: Iterable[str]
) -> dict[str, dict[str, list[engine.Waiver]]]:
    """policy id -> rule id -> every unrevoked waiver on the model (active or expired: both are reported)."""
    return _waivers(session, [model_id], policy_ids).get(model_id, {})


def _waivers(
    session: Session, model_ids: Sequence[int], policy_ids: Iterable[str]
) -> dict[int, dict[str, dict[str, list[engine.Waiver]]]]:
    ids = list(policy_ids)
    out: dict[int, dict[str, dict[str, list[engine.Waiver]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    if not ids or not model_ids:
        return out
    w = WaiverRow
    stmt = select(w.id, w.model_id, w.policy_id, w.rule_id, w.expires_at).where(
        w.policy_id.in_(ids), w.revoked_at.is_(None)
    )
    if len(model_ids) <= 900:  # a few models: filter in SQL; a dry run over many reads them all
        stmt = stmt.where(w.model_id.in_(list(model_ids)))
    for row in session.connection().execute(stmt):
        out[row.model_id][row.policy_id][row.rule_id].append(
            engine.Waiver(row.id, row.policy_id, row.rule_id, row.expires_at)
        )
    return out


# -- evaluation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LivePolicy:
    """A policy evaluated at gates: its compiled current version and its effective state."""

    compiled: engine.CompiledPolicy
    state: lifecycle.State


def live_policies(session: Session, now: datetime) -> list[LivePolicy]:
    """Policies in a state evaluated at gates (audit, warn, enforce, review), compiled (cached by content)."""
    # Columns only: a stored version compiled before is found by its hash without reading its document.
    stmt = (
        select(PolicyRow.id, PolicyRow.state, PolicyRow.review_due_at, PolicyVersionRow.number, PolicyVersionRow.sha256)
        .join(
            PolicyVersionRow,
            (PolicyVersionRow.policy_id == PolicyRow.id) & (PolicyVersionRow.number == PolicyRow.version),
        )
        .where(PolicyRow.state.in_(sorted(lifecycle.EVALUATED)))
        .order_by(PolicyRow.id)
    )
    live = []
    for policy_id, state, review_due_at, number, sha256 in session.connection().execute(stmt):
        compiled = engine.cached(policy_id, number, sha256)
        if compiled is None:
            document = PolicyDocument.model_validate(_version_row(session, policy_id, number).document)
            compiled = engine.compile_policy(document, version=number, sha256=sha256)
        live.append(LivePolicy(compiled, lifecycle.effective_state(state, review_due_at, now)))
    return live


def dry_run(
    session: Session,
    actor: Principal,
    policy_id: str,
    request: DryRunRequest,
    *,
    now: datetime | None = None,
    signature_check: facts.SignatureCheck | None = None,
) -> DryRunResult:
    """What the policy would decide for every version of every model the actor may read (retired ones aside).

    Nothing is recorded: a dry run changes nothing. With ``request.stage`` each version is decided
    as if it were being promoted to that stage.
    """
    _may_read(actor)
    moment = _now(now)
    row = _policy_row(session, policy_id)
    version = _version_row(session, row.id, request.version or row.version)
    document = PolicyDocument.model_validate(version.document)
    policy = engine.compile_policy(document, version=version.number, sha256=version.sha256)
    state = lifecycle.effective_state(row.state, row.review_due_at, moment)
    stmt = (
        select(ModelVersionRow.id, ModelVersionRow.model_id)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .where(ModelVersionRow.stage != "retired")
        .order_by(ModelRow.name, ModelVersionRow.id)
    )
    teams = actor.team_ids_with(P.MODEL_READ)
    if teams is not None:
        stmt = stmt.where(ModelRow.team_id.in_(teams))
    if request.model:
        model = inventory.get_model_row(session, request.model)
        authorize(actor, P.MODEL_READ, inventory.scope_of(model))
        stmt = stmt.where(ModelVersionRow.model_id == model.id)
    pairs = list(session.execute(stmt))
    event = (
        facts.Event(kind="promote", to_stage=request.stage)
        if request.stage is not None
        else facts.Event(kind="dry_run")
    )
    # Two passes: the match condition first, over every version; the costly sections (model-card
    # completeness builds each card) then only for the versions the policy applies to.
    ids = [vid for vid, _m in pairs]
    needed = engine.sections_of([policy])
    match_sections = frozenset(p[1] for p in policy.match.paths if len(p) > 1)
    later = (needed & facts.COSTLY) - match_sections
    docs = facts.build_many(session, ids, moment, event=event, sections=(needed - later) | {"model", "version"})
    waivers = _waivers(session, sorted({m for _v, m in pairs}), [policy.id])
    paths = policy.paths
    verify = signature_check if reads_verified(paths) else None
    items: list[DryRunItem] = []
    counts = {"applies": 0, "passed": 0, "failed": 0, "error": 0, "not_applicable": 0}
    matches = {}
    for vid in ids:
        matches[vid] = engine.applies(policy, engine.context(docs[vid], policy.match.paths))
    applying = [vid for vid in ids if matches[vid] is not False]
    if later:
        for vid, part in facts.build_many(session, applying, moment, event=event, sections=later).items():
            docs[vid].update(part)
    for vid, model_id in pairs:
        doc = docs[vid]
        matched = matches[vid]
        ctx = None
        if matched is not False:
            if verify is not None:
                doc["signature"]["verified"] = verify(vid)  # costly: only for versions the policy applies to
            ctx = engine.context(doc, paths)
        outcome = engine.decide(
            policy,
            ctx,
            state=state,
            waivers=waivers.get(model_id, {}).get(policy.id, {}),
            now=moment,
            matched=matched,
        )
        if outcome.applies:
            counts["applies"] += 1
            counts[outcome.outcome] += 1
        if outcome.applies or request.include_not_applicable:
            items.append(
                DryRunItem(
                    model=doc["model"]["name"],
                    version=doc["version"]["version"],
                    stage=doc["version"]["current_stage"],
                    outcome=outcome.outcome,
                    reason=outcome.reason,
                    rules=outcome.rules,
                )
            )
    return DryRunResult(
        policy=row.id,
        version=version.number,
        state=state,
        evaluated=len(pairs),
        applies=counts["applies"],
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        items=items,
    )


def reads_verified(paths: frozenset[cel.Path]) -> bool:
    """Whether the paths read ``facts.signature.verified`` (a check with the server's key: done only then)."""
    target = ("facts", "signature", "verified")
    return any(target[: len(path)] == path for path in paths)
