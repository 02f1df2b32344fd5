"""``charter scan``: look for unsafe content in model files without loading them. No server, database
or settings: it reads the files and prints a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
from rich.markup import escape
from rich.table import Table

from charter.cli.context import console, fail, handle_errors

if TYPE_CHECKING:
    from charter.compute.scan import ScanReport

_STYLE = {"clean": "green", "unsafe": "red", "not_verified": "yellow"}
_SEVERITY = {"low": "dim", "medium": "yellow", "high": "red", "critical": "bold red"}


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)


@handle_errors
def scan(
    path: Path = typer.Argument(..., help="A model file or a folder (scanned recursively)."),
    output: Literal["table", "json"] = typer.Option("table", "--format", help="table (Rich) or json."),
) -> None:
    """Scan model files for code that runs when they are loaded (pickle, joblib, PyTorch, NumPy, Keras,
    ONNX, safetensors). Exit 0 clean, 1 unsafe, 2 not verified (unreadable, encrypted, truncated,
    unsupported or over a limit) or PATH missing."""
    from charter.compute.scan import scan_path  # NumPy and friends: only when this command runs

    try:
        report = scan_path(path)
    except FileNotFoundError as exc:
        raise fail(str(exc), 2) from exc
    if output == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    raise typer.Exit(report.exit_code())


def _print(report: ScanReport) -> None:
    files = Table(title="Files", title_justify="left")
    for column in ("path", "format", "size", "verdict"):
        files.add_column(column, justify="right" if column == "size" else "left")
    for result in report.files:
        style = _STYLE[result.verdict]
        files.add_row(escape(result.path), result.format, f"{result.size:,}", f"[{style}]{result.verdict}[/{style}]")
    console.print(files)
    if report.findings:
        findings = Table(title="Findings", title_justify="left")
        for column in ("file", "member", "severity", "rule", "message"):
            findings.add_column(column, overflow="fold", no_wrap=column in ("severity", "rule"))
        for f in report.findings:
            style = _SEVERITY[f.severity]
            findings.add_row(
                escape(f.file), escape(f.member or ""), f"[{style}]{f.severity}[/{style}]", f.rule, escape(f.message)
            )
        console.print(findings)
    style = _STYLE[report.verdict]
    console.print(
        f"[{style}]{report.verdict.replace('_', ' ').upper()}[/{style}]: {len(report.files)} files, "
        f"{len(report.findings)} findings (exit {report.exit_code()})."
    )
