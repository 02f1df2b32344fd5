"""REST routes for policies, their lifecycle, dry runs and waivers (``/api/v1/policies``).

A policy is sent as JSON (the same document as a YAML file); ``POST /policies/parse`` takes the
text of a YAML or JSON file (``{"text": ...}``) for clients that do not parse YAML themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from charter.policies import documents, facts, gates, service
from charter.policies.lifecycle import State
from charter.policies.schemas import (
    Approval,
    DryRunRequest,
    DryRunResult,
    PolicyDocument,
    PolicyRead,
    PolicyText,
    PolicyVersionRead,
    StateChange,
    WaiverCreate,
    WaiverRead,
    WaiverRevoke,
    WaiverStatus,
)
from charter.security.permissions import Permission
from charter.server.deps import Context, Needs

router = APIRouter(prefix="/api/v1", tags=["policies"])
P = Permission


@router.post("/policies", response_model=PolicyRead, status_code=status.HTTP_201_CREATED)
def create_policy(document: PolicyDocument, ctx: Context = Needs(P.POLICY_WRITE)) -> PolicyRead:
    """A new policy in `draft`. Expressions are compiled and type-checked against the facts; errors give positions."""
    return service.create_policy(ctx.session, ctx.principal, document)


@router.post("/policies/parse", response_model=PolicyRead, status_code=status.HTTP_201_CREATED)
def create_from_text(data: PolicyText, ctx: Context = Needs(P.POLICY_WRITE)) -> PolicyRead:
    """Create a policy, or add a version to a draft one, from the text of a YAML or JSON file."""
    read, _created = service.save_policy(ctx.session, ctx.principal, documents.parse_text(data.text))
    return read


@router.get("/policies", response_model=list[PolicyRead])
def list_policies(ctx: Context = Needs(P.POLICY_READ), state: State | None = None) -> list[PolicyRead]:
    """Every policy; `state` filters on the effective state (`review` lists those whose review is due)."""
    return service.list_policies(ctx.session, ctx.principal, state=state)


@router.get("/policies/facts", summary="Every fact a policy may read: path, type and meaning")
def list_facts(ctx: Context = Needs(P.POLICY_READ)) -> list[dict[str, str]]:
    return [{"path": path, "type": type_, "description": doc} for path, type_, doc in facts.reference()]


@router.get("/policies/{policy}", response_model=PolicyRead)
def read_policy(policy: str, ctx: Context = Needs(P.POLICY_READ)) -> PolicyRead:
    """One policy with its current document, pending proposal and history."""
    return service.read_policy(ctx.session, ctx.principal, policy)


@router.put("/policies/{policy}", response_model=PolicyRead)
def update_policy(policy: str, document: PolicyDocument, ctx: Context = Needs(P.POLICY_WRITE)) -> PolicyRead:
    """A new version of a policy in `draft` (other states: move it to draft first)."""
    return service.update_policy(ctx.session, ctx.principal, policy, document)


@router.get("/policies/{policy}/versions", response_model=list[PolicyVersionRead])
def list_versions(policy: str, ctx: Context = Needs(P.POLICY_READ)) -> list[PolicyVersionRead]:
    return service.list_versions(ctx.session, ctx.principal, policy)


@router.post("/policies/{policy}/state", response_model=PolicyRead)
def change_state(policy: str, data: StateChange, ctx: Context = Needs(P.POLICY_WRITE)) -> PolicyRead:
    """Move the policy (draft, audit, warn, enforce, review, retired); `enforce` becomes a proposal to approve."""
    return service.change_state(ctx.session, ctx.principal, policy, data.state, comment=data.comment)


@router.post("/policies/{policy}/approve", response_model=PolicyRead)
def approve(policy: str, data: Approval, ctx: Context = Needs(P.POLICY_APPROVE)) -> PolicyRead:
    """Approve the pending proposal to enforce (four eyes: not its proposer, not the version's author)."""
    return service.approve(ctx.session, ctx.principal, policy, comment=data.comment)


@router.post("/policies/{policy}/dry-run", response_model=DryRunResult)
def dry_run(policy: str, data: DryRunRequest, ctx: Context = Needs(P.POLICY_READ, write=False)) -> DryRunResult:
    """What the policy would decide for every model version you may read; nothing is recorded."""
    check = gates.signature_checker(ctx.session, ctx.state.protection)
    return service.dry_run(ctx.session, ctx.principal, policy, data, signature_check=check)


@router.post("/policies/{policy}/waivers", response_model=WaiverRead, status_code=status.HTTP_201_CREATED)
def grant_waiver(policy: str, data: WaiverCreate, ctx: Context = Needs(P.POLICY_APPROVE)) -> WaiverRead:
    """A time-boxed exception to one rule for one model, with its justification; the granter approves it."""
    return service.grant_waiver(ctx.session, ctx.principal, policy, data)


@router.get("/policies/{policy}/waivers", response_model=list[WaiverRead])
def list_policy_waivers(
    policy: str, ctx: Context = Needs(P.POLICY_READ), status: WaiverStatus | None = None
) -> list[WaiverRead]:
    return service.list_waivers(ctx.session, ctx.principal, policy=policy, status=status)


@router.get("/waivers", response_model=list[WaiverRead])
def list_waivers(
    ctx: Context = Needs(P.POLICY_READ),
    policy: str | None = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    status: WaiverStatus | None = None,
) -> list[WaiverRead]:
    """Waivers on models you may read, newest first; expired ones are listed as `expired`."""
    return service.list_waivers(ctx.session, ctx.principal, policy=policy, model=model, status=status)


@router.post("/waivers/{waiver}/revoke", response_model=WaiverRead)
def revoke_waiver(waiver: int, data: WaiverRevoke, ctx: Context = Needs(P.POLICY_APPROVE)) -> WaiverRead:
    return service.revoke_waiver(ctx.session, ctx.principal, waiver, data.reason)


@router.post("/policies/pack", status_code=status.HTTP_201_CREATED)
def install_pack(ctx: Context = Needs(P.POLICY_WRITE)) -> dict[str, list[str]]:
    """Load the starter pack as drafts (policies that exist already are left alone)."""
    created, skipped = service.install_pack(ctx.session, ctx.principal)
    return {"created": [p.id for p in created], "skipped": skipped}
