"""CEL for policies: syntax and type errors with their positions, unknown facts, evaluation that fails closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import cel as celpy
import pytest

from charter.policies import cel
from charter.policies.facts import FACTS, ROOT, reference


def compile_(source: str) -> cel.Compiled:
    return cel.compile_expression(source, root=ROOT, root_type=FACTS)


def error_of(source: str) -> cel.CelError:
    with pytest.raises(cel.CelError) as caught:
        compile_(source)
    return caught.value


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        # Syntax errors come from the evaluator's own parser, with its position.
        ("facts.model.name == ", 1, 21, "Syntax error"),
        ("(facts.card.complete", 1, 21, "missing ')'"),
        ("facts.card.complete &&\n  && true", 2, 3, "Syntax error"),
        # Unknown facts, wherever they hide.
        ("facts.evidence.fairnes.age_days < 90.0", 1, 16, "unknown fact facts.evidence.fairnes"),
        ("has(facts.evidence.fairnes)", 1, 20, "unknown fact facts.evidence.fairnes"),
        ("has(facts.model.nope)", 1, 17, "unknown fact facts.model.nope"),
        ("facts.datasets.all(d, d.legal_basys != null)", 1, 25, "unknown fact d.legal_basys"),
        ("facts.model.tags.exists(t, t == 'a') && facts.modl.name == 'x'", 1, 47, "unknown fact facts.modl"),
        ("facts['model']['nme'] == 'x'", 1, 16, "unknown fact facts.model.nme"),
        ("facts.card.fields.human_oversite != null", 1, 19, "unknown fact facts.card.fields.human_oversite"),
        ("facts.incidents.by_severity.SEV5 == 0", 1, 29, "unknown fact facts.incidents.by_severity.SEV5"),
        ("model.risk_tier == 'high'", 1, 1, "unknown name 'model'"),
        ("facts.datasets.all(d, x.role == 'training')", 1, 23, "unknown name 'x'"),
        # Type errors.
        ("facts.approvals.count + 0.5 > 2.0", 1, 23, "does not mix int and double"),
        ("facts.model.name < 3", 1, 18, "cannot order a string and an int"),
        ("facts.model.name == 3", 1, 18, "can never be equal"),
        ("facts.model.id.foo == 1", 1, 16, "facts.model.id is an int"),
        ("facts.card.complete || facts.model.name", 1, 24, "must be a bool"),
        ("facts.model.name", 1, 1, "must be true or false"),
        ("facts.model.name.lower() == 'x'", 1, 18, "unknown function lower()"),
        ("int(facts.now) > 0", 1, 1, "int() cannot convert a timestamp"),
        ("facts.model.tags.all(t, t)", 1, 25, "must be a bool, not string"),
        ("Foo{a: 1}", 1, 4, "not supported"),
    ],
)
def test_malformed_expressions_are_refused_with_their_position(source: str, line: int, column: int, words: str) -> None:
    error = error_of(source)
    assert (error.line, error.column) == (line, column), error
    assert words in error.message


@pytest.mark.parametrize(
    "source",
    [
        "facts.evidence.fairness.age_days < 90.0",
        "has(facts.evidence.fairness.summary.metrics)",
        "facts.evidence.fairness.summary.metrics.demographic_parity_ratio >= 0.8",  # dyn below a fact: not checked
        "'facts.model.nope' != facts.model.name",  # a fact-like name in a string is only text
        '"""facts.x""" + r\'\\\' == facts.model.name',
        "facts.datasets.all(d, d.role != 'training' || d.legal_basis != null)",
        "facts.datasets.map(d, d.classification == 'personal', d.name).size() == 0",
        "facts.model.tags.filter(t, t.startsWith('eu-')).exists_one(t, t == 'eu-ai-act')",
        "facts.version.metrics.all(k, facts.version.metrics[k] >= 0.0)",
        "facts.now - facts.version.created_at < duration('720h')",
        "facts.model.risk_tier in ['high', 'unacceptable'] ? facts.card.complete : true",
        "facts.incidents.by_severity.SEV1 + facts.incidents.by_severity.SEV2 == 0",
        "double(facts.approvals.count) / 2.0 >= 1.0",
        "facts['card']['complete'] // a comment",
        "facts.owners_trained == null || facts.owners_trained",
        "-9223372036854775808 < facts.model.id",
        "size(facts.card.missing) == 0 && facts.signature.key_id.size() > 0",
    ],
)
def test_valid_expressions_compile_and_the_evaluator_accepts_them(source: str) -> None:
    compiled = compile_(source)
    assert compiled.program.source == source


def test_the_paths_read_are_what_the_expression_reads() -> None:
    compiled = compile_(
        "facts.evidence.fairness.disparate_impact >= 0.8 && facts.datasets.all(d, d.legal_basis != null)"
        " && has(facts.card.fields.limitations) && facts.evidence.fairness.summary.groups > 1"
    )
    assert compiled.paths == {
        ("facts", "evidence", "fairness", "disparate_impact"),
        ("facts", "datasets"),
        ("facts", "card", "fields", "limitations"),
        ("facts", "evidence", "fairness", "summary"),
    }


def test_every_declared_fact_compiles_as_a_read() -> None:
    """Each fact in the reference is reachable by its path, so the docs name nothing the checker refuses."""
    for path, type_, _doc in reference():
        if "[]" in path:
            head, field = path.split("[].", 1)
            source = f"{head}.all(x, x.{field} == x.{field})"
        else:
            source = f"{path} == {path}"
        assert compile_(source).paths, (path, type_)


FACTS_DOC: dict[str, Any] = {
    "model": {"name": "m", "risk_tier": None, "id": 3},
    "version": {"metrics": {"auc": 0.9}},
    "approvals": {"count": 0},
    "datasets": [{"role": "training", "legal_basis": None}],
    "now": datetime(2026, 1, 1, tzinfo=UTC),
}


def evaluate(source: str, doc: dict[str, Any] = FACTS_DOC) -> cel.Outcome:
    compiled = compile_(source)
    return cel.evaluate(compiled, cel.context_for(ROOT, cel.prune(doc, compiled.paths)))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("10 / facts.approvals.count > 1", "divides by zero"),
        ("facts.version.metrics.accuracy > 0.5", "reads 'accuracy', which is missing"),
        ("facts.model.risk_tier > 'a'", "may be null"),
        ("facts.datasets[3].role == 'x'", "past the end of a list"),
        ("facts.model.id * 9223372036854775807 > 0", "overflow"),
    ],
)
def test_evaluation_errors_are_outcomes_with_a_reason_never_exceptions(source: str, reason: str) -> None:
    outcome = evaluate(source)
    assert isinstance(outcome, cel.EvalError)
    assert reason in outcome.reason.lower() or reason in outcome.reason


def test_evaluation_agrees_with_the_cel_library_on_the_whole_document() -> None:
    """Pruning the document to the paths read changes no answer."""
    sources = [
        "facts.model.risk_tier == null && facts.model.id == 3",
        "facts.datasets.exists(d, d.legal_basis == null)",
        "facts.version.metrics.auc > 0.8 && facts.now > timestamp('2025-12-31T00:00:00Z')",
        "facts.approvals.count >= 1",
    ]
    for source in sources:
        whole = celpy.evaluate(source, {"facts": FACTS_DOC})
        assert evaluate(source) == whole, source


def test_prune_keeps_exactly_the_subtrees_read() -> None:
    doc = {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "f": [1], "g": None}
    assert cel.prune(doc, frozenset({("facts", "a", "c", "d"), ("facts", "f")})) == {"a": {"c": {"d": 2}}, "f": [1]}
    assert cel.prune(doc, frozenset({("facts", "a"), ("facts", "a", "b")})) == {"a": doc["a"]}
    assert cel.prune(doc, frozenset({("facts",)})) == doc
    assert cel.prune(doc, frozenset({("facts", "x", "y")})) == {}


def test_a_non_boolean_result_at_run_time_is_an_error() -> None:
    # dyn hides the type from the checker; the evaluator then returns a string.
    outcome = evaluate("dyn(facts.model.name)")
    assert isinstance(outcome, cel.EvalError) and "not true or false" in outcome.reason


def test_time_arithmetic_with_durations() -> None:
    doc = {**FACTS_DOC, "version": {"created_at": FACTS_DOC["now"] - timedelta(days=40)}}
    assert evaluate("facts.now - facts.version.created_at > duration('720h')", doc) is True
    assert evaluate("facts.now - facts.version.created_at > duration('1000h')", doc) is False
