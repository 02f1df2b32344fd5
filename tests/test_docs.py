"""The reference pages are generated from the code; they must not fall behind it."""

from __future__ import annotations

from pathlib import Path

from charter.cli.reference import render_cli, render_roles, render_settings
from charter.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == render_cli(), (
        "docs/cli.md is stale: run `python -m charter.cli.reference cli > docs/cli.md`"
    )


def test_configuration_reference_is_current() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == render_settings(), (
        "docs/configuration.md is stale: run `python -m charter.cli.reference settings > docs/configuration.md`"
    )


def test_roles_reference_is_current() -> None:
    assert (ROOT / "docs" / "roles.md").read_text() == render_roles(), (
        "docs/roles.md is stale: run `python -m charter.cli.reference roles > docs/roles.md`"
    )


def test_every_setting_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


def test_readme_quick_start_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "make test" in quick
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
