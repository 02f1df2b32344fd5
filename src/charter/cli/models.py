"""``charter model``, ``charter dataset``, ``charter keys``: inventory and model protection, as the local operator.

The artifact pipeline (``charter.inventory.artifacts``) is imported inside the commands that use it:
it pulls in NumPy, whose BLAS threads would otherwise live in every ``charter`` process, and a
process with threads never forks (``charter audit verify`` then walks the chain alone).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from charter.cli.context import console, database, err, fail, handle_errors, operator, settings, unit_of_work
from charter.inventory import service
from charter.inventory.schemas import DatasetCreate, DatasetLink, ModelCreate, Promotion, VersionCreate

model_app = typer.Typer(help="Models, versions, artifacts and the lifecycle.", no_args_is_help=True)
dataset_app = typer.Typer(help="Datasets (classification, legal basis, retention).", no_args_is_help=True)
keys_app = typer.Typer(help="Master keys that wrap artifact data keys.", no_args_is_help=True)


def _invalid(exc: ValidationError) -> typer.Exit:
    return fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()))


def _split(values: list[str]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _metrics(values: list[str]) -> dict[str, float]:
    metrics = {}
    for item in values:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            metrics[key.strip()] = float(value)
        except ValueError as exc:
            raise fail(f"--metric takes NAME=NUMBER, e.g. auc=0.91; got {item!r}") from exc
    return metrics


# -- models -----------------------------------------------------------------------------------------


@model_app.command("register")
@handle_errors
def register(
    name: str = typer.Argument(..., help="Model name (lower-case letters, digits, '.', '_', '-')."),
    team: str = typer.Option(..., help="Owner team."),
    purpose: str | None = typer.Option(None, help="What the system is for."),
    intended_use: str | None = typer.Option(None, help="Who uses it, for what decisions."),
    out_of_scope: list[str] = typer.Option([], "--out-of-scope", help="A use it must not serve (repeatable)."),
    domain: str = typer.Option(
        "other", help="credit, employment, health, biometrics, education, law_enforcement, insurance or other."
    ),
    description: str | None = typer.Option(None, help="Free text."),
    regulation: list[str] = typer.Option([], "--regulation", help="A regulation that applies (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="A tag (repeatable, or comma-separated)."),
    version: str | None = typer.Option(None, help="Also create this version (draft)."),
    artifact: list[Path] = typer.Option(
        [], "--artifact", "-a", help="A file of that version (repeatable); needs --version."
    ),
    dataset: list[str] = typer.Option([], "--dataset", help="NAME or NAME:ROLE (training, evaluation, reference)."),
    metric: list[str] = typer.Option([], "--metric", help="NAME=VALUE for that version (repeatable)."),
    framework: str | None = typer.Option(None, help="Framework of that version, e.g. scikit-learn 1.5."),
) -> None:
    """Register a model; with --version, also its first version and its files (scanned, encrypted, signed)."""
    from charter.inventory import artifacts  # see the module's docstring

    if artifact and not version:
        raise fail("--artifact needs --version: files belong to a version.")
    try:
        data = ModelCreate(
            name=name,
            team=team,
            purpose=purpose,
            intended_use=intended_use,
            out_of_scope_uses=out_of_scope,
            domain=domain,
            description=description,
            regulations=regulation,
            tags=_split(tag),
        )
        links = [DatasetLink(dataset=d.partition(":")[0], role=d.partition(":")[2] or "training") for d in dataset]
        new_version = (
            VersionCreate(version=version, framework=framework, metrics=_metrics(metric), datasets=links)
            if version
            else None
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    for file in artifact:
        if not file.is_file():
            raise fail(f"{file} is not a file.")
    config = settings()
    protection = artifacts.Protection(config)
    with unit_of_work(database(config)) as session:
        model = service.register_model(session, operator(), data)
        console.print(f"Registered the model [bold]{model.name}[/bold] (id {model.id}, team {model.team}).")
        if new_version is not None:
            service.create_version(session, operator(), model.id, new_version)
            console.print(f"Created version [bold]{new_version.version}[/bold] (draft).")
            for file in artifact:
                read = artifacts.upload(
                    session, operator(), protection, model.id, new_version.version, path=file.name, plaintext=file
                )
                _print_artifact(read.path, read.scan_verdict, read.digest, len(read.scan_findings))


def _print_artifact(path: str, verdict: str, digest: str, findings: int) -> None:
    colour = {"clean": "green", "unsafe": "red"}.get(verdict, "yellow")
    console.print(
        f"  {path}: [{colour}]{verdict.replace('_', ' ')}[/{colour}]"
        + (f" ({findings} finding{'s' if findings != 1 else ''})" if findings else "")
        + f", sha256 {digest[:16]}…, encrypted and signed"
    )


@model_app.command("upload")
@handle_errors
def upload(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str = typer.Argument(..., help="A draft version."),
    files: list[Path] = typer.Argument(..., help="Files to add (each scanned, encrypted, signed)."),
    path: str | None = typer.Option(None, help="Path inside the model folder (one file only); default: its name."),
) -> None:
    """Add files to a draft version."""
    from charter.inventory import artifacts  # see the module's docstring

    if path and len(files) > 1:
        raise fail("--path names one file; give one file with it.")
    config = settings()
    protection = artifacts.Protection(config)
    with unit_of_work(database(config)) as session:
        for file in files:
            if not file.is_file():
                raise fail(f"{file} is not a file.")
            read = artifacts.upload(
                session, operator(), protection, model, version, path=path or file.name, plaintext=file
            )
            _print_artifact(read.path, read.scan_verdict, read.digest, len(read.scan_findings))


@model_app.command("list")
@handle_errors
def list_models(
    query: str | None = typer.Option(None, "--query", "-q", help="Part of the name, description or purpose."),
    team: str | None = typer.Option(None, help="Owner team."),
    stage: str | None = typer.Option(None, help="Models with a version in this stage."),
    risk_tier: str | None = typer.Option(None, help="unacceptable, high, limited or minimal."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """List the inventory."""
    config = settings()
    with unit_of_work(database(config)) as session:
        page = service.list_models(
            session, operator(), query=query, team=team, stage=stage, risk_tier=risk_tier, limit=limit
        )
    if as_json:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in page.items], indent=2))
        return
    table = Table("id", "name", "team", "domain", "risk", "latest", "stage", "versions")
    for m in page.items:
        table.add_row(
            str(m.id),
            m.name,
            m.team,
            m.domain,
            m.risk_tier or "-",
            m.latest_version or "-",
            m.latest_stage or "-",
            str(m.version_count),
        )
    console.print(table)


@model_app.command("show")
@handle_errors
def show(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str | None = typer.Argument(None, help="A version (default: every version, newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a model and its versions, or one version with its artifacts, lineage and approvals."""
    config = settings()
    with unit_of_work(database(config)) as session:
        read = service.read_model(session, operator(), model)
        versions = (
            [service.read_version(session, operator(), model, version)]
            if version
            else service.list_versions(session, operator(), model, limit=500).items
        )
    if as_json:
        typer.echo(
            json.dumps(
                {"model": read.model_dump(mode="json"), "versions": [v.model_dump(mode="json") for v in versions]},
                indent=2,
            )
        )
        return
    console.print(
        f"[bold]{read.name}[/bold] (id {read.id}) · team {read.team} · {read.domain} · "
        f"risk tier {read.risk_tier or 'not assessed'}"
    )
    for label, value in (
        ("purpose", read.purpose),
        ("intended use", read.intended_use),
        ("description", read.description),
    ):
        if value:
            console.print(f"  {label}: {value}")
    for v in versions:
        console.print(
            f"\n[bold]{v.version}[/bold] · {v.stage} · by {v.created_by} · {'signed' if v.signed else 'unsigned'}"
        )
        for d in v.datasets:
            console.print(f"  dataset {d.dataset} ({d.role}, {d.classification})")
        for a in v.artifacts:
            _print_artifact(a.path, a.scan_verdict, a.digest, len(a.scan_findings))
        for t in v.transitions:
            console.print(
                f"  {t.at:%Y-%m-%d %H:%M} {t.from_stage} → {t.to_stage} by {t.actor}"
                + (f": {t.comment}" if t.comment else "")
            )


@model_app.command("promote")
@handle_errors
def promote(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str = typer.Argument(...),
    stage: str = typer.Argument(..., help="review, approved, production, deprecated, retired or draft."),
    comment: str | None = typer.Option(None, "--comment", "-m", help="Why (recorded with the transition)."),
) -> None:
    """Move a version to another lifecycle stage (gates: four eyes, scan verdicts, signature)."""
    from charter.inventory import artifacts  # see the module's docstring

    try:
        data = Promotion(stage=stage, comment=comment)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    config = settings()
    with unit_of_work(database(config)) as session:
        read = service.promote(session, operator(), model, version, data, protection=artifacts.Protection(config))
    console.print(f"{read.model} {read.version} is now [bold]{read.stage}[/bold].")


@model_app.command("diff")
@handle_errors
def diff(
    model: str = typer.Argument(..., help="Model name or id."),
    old: str = typer.Argument(..., help="Earlier version."),
    new: str = typer.Argument(..., help="Later version."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What changed between two versions: metadata, metrics, artifacts, datasets, card."""
    config = settings()
    with unit_of_work(database(config)) as session:
        result = service.diff_versions(session, operator(), model, old, new)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    table = Table("section", "field", old, new, title=f"{result.model}: {old} → {new}")
    for section in ("metadata", "metrics", "artifacts", "datasets", "card"):
        for change in getattr(result, section):
            table.add_row(section, change.field, _short(change.old), _short(change.new))
    console.print(table if table.row_count else "No differences.")


def _short(value: object) -> str:
    text = "-" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "…"


@model_app.command("verify")
@handle_errors
def verify(
    model: str | None = typer.Argument(None, help="Model name or id (verifies the stored, encrypted copy)."),
    version: str | None = typer.Argument(None),
    path: Path | None = typer.Option(None, "--path", help="Verify a downloaded model folder instead."),
    signature: Path | None = typer.Option(None, help="The model.sig for --path (default: PATH/model.sig)."),
    public_key: Path | None = typer.Option(None, help="PEM public key for --path (default: the server's key)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check a version's files against its signature. Exit 0 when intact, 1 naming each changed, added,
    removed or renamed file."""
    from charter.compute.crypto import signing
    from charter.inventory import artifacts  # see the module's docstring

    config = settings()
    if path is not None:
        key = (
            public_key.read_text()
            if public_key
            else signing.public_key_pem(signing.load_signing_key(config.signing_key_file))
        )
        sig = signature or path / signing.SIGNATURE_FILE
        if not sig.is_file():
            raise fail(f"No signature at {sig}; pass --signature.", 2)
        result = signing.verify_folder(path, sig, key)
        problems = [p.detail for p in result.problems]
        ok = result.ok
        label = str(path)
    else:
        if not (model and version):
            raise fail("Give MODEL VERSION (the stored copy) or --path FOLDER (a downloaded copy).", 2)
        with unit_of_work(database(config)) as session:
            report = artifacts.verify_version(session, operator(), artifacts.Protection(config), model, version)
        problems, ok, label = report.problems, report.ok, f"{report.model} {report.version}"
    if as_json:
        typer.echo(json.dumps({"target": label, "ok": ok, "problems": problems}, indent=2))
    elif ok:
        console.print(f"[green]OK[/green]: every file of {label} matches its signature.")
    else:
        err.print(f"[red]FAILED[/red]: {label}")
        for problem in problems:
            err.print(f"  {problem}")
    if not ok:
        raise typer.Exit(1)


@model_app.command("card")
@handle_errors
def card(
    model: str = typer.Argument(..., help="Model name or id."),
    version: str = typer.Argument(...),
    format: str = typer.Option("markdown", "--format", "-f", help="markdown, json or cyclonedx."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file instead of the terminal."),
) -> None:
    """Export the version's model card (Hugging Face Markdown, JSON, or a CycloneDX ML-BOM)."""
    from charter.inventory import bom, cards

    if format not in ("markdown", "json", "cyclonedx"):
        raise fail("--format is markdown, json or cyclonedx.", 2)
    config = settings()
    with unit_of_work(database(config)) as session:
        built = service.model_card(session, operator(), model, version)
    text = (
        cards.to_markdown(built)
        if format == "markdown"
        else bom.to_cyclonedx(built)
        if format == "cyclonedx"
        else json.dumps(cards.to_json(built), indent=2)
    )
    if out:
        out.write_text(text)
        console.print(f"Wrote {out}.")
    else:
        typer.echo(text)
    if built.missing():
        err.print("Required sections still empty: " + ", ".join(built.missing()))


# -- datasets ---------------------------------------------------------------------------------------


@dataset_app.command("register")
@handle_errors
def dataset_register(
    name: str = typer.Argument(...),
    team: str = typer.Option(..., help="Owner team."),
    location: str | None = typer.Option(None, help="URI of the data."),
    classification: str = typer.Option("internal", help="public, internal, personal or special_category."),
    legal_basis: str | None = typer.Option(
        None, help="GDPR basis (required for personal data): consent, contract, ..."
    ),
    retention_days: int | None = typer.Option(None, min=1, help="How long the data is kept."),
    consent_required: bool = typer.Option(False, "--consent-required", help="Processing needs the subject's consent."),
    description: str | None = typer.Option(None),
) -> None:
    """Register a dataset."""
    try:
        data = DatasetCreate(
            name=name,
            team=team,
            location=location,
            classification=classification,
            legal_basis=legal_basis,
            retention_days=retention_days,
            consent_required=consent_required,
            description=description,
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(database(settings())) as session:
        read = service.register_dataset(session, operator(), data)
    console.print(f"Registered the dataset [bold]{read.name}[/bold] ({read.classification}).")


@dataset_app.command("list")
@handle_errors
def dataset_list(
    team: str | None = typer.Option(None),
    classification: str | None = typer.Option(None),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List datasets."""
    with unit_of_work(database(settings())) as session:
        page = service.list_datasets(session, operator(), team=team, classification=classification, limit=500)
    if as_json:
        typer.echo(json.dumps([d.model_dump(mode="json") for d in page.items], indent=2))
        return
    table = Table("name", "team", "classification", "legal basis", "retention", "consent", "location")
    for d in page.items:
        table.add_row(
            d.name,
            d.team,
            d.classification,
            d.legal_basis or "-",
            f"{d.retention_days} d" if d.retention_days else "-",
            "yes" if d.consent_required else "no",
            d.location or "-",
        )
    console.print(table)


# -- master keys ------------------------------------------------------------------------------------


@keys_app.command("list")
@handle_errors
def keys_list() -> None:
    """Master keys, which one is active, and how many data keys each wraps."""
    from charter.inventory import artifacts  # see the module's docstring

    config = settings()
    protection = artifacts.Protection(config)
    with unit_of_work(database(config)) as session:
        usage = artifacts.key_usage(session)
    table = Table("key id", "active", "data keys")
    for key_id in protection.keyring.key_ids:
        table.add_row(key_id, "yes" if key_id == protection.keyring.active_key_id else "", str(usage.get(key_id, 0)))
    console.print(table)


@keys_app.command("rotate")
@handle_errors
def keys_rotate() -> None:
    """Make a new master key active and re-wrap every data key under it (artifacts are not re-encrypted)."""
    from charter.inventory import artifacts  # see the module's docstring

    config = settings()
    with unit_of_work(database(config)) as session:
        result = artifacts.rewrap_all(session, operator(), artifacts.Protection(config))
    console.print(
        f"Master key [bold]{result.key_id}[/bold] is active; {result.rewrapped} data key(s) re-wrapped. "
        f"Older keys stay readable until `charter keys retire KEY_ID`."
    )


@keys_app.command("rewrap")
@handle_errors
def keys_rewrap() -> None:
    """Re-wrap every data key under the active master key, without making a new one (for instance after
    CHARTER_MASTER_KEY changed, with the old key file still in place)."""
    from charter.inventory import artifacts  # see the module's docstring

    config = settings()
    with unit_of_work(database(config)) as session:
        result = artifacts.rewrap_all(session, operator(), artifacts.Protection(config), rotate=False)
    console.print(f"{result.rewrapped} data key(s) re-wrapped under master key [bold]{result.key_id}[/bold].")


@keys_app.command("retire")
@handle_errors
def keys_retire(key_id: str = typer.Argument(..., help="A master key id no data key uses any more.")) -> None:
    """Retire an old master key (refused while any data key still needs it)."""
    from charter.inventory import artifacts  # see the module's docstring

    config = settings()
    with unit_of_work(database(config)) as session:
        artifacts.retire_key(session, operator(), artifacts.Protection(config), key_id)
    console.print(f"Master key {key_id} is retired.")
