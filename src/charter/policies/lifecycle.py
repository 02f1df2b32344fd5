"""The policy lifecycle: which state may follow which, what each state does at a gate, four eyes. Pure.

The framework's policy cycle (develop → implement → monitor → enforce → review, and back):

=========  ================================================================================
state      effect
=========  ================================================================================
draft      editable; evaluated only on demand (dry runs), never at a gate
audit      evaluated at every gate, results recorded as evidence; never blocks
warn       as audit, and failures are returned to the caller as warnings
enforce    a failing rule blocks the event (promotion, registration, production download)
review     enforced (blocks) while its scheduled review is due: an enforced policy enters
           review when ``review_due_at`` passes, or when someone asks for a review; the owner
           re-approves it (back to enforce, four eyes again) or changes it (back to draft)
retired    ignored everywhere; may be revived as a draft
=========  ================================================================================

Rules that make the states mean something:

- content changes only in ``draft``: each change is a new, immutable version; a policy in any
  other state is moved back to draft first (audited), changed, and moved through the cycle again;
- moving into ``enforce`` (from any state, review included) is a *proposal*: the policy keeps its
  state until a second person holding ``policy:approve`` approves it; the approver may be neither
  the proposer nor the author of the version being enforced (four eyes);
- every move is audited; moving to draft or retired withdraws a pending proposal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, cast, get_args

State = Literal["draft", "audit", "warn", "enforce", "review", "retired"]
STATES: tuple[State, ...] = get_args(State)

#: state -> the states it may move to.
TRANSITIONS: dict[State, tuple[State, ...]] = {
    "draft": ("audit", "warn", "enforce", "retired"),
    "audit": ("warn", "enforce", "draft", "retired"),
    "warn": ("audit", "enforce", "draft", "retired"),
    "enforce": ("review", "warn", "audit", "draft", "retired"),
    "review": ("enforce", "warn", "audit", "draft", "retired"),
    "retired": ("draft",),
}
#: States evaluated at gates, and those whose failures block the event.
EVALUATED: frozenset[State] = frozenset({"audit", "warn", "enforce", "review"})
BLOCKING: frozenset[State] = frozenset({"enforce", "review"})
WARNING: frozenset[State] = frozenset({"warn"})
#: The move that needs a second person.
NEEDS_APPROVAL: State = "enforce"
DEFAULT_REVIEW_DAYS = 365


def allowed_next(state: str) -> tuple[State, ...]:
    return TRANSITIONS.get(cast(State, state), ())


def can_move(source: str, target: str) -> bool:
    return target in allowed_next(source)


def effective_state(state: str, review_due_at: datetime | None, now: datetime) -> State:
    """An enforced policy whose review date has passed is in review (it keeps blocking)."""
    if state == "enforce" and review_due_at is not None and now >= review_due_at:
        return "review"
    assert state in STATES, state
    return state


def review_due(now: datetime, review_days: int) -> datetime:
    return now + timedelta(days=review_days)


def four_eyes_refusal(approver: str, *, proposed_by: str, author: str) -> str | None:
    """Why ``approver`` may not approve enforcing a version proposed by ``proposed_by`` and written by ``author``."""
    if approver == proposed_by:
        return f"{approver} proposed enforcing this policy and cannot also approve it; another person must"
    if approver == author:
        return f"{approver} wrote the version to be enforced and cannot approve it; another person must"
    return None
