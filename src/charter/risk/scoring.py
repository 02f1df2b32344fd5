"""Risk scoring: rules as data over a version's facts, each score with its reasons. Pure: no database, no web.

A rules document (:class:`~charter.risk.schemas.RulesDocument`) gives each factor a base score and
rules ``{id, when, add, reason}`` whose conditions are CEL over the same facts document as the
policies (:mod:`charter.policies.facts`), compiled and type-checked by :mod:`charter.policies.cel`:

- factor score = ``clamp(base + sum(add of each rule whose condition is true), 0, 1)``;
- overall score = ``sum(weight_f * score_f) / sum(weight_f)`` over the six factors;
- rating = ``critical`` if score >= thresholds.critical, else ``high`` if >= thresholds.high, else
  ``medium`` if >= thresholds.medium, else ``low``; then each override that fires raises it to at
  least its own rating (overrides never lower a rating).

Scores are rounded to 4 decimals (the rating is decided on the rounded value), so that an
assessment reads the same wherever it is computed.

A condition that cannot be decided (it reads a null fact where a value is needed) is reported as
``unknown``: it counts when its ``add`` is positive and not when it is zero or negative, so a
missing fact never lowers a score; an override whose condition cannot be decided fires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

import cel as _cel
import orjson

from charter.errors import InvalidInput
from charter.policies import cel
from charter.policies.engine import compile_collecting
from charter.policies.facts import ROOT, SECTIONS
from charter.policies.text import parse_mapping, validate_model
from charter.risk.schemas import (
    FACTORS,
    EvidenceRef,
    Factor,
    FactorScore,
    OverrideFired,
    Rating,
    Reason,
    RulesDocument,
    ScoreResult,
)

__all__ = [
    "RATING_ORDER",
    "CompiledRules",
    "band",
    "cached",
    "canonical",
    "compile_rules",
    "default_document",
    "facts_digest",
    "matrix_rating",
    "parse_data",
    "parse_text",
    "score",
    "sections",
    "sha256",
    "validate",
]

RATING_ORDER: tuple[Rating, ...] = ("low", "medium", "high", "critical")
DEFAULT_RULES = "charter.risk.rules"
MAX_TEXT = 256_000
_PLACES = 4
# Facts that change with the clock alone (or that an assessment writes itself) are not "facts that
# changed": they are left out of the digest, or every trigger would re-assess.
_CLOCK_KEYS = frozenset({"now", "age_days"})


# -- documents --------------------------------------------------------------------------------------


def canonical(document: RulesDocument) -> dict[str, Any]:
    return document.model_dump(mode="json")


def sha256(document: RulesDocument) -> str:
    """SHA-256 of the document's canonical JSON (keys sorted): what a rules version is known by."""
    return hashlib.sha256(orjson.dumps(canonical(document), option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_text(text: str, *, name: str = "the rules document") -> RulesDocument:
    """A rules document from YAML or JSON text; errors name the line, or the field, and the problem."""
    fields = "title, factors, weights, thresholds and overrides"
    return parse_data(parse_mapping(text, name=name, max_chars=MAX_TEXT, fields=fields), name=name)


def parse_data(data: Mapping[str, Any], *, name: str = "the rules document") -> RulesDocument:
    return validate_model(RulesDocument, dict(data), name=name, kind="valid scoring rules")


def default_document() -> RulesDocument:
    """The scoring rules shipped with Charter (``charter/risk/rules/default.yaml``)."""
    text = resources.files(DEFAULT_RULES).joinpath("default.yaml").read_text(encoding="utf-8")
    return parse_text(text, name="rules/default.yaml")


# -- compiling --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    factor: Factor
    id: str
    add: float
    reason: str
    expr: cel.Compiled


@dataclass(frozen=True)
class CompiledOverride:
    id: str
    rating: Rating
    reason: str
    factor: str | None
    at_least: float | None
    expr: cel.Compiled | None


@dataclass(frozen=True)
class CompiledRules:
    document: RulesDocument
    number: int
    rules: tuple[CompiledRule, ...]
    overrides: tuple[CompiledOverride, ...]
    paths: frozenset[cel.Path]


def validate(document: RulesDocument, number: int = 0) -> CompiledRules:
    """Compile every condition; raise ``InvalidInput`` listing each error with its field, line and column."""
    errors: list[dict[str, Any]] = []
    rules: list[CompiledRule] = []
    for factor, spec in document.factors.items():
        for index, rule in enumerate(spec.rules):
            compiled = compile_collecting(f"factors.{factor}.rules[{index}] ({rule.id}).when", rule.when, errors)
            if compiled is not None:
                rules.append(CompiledRule(factor, rule.id, rule.add, rule.reason, compiled))
    overrides: list[CompiledOverride] = []
    for index, override in enumerate(document.overrides):
        expr = None
        if override.when is not None:
            expr = compile_collecting(f"overrides[{index}] ({override.id}).when", override.when, errors)
            if expr is None:
                continue
        overrides.append(
            CompiledOverride(override.id, override.rating, override.reason, override.factor, override.at_least, expr)
        )
    if errors:
        listed = "; ".join(f"{e['field']}: line {e['line']}, column {e['column']}: {e['message']}" for e in errors)
        raise InvalidInput(f"The scoring rules are not valid: {listed}", details={"errors": errors})
    paths: set[cel.Path] = set()
    for compiled_rule in rules:
        paths |= compiled_rule.expr.paths
    for compiled_override in overrides:
        if compiled_override.expr is not None:
            paths |= compiled_override.expr.paths
    return CompiledRules(document, number, tuple(rules), tuple(overrides), frozenset(paths))


#: Compiled stored versions by (number, SHA-256): stored versions never change. Bounded.
_COMPILED: dict[tuple[int, str], CompiledRules] = {}
_CACHE_SIZE = 64


def cached(number: int, digest: str) -> CompiledRules | None:
    """The compiled rules for a stored version, if compiled in this process already."""
    return _COMPILED.get((number, digest))


def compile_rules(document: RulesDocument, *, number: int, digest: str) -> CompiledRules:
    """As :func:`validate`, for a stored version, remembered in this process."""
    key = (number, digest)
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= _CACHE_SIZE:
            _COMPILED.clear()
        found = _COMPILED[key] = validate(document, number)
    return found


def sections(rules: CompiledRules) -> frozenset[str] | None:
    """The top-level fact sections the rules read (None: all of them), for the facts builder."""
    if any(len(p) < 2 for p in rules.paths):
        return None
    found = frozenset(p[1] for p in rules.paths) & frozenset(SECTIONS)
    return found or frozenset({"now"})


# -- scoring ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A fact's value as JSON (times as ISO 8601 text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _lookup(document: Mapping[str, Any], path: cel.Path) -> Any:
    node: Any = document
    for part in path[1:]:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _facts_read(document: Mapping[str, Any], paths: frozenset[cel.Path]) -> dict[str, Any]:
    return {".".join(p): _plain(_lookup(document, p)) for p in sorted(paths)}


def _evidence_read(document: Mapping[str, Any], paths: frozenset[cel.Path]) -> list[EvidenceRef]:
    """The evidence a condition's facts came from: each ``facts.evidence.<kind>...`` read, by id."""
    found: dict[str, int] = {}
    for path in sorted(paths):
        if len(path) >= 3 and path[1] == "evidence":
            kind = path[2]
            ident = _lookup(document, (ROOT, "evidence", kind, "id"))
            if isinstance(ident, int):
                found[kind] = ident
    return [EvidenceRef(kind=kind, id=ident) for kind, ident in found.items()]


def band(value: float, thresholds: Mapping[str, float]) -> Rating:
    """The rating of a score: the highest band whose threshold it reaches."""
    for rating in ("critical", "high", "medium"):
        if value >= thresholds[rating]:
            return rating
    return "low"


def _max_rating(a: Rating, b: Rating) -> Rating:
    return a if RATING_ORDER.index(a) >= RATING_ORDER.index(b) else b


def context(rules: CompiledRules, document: Mapping[str, Any]) -> _cel.Context:
    return cel.context_for(ROOT, cel.prune(document, rules.paths))


def score(rules: CompiledRules, document: Mapping[str, Any]) -> ScoreResult:
    """Score one version's facts under the rules, every factor with the reasons that produced it."""
    ctx = context(rules, document)
    spec = rules.document
    reasons: dict[Factor, list[Reason]] = {f: [] for f in FACTORS}
    totals: dict[Factor, float] = {f: spec.factors[f].base for f in FACTORS}
    for rule in rules.rules:
        outcome = cel.evaluate(rule.expr, ctx)
        if outcome is False:
            continue
        unknown = isinstance(outcome, cel.EvalError)
        applied = not unknown or rule.add > 0
        if applied:
            totals[rule.factor] += rule.add
        reasons[rule.factor].append(
            Reason(
                rule=rule.id,
                status="unknown" if unknown else "fired",
                applied=applied,
                add=rule.add,
                reason=rule.reason,
                facts=_facts_read(document, rule.expr.paths),
                evidence=_evidence_read(document, rule.expr.paths),
                error=outcome.reason if isinstance(outcome, cel.EvalError) else None,
            )
        )
    weight_sum = sum(spec.weights.values())
    factors = []
    for f in FACTORS:
        value = round(min(1.0, max(0.0, totals[f])), _PLACES)
        factors.append(
            FactorScore(
                factor=f,
                title=spec.factors[f].title,
                base=spec.factors[f].base,
                score=value,
                weight=spec.weights[f],
                contribution=round(spec.weights[f] * value / weight_sum, _PLACES),
                reasons=reasons[f],
            )
        )
    overall = round(sum(spec.weights[s.factor] * s.score for s in factors) / weight_sum, _PLACES)
    thresholds = spec.thresholds.model_dump()
    banded = band(overall, thresholds)
    fired = _overrides(rules, factors, document, ctx)
    rating = banded
    for override in fired:
        rating = _max_rating(rating, override.rating)
    return ScoreResult(
        factors=factors, score=overall, banded_rating=banded, rating=rating, thresholds=thresholds, overrides=fired
    )


def _overrides(
    rules: CompiledRules, factors: list[FactorScore], document: Mapping[str, Any], ctx: _cel.Context
) -> list[OverrideFired]:
    fired: list[OverrideFired] = []
    for override in rules.overrides:
        if override.expr is not None:
            outcome = cel.evaluate(override.expr, ctx)
            if outcome is False:
                continue
            detail = (
                f"its condition could not be decided ({outcome.reason}): an unknown never lowers a rating"
                if isinstance(outcome, cel.EvalError)
                else f"{override.expr.source} is true"
            )
            facts = _facts_read(document, override.expr.paths)
            fired.append(
                OverrideFired(
                    id=override.id, rating=override.rating, reason=override.reason, detail=detail, facts=facts
                )
            )
            continue
        assert override.at_least is not None
        hits = [s for s in factors if (override.factor in ("any", s.factor)) and s.score >= override.at_least]
        if hits:
            named = ", ".join(f"{s.factor} {s.score:g}" for s in hits)
            fired.append(
                OverrideFired(
                    id=override.id,
                    rating=override.rating,
                    reason=override.reason,
                    detail=f"{named} >= {override.at_least:g}",
                )
            )
    return fired


def _stable(value: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _stable(v, (*path, k))
            for k, v in value.items()
            if k not in _CLOCK_KEYS and (*path, k) != ("evidence", "risk_assessment")
        }
    if isinstance(value, list | tuple):
        return [_stable(v, path) for v in value]
    return _plain(value)


def facts_digest(rules: CompiledRules, document: Mapping[str, Any]) -> str:
    """SHA-256 of the facts the rules read, without those that move with the clock alone (``now``,
    ``age_days``) and without the version's own risk assessment evidence."""
    read = cel.prune(document, rules.paths)
    return hashlib.sha256(orjson.dumps(_stable(read), option=orjson.OPT_SORT_KEYS)).hexdigest()


# -- the register's risk matrix ---------------------------------------------------------------------

#: The 5 x 5 matrix's bands over likelihood x impact (1 to 25): the upper bound of each band.
MATRIX_BANDS: tuple[tuple[int, Rating], ...] = ((4, "low"), (9, "medium"), (16, "high"), (25, "critical"))


def matrix_rating(likelihood: int, impact: int) -> Rating:
    """The rating of a register entry: likelihood x impact (each 1 to 5) banded low (1-4), medium (5-9),
    high (10-16) or critical (20-25)."""
    if not (1 <= likelihood <= 5 and 1 <= impact <= 5):
        raise ValueError(f"likelihood and impact are 1 to 5, not {likelihood} and {impact}")
    product = likelihood * impact
    return next(rating for bound, rating in MATRIX_BANDS if product <= bound)
