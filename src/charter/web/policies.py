"""Dashboard pages of policies as code: the list, the editor, a policy's page (lifecycle, dry run, waivers).

Each page parses, calls the policy services and renders, as the API does. Every form that changes
something (and the dry run, which is a POST) carries the session's CSRF value, checked before the
service is called. The editor's "Validate" only checks the text (nothing is stored); "Save" is the
service's create or update, which refuses an invalid text the same way and changes content only in
draft. A refused change comes back on the same page in the service's words, placed on the text's
own lines in the editor, and nothing of it is kept (the transaction is rolled back). A denial is not
shown in place, except the four-eyes refusal of an approval, which the approver must read: it is
audited as the error renderer would audit it.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from charter.errors import CharterError, InvalidInput, PermissionDenied
from charter.inventory import service as inventory
from charter.inventory.models import STAGES
from charter.policies import documents, facts, gates, lifecycle, service
from charter.policies.schemas import (
    DryRunRequest,
    DryRunResult,
    PolicyDocument,
    PolicyRead,
    WaiverCreate,
    WaiverRevoke,
)
from charter.security.permissions import Permission
from charter.server.deps import Context, PageNeeds
from charter.server.errors import record_refusal
from charter.web.forms import FORM_ERRORS, labelled, submit
from charter.web.pages import CsrfField, check_csrf
from charter.web.policy_source import Checked, Problem, check, locate, to_yaml
from charter.web.render import render

router = APIRouter(include_in_schema=False)
P = Permission
MODEL_CHOICES = 500  # models offered in the pickers
FACT_REFERENCE = facts.reference()  # a fixed table: built once, not for every editor page
WAIVER_STATUSES = ("active", "expired", "revoked")
# Form fields. The lengths only bound the input: the services say what is wrong, in their words.
# The text may exceed the parser's limit a little, so that its own refusal is shown on the form.
TextField = Annotated[str, Form(max_length=2 * documents.MAX_TEXT)]
LongField = Annotated[str, Form(max_length=5000)]
ShortField = Annotated[str, Form(max_length=200)]

STATE_MEANINGS = {
    "draft": "editable; evaluated only in dry runs",
    "audit": "evaluated at every gate, results recorded; never blocks",
    "warn": "as audit, and failures are returned to the caller as warnings",
    "enforce": "a failing rule blocks the event",
    "review": "enforced while its scheduled review is due",
    "retired": "ignored everywhere",
}
MOVE_LABELS = {
    "draft": "Back to draft",
    "audit": "Audit",
    "warn": "Warn",
    "enforce": "Propose enforce",
    "review": "Ask for a review",
    "retired": "Retire",
}
# What a page says after a change (a fixed set, so the query string cannot put words on the page).
DONE_MESSAGES = {
    "created": "The policy was created, in draft.",
    "saved": "A new version was saved.",
    "unchanged": "Nothing changed: the text is the current version's, so no version was added.",
    "state": "The policy moved to its new state.",
    "proposed": "Enforcing was proposed: another person holding policy:approve must approve it.",
    "approved": "The proposal was approved: the policy is enforced.",
    "granted": "The waiver was granted.",
    "revoked": "The waiver was revoked.",
}
FIELD_LABELS = {
    "rule": "Rule",
    "model": "Model",
    "days": "Days",
    "reason": "Reason",
    "stage": "As if promoted to",
    "version": "Policy version",
}
NEW_POLICY = """\
id: my-policy
title: High-risk models in production have a complete model card
owner: risk-office
description: Optional longer text.
rationale:
  text: Why the policy exists, in a sentence or two.
  references:
    - EU AI Act Art. 11
match: facts.model.risk_tier == 'high' && facts.version.stage == 'production'
review_days: 365
rules:
  - id: model-card-complete
    severity: high
    expr: facts.card.complete
    message: Write every required section of the model card (`charter model card`).
"""


explain = labelled(FIELD_LABELS)


def _redirect(path: str, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}{anchor}", status_code=303)


def _model_names(ctx: Context) -> list[str]:
    if not ctx.principal.holds(P.MODEL_READ):
        return []
    return [m.name for m in inventory.list_models(ctx.session, ctx.principal, limit=MODEL_CHOICES).items]


def _approval_refusal(ctx: Context, policy: PolicyRead) -> str | None:
    """Why the signed-in person may not approve the pending proposal (None: they may)."""
    if policy.pending is None:
        return None
    if policy.pending.version != policy.version:
        # The draft changed after the proposal: the service refuses to approve a version nobody proposed.
        return (
            f"The proposal named version {policy.pending.version}, and the policy has changed since "
            f"(v{policy.version}): propose it again"
        )
    if not ctx.principal.can(P.POLICY_APPROVE):
        return "Approving needs policy:approve in the organisation."
    return lifecycle.four_eyes_refusal(
        ctx.principal.actor, proposed_by=policy.pending.proposed_by, author=policy.version_created_by
    )


# -- the list ---------------------------------------------------------------------------------------


@router.get("/policies", response_class=HTMLResponse)
def policies_page(
    ctx: Context = PageNeeds(P.POLICY_READ),
    state: Annotated[str | None, Query(max_length=20)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
    created: Annotated[int | None, Query(ge=0, le=1000)] = None,
    skipped: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> HTMLResponse:
    chosen = state if state in lifecycle.STATES else None
    policies = service.list_policies(ctx.session, ctx.principal, state=chosen)
    # Pending proposals first: they wait for someone.
    policies.sort(key=lambda p: (p.pending is None, p.id))
    message = DONE_MESSAGES.get(done or "")
    if done == "pack" and created is not None and skipped is not None:
        message = f"The starter pack was installed as drafts: {created} new, {skipped} already present."
    return render(
        ctx.request,
        "policies.html",
        {
            "policies": policies,
            "refusals": {p.id: _approval_refusal(ctx, p) for p in policies if p.pending is not None},
            "states": lifecycle.STATES,
            "meanings": STATE_MEANINGS,
            "state": chosen or "",
            "message": message,
            "can_write": ctx.principal.can(P.POLICY_WRITE),
            "can_approve": ctx.principal.can(P.POLICY_APPROVE),
        },
    )


@router.post("/policies/pack")
def pack_submit(csrf: CsrfField = "", ctx: Context = PageNeeds(P.POLICY_WRITE)) -> Response:
    check_csrf(ctx, csrf)
    created, skipped = service.install_pack(ctx.session, ctx.principal)
    return RedirectResponse(f"/policies?done=pack&created={len(created)}&skipped={len(skipped)}", status_code=303)


# -- the editor -------------------------------------------------------------------------------------


def _editor(
    ctx: Context,
    *,
    policy: PolicyRead | None,
    text: str,
    comment: str = "",
    attempt: str | None = None,
    checked: Checked | None = None,
    problems: list[Problem] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The editor; ``attempt`` is what was just asked (validate or save), ``problems`` what was refused."""
    found = problems if problems is not None else (checked.problems if checked else [])
    compiled = checked.compiled if checked is not None and checked.valid else None
    return render(
        ctx.request,
        "policy_edit.html",
        {
            "policy": policy,
            "text": text,
            "comment": comment,
            "attempt": attempt,
            "problems": found,
            "compiled": compiled,
            "reads": sorted(".".join(path) for path in compiled.paths) if compiled else [],
            "error": error,
            "facts": FACT_REFERENCE,
            "editable": policy is None or policy.state == "draft",
        },
        status=status,
    )


def _checked(ctx: Context, policy: PolicyRead | None, text: str, comment: str, action: str) -> HTMLResponse:
    """What "Validate" shows (and "Save" when the text does not even parse): the check, nothing stored."""
    checked = check(text, policy_id=policy.id if policy else None)
    attempt = "save" if action == "save" else "validate"
    status = 200 if checked.valid else 422
    return _editor(ctx, policy=policy, text=text, comment=comment, attempt=attempt, checked=checked, status=status)


def _refused_text(ctx: Context, policy: PolicyRead | None, text: str, comment: str, exc: CharterError) -> HTMLResponse:
    """A save the service refused: an invalid text is placed on its lines; other refusals are said as they are."""
    ctx.session.rollback()
    problems = locate(text, exc) if isinstance(exc, InvalidInput) else []
    error = None if problems else exc.message
    return _editor(
        ctx,
        policy=policy,
        text=text,
        comment=comment,
        attempt="save",
        problems=problems,
        error=error,
        status=exc.status,
    )


def _text_of(text: str) -> str:
    # Browsers send a textarea's line breaks as CRLF; the editor shows them, and counts lines, as LF.
    return text.replace("\r\n", "\n")


@router.get("/policies/new", response_class=HTMLResponse)
def new_page(ctx: Context = PageNeeds(P.POLICY_WRITE)) -> HTMLResponse:
    return _editor(ctx, policy=None, text=NEW_POLICY)


@router.post("/policies/new", response_class=HTMLResponse)
def new_submit(
    csrf: CsrfField = "",
    text: TextField = "",
    comment: LongField = "",
    action: ShortField = "validate",
    ctx: Context = PageNeeds(P.POLICY_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    text = _text_of(text)
    document = _parsed(text) if action == "save" else None
    if document is None:
        return _checked(ctx, None, text, comment, action)
    try:
        created = service.create_policy(ctx.session, ctx.principal, document, comment=comment.strip() or None)
    except FORM_ERRORS as exc:
        return _refused_text(ctx, None, text, comment, exc)
    return _redirect(f"/policies/{created.id}", "created")


def _parsed(text: str) -> PolicyDocument | None:
    """The document to save, when the text parses (the service then checks the rest, and refuses)."""
    try:
        return documents.parse_text(text)
    except InvalidInput:
        return None


@router.get("/policies/{policy_id}/edit", response_class=HTMLResponse)
def edit_page(policy_id: str, ctx: Context = PageNeeds(P.POLICY_WRITE)) -> HTMLResponse:
    policy = service.read_policy(ctx.session, ctx.principal, policy_id)
    return _editor(ctx, policy=policy, text=to_yaml(policy.document))


@router.post("/policies/{policy_id}/edit", response_class=HTMLResponse)
def edit_submit(
    policy_id: str,
    csrf: CsrfField = "",
    text: TextField = "",
    comment: LongField = "",
    action: ShortField = "validate",
    ctx: Context = PageNeeds(P.POLICY_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    policy = service.read_policy(ctx.session, ctx.principal, policy_id)
    text = _text_of(text)
    document = _parsed(text) if action == "save" else None
    if document is None or document.id != policy.id:  # the check says where, in the service's words
        return _checked(ctx, policy, text, comment, action)
    try:
        saved = service.update_policy(ctx.session, ctx.principal, policy.id, document, comment=comment.strip() or None)
    except FORM_ERRORS as exc:
        return _refused_text(ctx, policy, text, comment, exc)
    return _redirect(f"/policies/{policy.id}", "saved" if saved.version != policy.version else "unchanged")


# -- one policy -------------------------------------------------------------------------------------


def _rule_counts(result: DryRunResult) -> dict[str, int]:
    counted = Counter(rule.status for item in result.items if item.outcome != "not_applicable" for rule in item.rules)
    return {status: counted.get(status, 0) for status in ("passed", "failed", "waived", "error")}


def _policy_page(
    ctx: Context,
    policy_id: str,
    *,
    shown: int | None = None,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
    dry: DryRunResult | None = None,
) -> HTMLResponse:
    policy = service.read_policy(ctx.session, ctx.principal, policy_id)
    versions = service.list_versions(ctx.session, ctx.principal, policy.id)
    version = next((v for v in versions if v.version == shown), None)
    document: PolicyDocument = version.document if version else policy.document
    can_write = ctx.principal.can(P.POLICY_WRITE)
    pending_current = policy.pending is not None and policy.pending.version == policy.version
    moves = [
        (target, MOVE_LABELS[target])
        for target in lifecycle.allowed_next(policy.effective_state)
        if not (target == lifecycle.NEEDS_APPROVAL and pending_current)
    ]
    return render(
        ctx.request,
        "policy.html",
        {
            "policy": policy,
            "document": document,
            "shown": version.version if version else policy.version,
            "versions": list(reversed(versions)),
            "history": list(reversed(policy.history or [])),
            "waivers": service.list_waivers(ctx.session, ctx.principal, policy=policy.id),
            "moves": moves if can_write else [],
            "meanings": STATE_MEANINGS,
            "can_write": can_write,
            "approval_refusal": _approval_refusal(ctx, policy),
            "can_waive": ctx.principal.holds(P.POLICY_APPROVE),
            "models": _model_names(ctx),
            "stages": STAGES,
            "dry": dry,
            "rule_counts": _rule_counts(dry) if dry else None,
            "dry_rows": [(item, {r.rule: r for r in item.rules}) for item in dry.items] if dry else [],
            "form": form or {},
            "message": message,
            "error": error,
        },
        status=status,
    )


def _refused(ctx: Context, policy_id: str, error: CharterError, form: dict[str, Any] | None = None) -> HTMLResponse:
    """Show a refused form on the policy's page, and roll back whatever the service had begun."""
    ctx.session.rollback()
    return _policy_page(ctx, policy_id, error=error.message, status=error.status, form=form)


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
def policy_page(
    policy_id: str,
    ctx: Context = PageNeeds(P.POLICY_READ),
    version: Annotated[int | None, Query(ge=1)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _policy_page(ctx, policy_id, shown=version, message=DONE_MESSAGES.get(done or ""))


@router.post("/policies/{policy_id}/state", response_class=HTMLResponse)
def state_submit(
    policy_id: str,
    csrf: CsrfField = "",
    state: ShortField = "",
    comment: LongField = "",
    ctx: Context = PageNeeds(P.POLICY_WRITE),
) -> Response:
    check_csrf(ctx, csrf)
    try:
        moved = service.change_state(ctx.session, ctx.principal, policy_id, state, comment=comment.strip() or None)
    except FORM_ERRORS as exc:
        return _refused(ctx, policy_id, exc, {"comment": comment})
    proposed = moved.pending is not None and state == lifecycle.NEEDS_APPROVAL
    return _redirect(f"/policies/{moved.id}", "proposed" if proposed else "state")


@router.post("/policies/{policy_id}/approve", response_class=HTMLResponse)
def approve_submit(
    policy_id: str,
    csrf: CsrfField = "",
    comment: LongField = "",
    ctx: Context = PageNeeds(P.POLICY_APPROVE),
) -> Response:
    check_csrf(ctx, csrf)
    try:
        approved = service.approve(ctx.session, ctx.principal, policy_id, comment=comment.strip() or None)
    except PermissionDenied as exc:
        # Four eyes: the refusal is shown where the approver stands, and audited as a denial.
        ctx.session.rollback()
        record_refusal(ctx.request, exc)
        return _policy_page(ctx, policy_id, error=exc.message, status=exc.status)
    except FORM_ERRORS as exc:
        return _refused(ctx, policy_id, exc)
    return _redirect(f"/policies/{approved.id}", "approved")


@router.post("/policies/{policy_id}/dry-run", response_class=HTMLResponse)
def dry_run_submit(
    policy_id: str,
    csrf: CsrfField = "",
    model: ShortField = "",
    stage: ShortField = "",
    version: ShortField = "",
    include_not_applicable: ShortField = "",
    ctx: Context = PageNeeds(P.POLICY_READ, write=False),  # a dry run changes nothing
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"dry": {"model": model, "stage": stage, "version": version, "all": bool(include_not_applicable)}}

    def run(request: DryRunRequest) -> Response:
        checker = gates.signature_checker(ctx.session, ctx.state.protection)
        result = service.dry_run(ctx.session, ctx.principal, policy_id, request, signature_check=checker)
        return _policy_page(ctx, policy_id, shown=request.version, form=typed, dry=result)

    return submit(
        lambda: DryRunRequest.model_validate(
            {
                "model": model.strip() or None,
                "stage": stage or None,
                "version": version or None,
                "include_not_applicable": bool(include_not_applicable),
            }
        ),
        run,
        refuse=lambda error: _refused(ctx, policy_id, error, typed),
        explain=explain,
    )


@router.post("/policies/{policy_id}/waivers", response_class=HTMLResponse)
def waiver_submit(
    policy_id: str,
    csrf: CsrfField = "",
    rule: ShortField = "",
    model: ShortField = "",
    days: ShortField = "",
    reason: LongField = "",
    ctx: Context = PageNeeds(P.POLICY_APPROVE),
) -> Response:
    check_csrf(ctx, csrf)
    typed = {"waiver": {"rule": rule, "model": model, "days": days, "reason": reason}}

    def grant(data: WaiverCreate) -> Response:
        service.grant_waiver(ctx.session, ctx.principal, policy_id, data)
        return _redirect(f"/policies/{policy_id}", "granted", "#waivers")

    return submit(
        lambda: WaiverCreate.model_validate({"rule": rule, "model": model, "days": days, "reason": reason}),
        grant,
        refuse=lambda error: _refused(ctx, policy_id, error, typed),
        explain=explain,
    )


# -- waivers ----------------------------------------------------------------------------------------


@router.post("/waivers/{waiver_id}/revoke", response_class=HTMLResponse)
def revoke_submit(
    waiver_id: int,
    csrf: CsrfField = "",
    reason: LongField = "",
    back: ShortField = "",
    ctx: Context = PageNeeds(P.POLICY_APPROVE),
) -> Response:
    check_csrf(ctx, csrf)
    # Back to the page the button was on: a policy's page (its id, checked below) or the waivers list.
    policy_id = back if back and back != "waivers" else None
    typed = {"revoke": {"waiver": waiver_id, "reason": reason}}

    def revoke(data: WaiverRevoke) -> Response:
        revoked = service.revoke_waiver(ctx.session, ctx.principal, waiver_id, data.reason)
        if policy_id == revoked.policy:
            return _redirect(f"/policies/{revoked.policy}", "revoked", "#waivers")
        return _redirect("/waivers", "revoked")

    return submit(
        lambda: WaiverRevoke(reason=reason),
        revoke,
        refuse=lambda error: _revoke_refused(ctx, policy_id, error, typed),
        explain=explain,
    )


def _revoke_refused(ctx: Context, policy_id: str | None, error: CharterError, form: dict[str, Any]) -> HTMLResponse:
    if policy_id is None:
        ctx.session.rollback()
        return _waivers_page(ctx, error=error.message, status=error.status, form=form)
    return _refused(ctx, policy_id, error, form)


def _waivers_page(
    ctx: Context,
    *,
    status_filter: str | None = None,
    policy: str | None = None,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    waivers = service.list_waivers(ctx.session, ctx.principal, status=status_filter, policy=policy)
    return render(
        ctx.request,
        "waivers.html",
        {
            "waivers": waivers,
            "statuses": WAIVER_STATUSES,
            "filters": {"status": status_filter or "", "policy": policy or ""},
            "policies": [p.id for p in service.list_policies(ctx.session, ctx.principal)],
            "can_revoke": ctx.principal.holds(P.POLICY_APPROVE),
            "form": form or {},
            "message": message,
            "error": error,
        },
        status=status,
    )


@router.get("/waivers", response_class=HTMLResponse)
def waivers_page(
    ctx: Context = PageNeeds(P.POLICY_READ),
    status: Annotated[str | None, Query(max_length=20)] = None,
    policy: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    chosen = status if status in WAIVER_STATUSES else None
    return _waivers_page(ctx, status_filter=chosen, policy=policy or None, message=DONE_MESSAGES.get(done or ""))
