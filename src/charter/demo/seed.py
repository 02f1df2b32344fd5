"""The demo organisation: two teams, a user in each role, a service account with an API key.

Seeding runs once per database. Models are trained on the real data sets in
``shared/data`` (see ``charter.demo.models``); later capabilities add their own seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.config import Settings
from charter.identity import service
from charter.identity.bootstrap import generate_password
from charter.identity.models import TeamRow
from charter.identity.schemas import ApiKeyCreate, RoleGrant, ServiceAccountCreate, TeamCreate, UserCreate
from charter.identity.service import find_principal
from charter.security.permissions import Role
from charter.security.principal import Principal

TEAMS = [
    TeamCreate(
        name="credit-risk",
        display_name="Credit Risk Modelling",
        description="Scores credit applications; models fall under EU AI Act Annex III (5)(b).",
    ),
    TeamCreate(
        name="people-analytics",
        display_name="People Analytics",
        description="Screening and workforce models; Annex III (4) employment use.",
    ),
]

# (user name, display name, role, team or None for the organisation)
USERS = [
    ("olivia", "Olivia Owens", Role.MODEL_OWNER, "credit-risk"),
    ("mateo", "Mateo Silva", Role.MODEL_OWNER, "people-analytics"),
    ("raj", "Raj Patel", Role.REVIEWER, "credit-risk"),
    ("rosa", "Rosa Martinez", Role.RISK_OFFICER, None),
    ("aditi", "Aditi Rao", Role.AUDITOR, None),
    ("victor", "Victor Chen", Role.VIEWER, "people-analytics"),
    ("nadia", "Nadia Haddad", Role.REVIEWER, "people-analytics"),
]


# The seed's service account, described so that a demo database can be told from any other.
DEMO_SERVICE = "ci-pipeline"
DEMO_DESCRIPTION = "Registers models and evidence from CI (made by charter demo)"


def is_demo(session: Session) -> bool:
    """True when this database holds the demo seed."""
    row = find_principal(session, DEMO_SERVICE)
    return row is not None and row.kind == "service" and row.description == DEMO_DESCRIPTION


@dataclass
class DemoSeed:
    seeded: bool
    passwords: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None
    models: list[str] = field(default_factory=list)
    data_missing: bool = False


def seed(session: Session, operator: Principal, settings: Settings) -> DemoSeed:
    """Seed the demo organisation, once: a database that already has teams is left alone."""
    if session.scalars(select(TeamRow.id).limit(1)).first() is not None:
        return DemoSeed(seeded=False)
    for new_team in TEAMS:
        service.create_team(session, operator, new_team)
    result = DemoSeed(seeded=True)
    for username, display_name, role, team in USERS:
        password = generate_password()
        service.create_user(
            session,
            operator,
            UserCreate(
                username=username,
                password=SecretStr(password),
                display_name=display_name,
                roles=[RoleGrant(role=role, team=team)],
            ),
            settings=settings,
        )
        result.passwords[username] = password
    service.create_service_account(
        session,
        operator,
        ServiceAccountCreate(
            name=DEMO_SERVICE,
            description=DEMO_DESCRIPTION,
            roles=[RoleGrant(role=Role.SERVICE, team="credit-risk")],
        ),
    )
    result.api_key = service.create_api_key(
        session, operator, ApiKeyCreate(service_account=DEMO_SERVICE, name="demo")
    ).key
    from charter.demo.models import demo_data_folder, seed_models  # NumPy and scikit-learn: only here

    data = demo_data_folder(settings)
    if data is None:
        result.data_missing = True
    else:
        result.models = seed_models(session, settings, data)
    return result
