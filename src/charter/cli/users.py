"""``charter user|role|team|apikey|token``: identity administration as the local operator."""

from __future__ import annotations

import typer
from pydantic import SecretStr, ValidationError
from rich.table import Column, Table

from charter.cli.context import (
    console,
    database,
    fail,
    handle_errors,
    is_interactive,
    operator,
    settings,
    unit_of_work,
)
from charter.identity import auth, service
from charter.identity.bootstrap import generate_password
from charter.identity.schemas import (
    ApiKeyCreate,
    RoleBindingChange,
    RoleGrant,
    ServiceAccountCreate,
    TeamCreate,
    UserCreate,
)
from charter.identity.service import PrincipalKind
from charter.security.permissions import ROLE_PERMISSIONS, Role
from charter.server.state import AppState

user_app = typer.Typer(help="Users and service accounts.", no_args_is_help=True)
role_app = typer.Typer(help="Roles and role bindings.", no_args_is_help=True)
team_app = typer.Typer(help="Teams (scopes for role bindings).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of service accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Access tokens for scripts.", no_args_is_help=True)

ROLE_HELP = "ROLE or ROLE@TEAM, e.g. admin or model_owner@credit-risk. Roles: " + ", ".join(r.value for r in Role)


def _grant(spec: str) -> RoleGrant:
    role, _, team = spec.partition("@")
    try:
        return RoleGrant(role=Role(role), team=team or None)
    except ValueError as exc:
        raise fail(f"{role!r} is not a role; roles are: {', '.join(r.value for r in Role)}") from exc


def _invalid(exc: ValidationError) -> typer.Exit:
    return fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))


# -- users ------------------------------------------------------------------------------------------


@user_app.command("create")
@handle_errors
def user_create(
    name: str = typer.Argument(..., help="User name (lower-case letters, digits, '.', '_', '-')."),
    role: list[str] = typer.Option([], "--role", "-r", help=ROLE_HELP),
    display_name: str | None = typer.Option(None, help="Full name."),
    email: str | None = typer.Option(None, help="E-mail address."),
    password: str | None = typer.Option(None, help="Password; prompted for (or generated) when absent."),
    service_account: bool = typer.Option(False, "--service", help="Create a service account (no password)."),
) -> None:
    """Create a user (or, with --service, a service account)."""
    config = settings()
    grants = [_grant(r) for r in role]
    db = database(config)
    with unit_of_work(db) as session:
        if service_account:
            try:
                data = ServiceAccountCreate(name=name, description=display_name, roles=grants)
            except ValidationError as exc:
                raise _invalid(exc) from exc
            created = service.create_service_account(session, operator(), data)
            console.print(
                f"Created the service account [bold]{created.name}[/bold]; "
                f"give it a key with `charter apikey create {created.name}`."
            )
            return
        shown = None
        if password is None:
            if is_interactive():
                password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
            else:
                password = shown = generate_password()
        try:
            user = UserCreate(
                username=name,
                password=SecretStr(password),
                display_name=display_name,
                email=email,
                roles=grants,
            )
        except ValidationError as exc:
            raise _invalid(exc) from exc
        created = service.create_user(session, operator(), user, settings=config)
    console.print(f"Created the user [bold]{created.name}[/bold].")
    if shown:
        console.print(f"Password, shown once: [bold]{shown}[/bold]")


@user_app.command("list")
@handle_errors
def user_list(
    kind: str | None = typer.Option(None, help="user or service"),
    query: str | None = typer.Option(None, "--query", "-q", help="Part of the name."),
) -> None:
    """List users and service accounts with their roles."""
    kinds: dict[str, PrincipalKind] = {"user": "user", "service": "service"}
    if kind is not None and kind not in kinds:
        raise fail("--kind must be user or service")
    db = database(settings())
    table = Table(Column("name", no_wrap=True), "kind", "roles", "active", "last sign-in")
    with unit_of_work(db) as session:
        cursor = None
        while True:
            page = service.list_principals(
                session,
                operator(),
                kind=kinds[kind] if kind else None,
                query=query,
                cursor=cursor,
                limit=500,
            )
            for p in page.items:
                roles = ", ".join(b.role.value + (f"@{b.team}" if b.team else "") for b in p.bindings) or "-"
                last = p.last_login_at.strftime("%Y-%m-%d %H:%M") if p.last_login_at else "-"
                table.add_row(p.name, p.kind, roles, "yes" if p.is_active else "[red]no[/red]", last)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    console.print(table)


def _set_active(name: str, active: bool) -> None:
    db = database(settings())
    with unit_of_work(db) as session:
        service.set_active(session, operator(), name, active=active)
    console.print(f"{name} is now {'enabled' if active else 'disabled'}.")


@user_app.command("disable")
@handle_errors
def user_disable(name: str) -> None:
    """Disable a user or service account: its tokens and API keys stop working at once."""
    _set_active(name, False)


@user_app.command("enable")
@handle_errors
def user_enable(name: str) -> None:
    """Enable a disabled user or service account."""
    _set_active(name, True)


@user_app.command("set-password")
@handle_errors
def user_set_password(
    name: str,
    password: str | None = typer.Option(None, help="New password; prompted for (or generated) when absent."),
) -> None:
    """Set a user's password."""
    config = settings()
    shown = None
    if password is None:
        if is_interactive():
            password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
        else:
            password = shown = generate_password()
    with unit_of_work(database(config)) as session:
        service.set_password(session, operator(), name, password, settings=config)
    console.print(f"Password of {name} changed.")
    if shown:
        console.print(f"New password, shown once: [bold]{shown}[/bold]")


# -- roles and teams --------------------------------------------------------------------------------


def _binding(principal: str, role: str, team: str | None) -> RoleBindingChange:
    try:
        return RoleBindingChange(principal=principal, role=Role(role), team=team)
    except ValueError as exc:
        raise fail(f"{role!r} is not a role; roles are: {', '.join(r.value for r in Role)}") from exc


@role_app.command("grant")
@handle_errors
def role_grant(
    principal: str = typer.Argument(..., help="User or service account."),
    role: str = typer.Argument(..., help="Role name."),
    team: str | None = typer.Option(None, help="Limit the role to this team (default: the whole organisation)."),
) -> None:
    """Grant a role to a user or service account."""
    with unit_of_work(database(settings())) as session:
        service.grant_role(session, operator(), _binding(principal, role, team))
    console.print(f"{principal} holds {role} in {f'team {team}' if team else 'the organisation'}.")


@role_app.command("revoke")
@handle_errors
def role_revoke(
    principal: str = typer.Argument(..., help="User or service account."),
    role: str = typer.Argument(..., help="Role name."),
    team: str | None = typer.Option(None, help="The team the role was granted in."),
) -> None:
    """Revoke a role binding."""
    with unit_of_work(database(settings())) as session:
        service.revoke_role(session, operator(), _binding(principal, role, team))
    console.print(f"{principal} no longer holds {role} in {f'team {team}' if team else 'the organisation'}.")


@role_app.command("list")
def role_list() -> None:
    """Show every role and the permissions it grants."""
    table = Table("role", "permissions")
    for role in Role:
        table.add_row(role.value, ", ".join(sorted(p.value for p in ROLE_PERMISSIONS[role])))
    console.print(table)


@team_app.command("create")
@handle_errors
def team_create(
    name: str,
    display_name: str | None = typer.Option(None, help="Readable name."),
    description: str | None = typer.Option(None, help="What the team does."),
) -> None:
    """Create a team."""
    try:
        data = TeamCreate(name=name, display_name=display_name, description=description)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(database(settings())) as session:
        service.create_team(session, operator(), data)
    console.print(f"Created the team {name}.")


@team_app.command("list")
@handle_errors
def team_list() -> None:
    """List teams."""
    table = Table("name", "display name", "created")
    with unit_of_work(database(settings())) as session:
        for t in service.list_teams(session, operator()):
            table.add_row(t.name, t.display_name or "", t.created_at.strftime("%Y-%m-%d"))
    console.print(table)


# -- API keys and tokens ----------------------------------------------------------------------------


@apikey_app.command("create")
@handle_errors
def apikey_create(
    service_account: str = typer.Argument(..., help="The service account that will use the key."),
    name: str = typer.Option("default", help="What the key is for."),
    expires_in_days: int | None = typer.Option(None, min=1, max=3650, help="Expiry; none by default."),
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    with unit_of_work(database(settings())) as session:
        created = service.create_api_key(
            session,
            operator(),
            ApiKeyCreate(service_account=service_account, name=name, expires_in_days=expires_in_days),
        )
    console.print(f"API key {created.key_id} for {service_account} (shown once, store it now):")
    typer.echo(created.key)


@apikey_app.command("revoke")
@handle_errors
def apikey_revoke(key_id: str = typer.Argument(..., help="The key's id (the part after chk_).")) -> None:
    """Revoke an API key."""
    with unit_of_work(database(settings())) as session:
        service.revoke_api_key(session, operator(), key_id)
    console.print(f"API key {key_id} revoked.")


@apikey_app.command("list")
@handle_errors
def apikey_list(service_account: str | None = typer.Argument(None)) -> None:
    """List API keys (ids only, never secrets)."""
    # Ids are copied into `apikey revoke`: never wrapped.
    table = Table(Column("key id", no_wrap=True), "service account", "name", "created", "expires", "last used", "state")
    with unit_of_work(database(settings())) as session:
        for k in service.list_api_keys(session, operator(), service_account=service_account):
            table.add_row(
                k.key_id,
                k.service_account,
                k.name,
                k.created_at.strftime("%Y-%m-%d"),
                k.expires_at.strftime("%Y-%m-%d") if k.expires_at else "-",
                k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "-",
                "[red]revoked[/red]" if k.revoked_at else "active",
            )
    console.print(table)


@token_app.command("create")
@handle_errors
def token_create(
    principal: str = typer.Argument(..., help="User or service account the token acts as."),
    ttl: int = typer.Option(3600, min=60, max=30 * 86_400, help="Lifetime in seconds."),
) -> None:
    """Issue an access token (for scripts); printed alone on stdout."""
    config = settings()
    state = AppState.build(config, database(config))
    with unit_of_work(state.db) as session:
        token = auth.issue_token_for(session, state.codec, operator(), principal, ttl=ttl)
    typer.echo(token)
