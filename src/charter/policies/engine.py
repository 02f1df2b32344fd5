"""Compile a policy document and decide it over one version's facts. Pure: no database, no web.

A policy applies to a version when its match condition is true. Each rule is then true (passed)
or false (failed); a failure excused by an active waiver is ``waived`` (still recorded); a rule
that cannot be evaluated is an ``error`` and counts as a failure (fail closed), as does a match
condition that cannot be evaluated (the policy is then taken to apply, with every rule in error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel as _cel

from charter.errors import InvalidInput
from charter.policies import cel
from charter.policies.facts import FACTS, ROOT
from charter.policies.schemas import PolicyDocument, PolicyOutcome, RuleOutcome, RuleSpec

__all__ = [
    "CompiledPolicy",
    "CompiledRule",
    "Waiver",
    "compile_collecting",
    "compile_policy",
    "decide",
    "sections_of",
    "validate",
]


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    expr: cel.Compiled


@dataclass(frozen=True)
class CompiledPolicy:
    id: str
    version: int
    document: PolicyDocument
    match: cel.Compiled
    rules: tuple[CompiledRule, ...]

    @property
    def paths(self) -> frozenset[cel.Path]:
        found = set(self.match.paths)
        for rule in self.rules:
            found |= rule.expr.paths
        return frozenset(found)


@dataclass(frozen=True)
class Waiver:
    """An exception for one rule of one policy on one model, valid until ``expires_at``."""

    id: int
    policy: str
    rule: str
    expires_at: datetime
    revoked: bool = False

    def active(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at


def compile_collecting(where: str, source: str, errors: list[dict[str, Any]]) -> cel.Compiled | None:
    """``source`` compiled and type-checked against the facts; or ``None``, its error appended to ``errors``.

    Each error is ``{field: where, line, column, message}``, so that a document's validation can
    report every bad expression at once (policies, risk rules and compliance frameworks share this).
    """
    try:
        return cel.compile_expression(source, root=ROOT, root_type=FACTS)
    except cel.CelError as exc:
        errors.append({"field": where, "line": exc.line, "column": exc.column, "message": exc.message})
        return None


def validate(document: PolicyDocument, version: int = 0) -> CompiledPolicy:
    """Compile every expression of the document; raise ``InvalidInput`` listing each error with its position."""
    errors: list[dict[str, Any]] = []
    match = compile_collecting("match", document.match, errors)
    rules = []
    for index, spec in enumerate(document.rules):
        compiled = compile_collecting(f"rules[{index}] ({spec.id})", spec.expr, errors)
        if compiled is not None:
            rules.append(CompiledRule(spec, compiled))
    if errors or match is None:
        listed = "; ".join(f"{e['field']}: line {e['line']}, column {e['column']}: {e['message']}" for e in errors)
        raise InvalidInput(f"Policy {document.id!r} is not valid: {listed}", details={"errors": errors})
    return CompiledPolicy(document.id, version, document, match, tuple(rules))


#: Compiled stored versions by (policy id, version, SHA-256 of the document): stored versions never
#: change, so neither do their programs. Bounded: cleared when full (policies are few).
_COMPILED: dict[tuple[str, int, str], CompiledPolicy] = {}
_CACHE_SIZE = 4096


def cached(policy_id: str, version: int, sha256: str) -> CompiledPolicy | None:
    """The compiled policy for a stored version, if it was compiled in this process already."""
    return _COMPILED.get((policy_id, version, sha256))


def compile_policy(document: PolicyDocument, *, version: int, sha256: str) -> CompiledPolicy:
    """As :func:`validate`, for a stored version, remembered (see :func:`cached`)."""
    key = (document.id, version, sha256)
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= _CACHE_SIZE:
            _COMPILED.clear()
        found = _COMPILED[key] = validate(document, version)
    return found


def sections_of(policies: Iterable[CompiledPolicy]) -> frozenset[str]:
    """The top-level fact sections the policies read (what the facts builder must fill)."""
    return frozenset(path[1] for policy in policies for path in policy.paths if len(path) > 1) or frozenset({"now"})


def paths_of(policies: Iterable[CompiledPolicy]) -> frozenset[cel.Path]:
    found: set[cel.Path] = set()
    for policy in policies:
        found |= policy.paths
    return frozenset(found)


def context(document: Mapping[str, Any], paths: frozenset[cel.Path]) -> _cel.Context:
    """One evaluation context over the parts of the facts that ``paths`` read."""
    return cel.context_for(ROOT, cel.prune(document, paths))


def applies(policy: CompiledPolicy, ctx: _cel.Context) -> cel.Outcome:
    return cel.evaluate(policy.match, ctx)


def decide(
    policy: CompiledPolicy,
    ctx: _cel.Context | None,
    *,
    state: str,
    waivers: Mapping[str, list[Waiver]],
    now: datetime,
    matched: cel.Outcome | None = None,
) -> PolicyOutcome:
    """The policy's outcome for one version. ``waivers``: rule id -> the waivers on this model for this policy.

    ``matched``: the match condition's outcome when the caller evaluated it already; ``ctx`` may
    then be None if it is False.
    """
    if matched is None:
        assert ctx is not None
        matched = applies(policy, ctx)
    match = matched
    if match is False:
        return PolicyOutcome(
            policy=policy.id, version=policy.version, state=state, applies=False, outcome="not_applicable", rules=[]
        )
    reason = f"the match condition could not be evaluated: {match.reason}" if isinstance(match, cel.EvalError) else None
    outcomes = []
    for rule in policy.rules:
        assert ctx is not None
        result: cel.Outcome = cel.EvalError(reason) if reason else cel.evaluate(rule.expr, ctx)
        outcomes.append(_rule_outcome(rule.spec, result, waivers.get(rule.spec.id, []), now))
    if any(o.status == "error" for o in outcomes):
        outcome = "error"
    elif any(o.status == "failed" for o in outcomes):
        outcome = "failed"
    else:
        outcome = "passed"
    return PolicyOutcome(
        policy=policy.id,
        version=policy.version,
        state=state,
        applies=True,
        outcome=outcome,
        reason=reason,
        rules=outcomes,
    )


def _rule_outcome(spec: RuleSpec, result: cel.Outcome, waivers: list[Waiver], now: datetime) -> RuleOutcome:
    base = {"rule": spec.id, "severity": spec.severity, "message": spec.message}
    if result is True:
        return RuleOutcome(status="passed", **base)
    active = [w for w in waivers if w.active(now)]
    expired = [w for w in waivers if not w.revoked and not w.active(now)]
    reason = result.reason if isinstance(result, cel.EvalError) else None
    if active:
        # A waiver excuses the rule whatever made it fail: an exception granted for a missing
        # assessment also covers the evaluation error that the missing fact causes.
        waiver = max(active, key=lambda w: w.expires_at)
        return RuleOutcome(status="waived", reason=reason, waiver=waiver.id, **base)
    last_expired = max((w.expires_at for w in expired), default=None)
    status = "error" if reason else "failed"
    return RuleOutcome(status=status, reason=reason, expired_waiver=last_expired, **base)
