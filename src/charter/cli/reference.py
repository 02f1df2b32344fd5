"""Reference pages made from the code itself: every command with its options, every setting.

``python -m charter.cli.reference cli > docs/cli.md`` and ``... settings > docs/configuration.md``
regenerate them; a test fails when the committed pages fall behind the code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer.main

from charter.cli.main import app
from charter.config import Settings
from charter.security.permissions import ROLE_PERMISSIONS, Permission, Role


def _command_lines(command: Any, path: list[str]) -> list[str]:
    lines: list[str] = []
    subcommands = getattr(command, "commands", None)
    if subcommands:
        if path:
            lines += [f"## `charter {' '.join(path)}`", "", (command.help or "").strip(), ""]
        for name in subcommands:
            lines += _command_lines(subcommands[name], [*path, name])
        return lines
    heading = "###" if len(path) > 1 else "##"
    lines += [f"{heading} `charter {' '.join(path)}`", "", (command.help or "").strip(), ""]
    rows = []
    for param in command.params:
        if param.name == "help":
            continue
        if param.param_type_name == "option":
            names = ", ".join(f"`{o}`" for o in [*param.opts, *getattr(param, "secondary_opts", [])])
        else:
            names = f"`{param.name.upper()}`"
        default = "" if param.default in (None, [], ()) or param.required else f" (default: `{param.default}`)"
        rows.append(f"| {names} | {(getattr(param, 'help', None) or '').replace('|', '/')}{default} |")
    if rows:
        lines += ["| argument / option | meaning |", "| --- | --- |", *rows, ""]
    return lines


def render_cli() -> str:
    root = typer.main.get_command(app)
    header = [
        "# Command-line reference",
        "",
        "Generated from the commands themselves (`python -m charter.cli.reference cli > docs/cli.md`).",
        "Every command also answers `--help`. Commands act on the database named by the settings",
        "(see [configuration](configuration.md)) as the local operator, recorded in the audit trail",
        "as `system:cli@<your OS user>`.",
        "",
    ]
    return "\n".join(header + _command_lines(root, [])).rstrip() + "\n"


def render_settings() -> str:
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable (`python -m charter.cli.reference settings`",
        "regenerates this page). Values are validated at start-up; outside development mode a missing,",
        "short or well-known secret stops the server with a message that says what to do.",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        if name == "home":  # computed from the user running it
            default = "`~/.charter`"
        elif field.default_factory is not None:
            made = field.default_factory()  # type: ignore[call-arg]
            default = f"`{json.dumps(made, separators=(',', ':'))}`".replace("|", "/")
        else:
            default = "" if field.default is None else f"`{field.default}`"
        lines.append(f"| `CHARTER_{name.upper()}` | {default} | {(field.description or '').replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def render_roles() -> str:
    roles = list(Role)
    lines = [
        "# Roles and permissions",
        "",
        "A role binding is (principal, role, scope); the scope is the whole organisation or one team.",
        "An organisation-wide binding covers every team; a team binding covers that team only. Nothing",
        "is allowed that no binding grants, except `self`: every signed-in user or service account may see",
        "who it is, change its own password and sign out. (`python -m charter.cli.reference roles`",
        "regenerates this page.)",
        "",
        "| permission | " + " | ".join(r.value for r in roles) + " |",
        "| --- | " + " | ".join("---" for _ in roles) + " |",
    ]
    for permission in Permission:
        if permission is Permission.SELF:
            continue
        marks = " | ".join("yes" if permission in ROLE_PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    pages = {"cli": render_cli, "settings": render_settings, "roles": render_roles}
    if len(sys.argv) != 2 or sys.argv[1] not in pages:
        sys.exit("usage: python -m charter.cli.reference cli|settings|roles")
    sys.stdout.write(pages[sys.argv[1]]())
