"""``charter risk``: risk assessments, scoring rules, EU AI Act classification and the risk register,
as the local operator.

Every command is one service call in one transaction, audited like its REST twin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, database, fail, handle_errors, operator, settings, unit_of_work
from charter.risk import classification, register, scoring, service
from charter.risk.schemas import (
    AssessmentRead,
    ClassificationRequest,
    RiskAccept,
    RiskCreate,
    RiskRead,
    RiskUpdate,
    RulesRead,
)

app = typer.Typer(
    help="Risk: assessments with their reasons, scoring rules, EU AI Act classification, the risk register.",
    no_args_is_help=True,
)
rules_app = typer.Typer(help="The scoring rules (versioned; the shipped default is installed on first use).")
register_app = typer.Typer(help="The risk register: likelihood, impact, controls, residual risk, treatment.")
app.add_typer(rules_app, name="rules", no_args_is_help=True)
app.add_typer(register_app, name="register", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
MODEL_OPTION = typer.Option(..., "--model", "-m", help="Model name or id.")
VERSION_OPTION = typer.Option(..., "--version", "-v", help="Version label.")
RATING_COLOURS = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}


def _rating(rating: str) -> str:
    colour = RATING_COLOURS.get(rating, "white")
    return f"[{colour}]{rating}[/{colour}]"


def _validated(schema: type[BaseModel], **values: Any) -> Any:
    try:
        return schema.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc


def _print_assessment(read: AssessmentRead) -> None:
    result = read.result
    console.print(
        f"[bold]{escape(read.model)}[/bold] {escape(read.version)} · assessment {read.id} · "
        f"{_rating(read.rating)} ({read.score:.4g}) · rules v{read.rules_version} · {read.trigger} · "
        f"{read.created_at:%Y-%m-%d %H:%M}Z by {escape(read.created_by)}"
    )
    table = Table("factor", "score", "base", "weight", "share")
    for factor in result.factors:
        table.add_row(
            factor.title, f"{factor.score:.4g}", f"{factor.base:g}", f"{factor.weight:g}", f"{factor.contribution:.4g}"
        )
    console.print(table)
    for factor in result.factors:
        for r in factor.reasons:
            note = ("" if r.applied else ", not counted") + (", undecided" if r.status == "unknown" else "")
            console.print(f"  {factor.factor}: {r.rule} ({r.add:+g}{note}): {escape(r.reason)}")
    if result.banded_rating != result.rating:
        console.print(f"  banded {result.banded_rating}; raised by overrides:")
    for override in result.overrides:
        console.print(f"  override {escape(override.id)} → {override.rating}: {escape(override.detail)}")


@app.command("assess")
@handle_errors
def assess(model: str = MODEL_OPTION, version: str = VERSION_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Assess a model version now (stored, and recorded as risk_assessment evidence)."""
    with unit_of_work(database(settings())) as session:
        read = service.assess(session, operator(), model, version)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    _print_assessment(read)


@app.command("show")
@handle_errors
def show(
    model: str = MODEL_OPTION,
    version: str = VERSION_OPTION,
    history: bool = typer.Option(False, "--history", help="List every assessment, newest first."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The version's latest assessment with its reasons (or its history)."""
    with unit_of_work(database(settings())) as session:
        reads = (
            service.list_assessments(session, operator(), model, version)
            if history
            else [service.latest_assessment(session, operator(), model, version)]
        )
    if as_json:
        typer.echo("[" + ",".join(r.model_dump_json() for r in reads) + "]" if history else reads[0].model_dump_json())
        return
    if not history:
        _print_assessment(reads[0])
        return
    table = Table("assessment", "when", "trigger", "rules", "score", "rating", "by")
    for r in reads:
        table.add_row(
            str(r.id),
            f"{r.created_at:%Y-%m-%d %H:%M}Z",
            r.trigger,
            f"v{r.rules_version}",
            f"{r.score:.4g}",
            _rating(r.rating),
            escape(r.created_by),
        )
    console.print(table)


@app.command("questionnaire")
@handle_errors
def questionnaire(
    template: bool = typer.Option(False, "--template", help="Print a YAML answer sheet to fill in."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The EU AI Act intake questionnaire."""
    read = classification.questionnaire()
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    if template:
        typer.echo(f"# EU AI Act intake questionnaire {read.version}: answer true or false (numbers where asked).")
        for q in read.questions:
            typer.echo(f"\n# {q.reference}: {q.text}" + ("" if q.required else " (optional)"))
            typer.echo(f"{q.id}: {'null' if q.answer_type == 'number' or not q.required else 'false'}")
        return
    console.print(f"[bold]{escape(read.regulation)}[/bold], questionnaire {read.version}")
    table = Table("id", "reference", "question", "answer")
    for q in read.questions:
        table.add_row(q.id, q.reference, escape(q.text), q.answer_type + ("" if q.required else " (optional)"))
    console.print(table)


@app.command("classify")
@handle_errors
def classify(
    model: str = MODEL_OPTION,
    answers: Path = typer.Option(..., "--answers", help="YAML or JSON: question id -> answer."),
    apply_tier: bool = typer.Option(False, "--apply-tier", help="Also set the model's risk tier to the proposed one."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Classify a model under the EU AI Act from a filled-in questionnaire (`charter risk questionnaire --template`)."""
    if not answers.is_file():
        raise fail(f"{answers} is not a file.")
    try:
        data = yaml.safe_load(answers.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise fail(f"{answers} is not valid YAML or JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise fail(f"{answers} must map question ids to answers.")
    request = _validated(ClassificationRequest, answers=data, apply_tier=apply_tier)
    with unit_of_work(database(settings())) as session:
        read = service.classify_model(session, operator(), model, request)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    result = read.result
    console.print(
        f"[bold]{escape(read.model)}[/bold]: {result.category.replace('_', ' ')} "
        f"(proposed tier {result.proposed_tier}{', applied' if read.tier_applied else ''})"
        + (" · general-purpose AI model" if result.gpai else "")
        + (" with systemic risk" if result.gpai_systemic_risk else "")
    )
    for reason in result.reasons:
        console.print(f"  {escape(reason.reference)}: {escape(reason.text)}")
    console.print("Obligations:")
    for obligation in result.obligations:
        console.print(f"  {escape(obligation.reference)}: {escape(obligation.text)}")


@app.command("heat-map")
@handle_errors
def heat_map(as_json: bool = JSON_OPTION) -> None:
    """Open and accepted risks per (likelihood, impact) cell, and each model's latest rating."""
    with unit_of_work(database(settings())) as session:
        read = register.heat_map(session, operator())
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    for name, grid in (("residual", read.residual), ("inherent", read.inherent)):
        table = Table(f"{name}: likelihood \\ impact", "1", "2", "3", "4", "5")
        for likelihood in range(5, 0, -1):
            cells = grid[likelihood - 1]
            table.add_row(
                str(likelihood),
                *[
                    f"[{RATING_COLOURS[scoring.matrix_rating(likelihood, i + 1)]}]{n or '·'}[/]"
                    for i, n in enumerate(cells)
                ],
            )
        console.print(table)
    console.print(f"{read.risks} risks; {read.overdue_reviews} reviews overdue.")
    if read.models:
        table = Table("model", "version", "rating", "score", "assessed")
        for m in read.models:
            table.add_row(m.model, m.version, _rating(m.rating), f"{m.score:.4g}", f"{m.assessed_at:%Y-%m-%d}")
        console.print(table)


# -- rules ------------------------------------------------------------------------------------------


def _print_rules(read: RulesRead) -> None:
    shown = "shipped default, not installed yet" if read.number == 0 else f"version {read.number}"
    console.print(f"Scoring rules [bold]{escape(read.document.title)}[/bold] ({shown}, sha256 {read.sha256[:12]})")
    if read.reassessed:
        console.print(f"Re-assessed {read.reassessed} model versions under them.")


@rules_app.command("install")
@handle_errors
def rules_install() -> None:
    """Make the shipped default rules the rules in force."""
    with unit_of_work(database(settings())) as session:
        read = service.install_rules(session, operator())
    _print_rules(read)


@rules_app.command("show")
@handle_errors
def rules_show(
    number: int | None = typer.Option(None, "--number", help="A stored version (default: the one in force)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The scoring rules (as YAML)."""
    with unit_of_work(database(settings())) as session:
        read = service.get_rules(session, operator(), number=number)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    _print_rules(read)
    typer.echo(yaml.safe_dump(scoring.canonical(read.document), sort_keys=False, allow_unicode=True))


@rules_app.command("set")
@handle_errors
def rules_set(
    file: Path = typer.Argument(..., help="A rules document, YAML or JSON."),
    comment: str | None = typer.Option(None, help="Why the rules change."),
) -> None:
    """Store a new version of the scoring rules; assessed versions are re-assessed under it."""
    if not file.is_file():
        raise fail(f"{file} is not a file.")
    document = scoring.parse_text(file.read_text(encoding="utf-8"), name=str(file))
    with unit_of_work(database(settings())) as session:
        read = service.save_rules(session, operator(), document, comment=comment)
    _print_rules(read)


# -- the register -----------------------------------------------------------------------------------


def _print_risks(reads: list[RiskRead]) -> None:
    table = Table("id", "risk", "inherent", "residual", "status", "review")
    for r in reads:
        review = "—" if r.review_date is None else r.review_date.isoformat()
        if r.review_overdue:
            review = f"[red]{review} overdue[/red]"
        scope = r.model or r.team or "organisation"
        table.add_row(
            str(r.id),
            f"{escape(r.title)}\n[dim]{escape(scope)} · {r.category} · {escape(r.owner)}[/dim]",
            f"{r.likelihood}x{r.impact} {_rating(r.inherent_rating)}",
            f"{r.residual_likelihood}x{r.residual_impact} {_rating(r.residual_rating)}",
            r.status + (f" ({r.treatment})" if r.treatment and r.treatment != "accept" else ""),
            review,
        )
    console.print(table)


def _dump(read: RiskRead | list[RiskRead], as_json: bool) -> None:
    reads = read if isinstance(read, list) else [read]
    if as_json:
        data = [r.model_dump(mode="json") for r in reads]
        typer.echo(json.dumps(data if isinstance(read, list) else data[0], indent=2))
    else:
        _print_risks(reads)


@register_app.command("list")
@handle_errors
def register_list(
    model: str | None = typer.Option(None, "--model", "-m", help="Only this model's risks."),
    status: str | None = typer.Option(None, help="open, accepted or closed."),
    category: str | None = typer.Option(None, help="privacy, bias, security, compliance, transparency, ..."),
    overdue: bool = typer.Option(False, "--overdue", help="Only risks past their review date."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Risks, highest residual score first."""
    with unit_of_work(database(settings())) as session:
        where = register.RiskFilter(model=model, status=status, category=category, overdue=overdue)
        reads = register.list_risks(session, operator(), where)
    _dump(reads, as_json)


@register_app.command("add")
@handle_errors
def register_add(
    title: str = typer.Option(..., help="What could go wrong."),
    category: str = typer.Option(..., help="privacy, bias, security, compliance, transparency, robustness, other."),
    likelihood: int = typer.Option(..., help="1 (rare) to 5 (almost certain)."),
    impact: int = typer.Option(..., help="1 (negligible) to 5 (severe)."),
    owner: str = typer.Option(..., help="The user or service account answerable for it."),
    model: str | None = typer.Option(None, "--model", "-m", help="The model (none: organisation-wide)."),
    team: str | None = typer.Option(None, help="For an organisation-wide risk: its team."),
    description: str | None = typer.Option(None),
    control: list[str] = typer.Option([], "--control", help="A control in place (repeat)."),
    control_rule: list[str] = typer.Option([], "--control-rule", help="A policy rule, policy-id/rule-id (repeat)."),
    residual_likelihood: int | None = typer.Option(None, help="After controls (default: the likelihood)."),
    residual_impact: int | None = typer.Option(None, help="After controls (default: the impact)."),
    treatment: str | None = typer.Option(None, help="mitigate, accept, transfer or avoid."),
    incident: list[int] = typer.Option([], "--incident", help="A linked incident id (repeat)."),
    review_date: str | None = typer.Option(None, help="Next review, YYYY-MM-DD."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a risk to the register."""
    data = _validated(
        RiskCreate,
        title=title,
        category=category,
        likelihood=likelihood,
        impact=impact,
        owner=owner,
        model=model,
        team=team,
        description=description,
        controls=control,
        control_rules=control_rule,
        residual_likelihood=residual_likelihood,
        residual_impact=residual_impact,
        treatment=treatment,
        incidents=incident,
        review_date=review_date,
    )
    with unit_of_work(database(settings())) as session:
        read = register.create_risk(session, operator(), data)
    _dump(read, as_json)


@register_app.command("update")
@handle_errors
def register_update(
    risk: int = typer.Argument(..., help="Risk id."),
    title: str | None = typer.Option(None),
    category: str | None = typer.Option(None),
    likelihood: int | None = typer.Option(None),
    impact: int | None = typer.Option(None),
    residual_likelihood: int | None = typer.Option(None),
    residual_impact: int | None = typer.Option(None),
    owner: str | None = typer.Option(None),
    treatment: str | None = typer.Option(None),
    control: list[str] | None = typer.Option(None, "--control", help="Replace the controls (repeat)."),
    control_rule: list[str] | None = typer.Option(None, "--control-rule", help="Replace the policy rules (repeat)."),
    incident: list[int] | None = typer.Option(None, "--incident", help="Replace the linked incidents (repeat)."),
    review_date: str | None = typer.Option(None, help="Next review, YYYY-MM-DD."),
    status: str | None = typer.Option(None, help="open or closed (accept: `charter risk register accept`)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a risk (only the options given)."""
    data = _validated(
        RiskUpdate,
        title=title,
        category=category,
        likelihood=likelihood,
        impact=impact,
        residual_likelihood=residual_likelihood,
        residual_impact=residual_impact,
        owner=owner,
        treatment=treatment,
        controls=control or None,
        control_rules=control_rule or None,
        incidents=incident or None,
        review_date=review_date,
        status=status,
    )
    with unit_of_work(database(settings())) as session:
        read = register.update_risk(session, operator(), risk, data)
    _dump(read, as_json)


@register_app.command("accept")
@handle_errors
def register_accept(
    risk: int = typer.Argument(..., help="Risk id."),
    note: str = typer.Option(..., help="Why the residual risk is acceptable (at least 10 characters)."),
    review_date: str | None = typer.Option(None, help="When to review the acceptance, YYYY-MM-DD."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Accept a risk's residual rating (high or critical needs risk:accept)."""
    data = _validated(RiskAccept, note=note, review_date=review_date)
    with unit_of_work(database(settings())) as session:
        read = register.accept_risk(session, operator(), risk, data)
    _dump(read, as_json)
