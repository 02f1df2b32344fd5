"""Sign-in through an external OpenID Connect provider, against a real provider on 127.0.0.1.

Charter discovers the provider's JWKS over HTTP, verifies RS256 access
tokens with it, provisions each external user once, and turns the
provider's groups into roles for that request only. Every forgery an
attacker could try (wrong audience or issuer, expired, another key,
``alg: none``, HMAC keyed with the public key, an unknown ``kid``) is a 401,
and an external identity never takes over a local account.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from charter.audit.models import AuditEventRow
from charter.config import Settings
from charter.db.engine import Database
from charter.identity.models import PrincipalRow
from charter.identity.schemas import NAME_PATTERN
from charter.server.app import create_app
from tests.conftest import PASSWORD, Factory, make_settings
from tests.identity.oidc_provider import LocalProvider, b64url, new_rsa_key, running_provider

AUDIENCE = "charter-oidc-test"
ROLE_MAP = {"ml-admins": "admin", "fraud-owners": "model_owner@fraud", "auditors": "auditor"}
WHOAMI = "/api/v1/auth/whoami"
DISCOVERY = "/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def provider_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture(scope="module")
def other_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def provider(provider_key: RSAPrivateKey) -> Iterator[LocalProvider]:
    with running_provider(provider_key) as running:
        yield running


@dataclass
class OidcEnv:
    client: TestClient
    db: Database
    settings: Settings
    provider: LocalProvider
    factory: Factory

    def token(self, **claims: Any) -> str:
        return self.provider.sign(self.provider.claims(AUDIENCE, **claims))

    def get(self, path: str, token: str) -> Response:
        return self.client.get(path, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, token: str, body: dict[str, Any] | None = None) -> Response:
        return self.client.post(path, headers={"Authorization": f"Bearer {token}"}, json=body)

    def login(self, username: str) -> str:
        response = self.client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def events(self, action: str) -> list[dict[str, Any]]:
        with self.db.session(write=False) as session:
            bodies = session.scalars(select(AuditEventRow.body).order_by(AuditEventRow.seq)).all()
        return [event for event in map(json.loads, bodies) if event["action"] == action]

    def external_rows(self) -> list[PrincipalRow]:
        with self.db.session(write=False) as session:
            query = select(PrincipalRow).where(PrincipalRow.external_subject.is_not(None)).order_by(PrincipalRow.id)
            return list(session.scalars(query))

    def row(self, name: str) -> PrincipalRow:
        with self.db.session(write=False) as session:
            found = session.scalars(select(PrincipalRow).where(PrincipalRow.name == name)).one()
            found.bindings  # noqa: B018  (load them before the session closes)
            return found


@pytest.fixture
def oidc(home: Path, db_url: str, provider: LocalProvider) -> Iterator[OidcEnv]:
    settings = make_settings(home, db_url, oidc_issuer=provider.issuer, oidc_audience=AUDIENCE, oidc_role_map=ROLE_MAP)
    db = Database(settings.effective_database_url)
    app = create_app(settings, db=db)
    try:
        with TestClient(app) as client:
            yield OidcEnv(client, db, settings, provider, Factory(db, settings))
    finally:
        db.dispose()


def bindings(response: Response) -> set[tuple[str, str | None]]:
    return {(b["role"], b["team"]) for b in response.json()["bindings"]}


# -- the happy path ---------------------------------------------------------------------------------


def test_a_valid_provider_token_signs_in_and_provisions_the_user_once(oidc: OidcEnv) -> None:
    first = oidc.get(WHOAMI, oidc.token(sub="sub-alice", groups=["auditors"]))
    assert first.status_code == 200, first.text
    assert first.json()["name"] == "alice"
    assert first.json()["kind"] == "user"
    assert first.json()["auth_method"] == "oidc"

    second = oidc.get(WHOAMI, oidc.token(sub="sub-alice", groups=["auditors"]))
    assert second.status_code == 200, second.text
    assert second.json()["name"] == "alice"

    rows = oidc.external_rows()
    assert [(r.name, r.external_subject, r.email) for r in rows] == [
        ("alice", f"{oidc.provider.issuer}|sub-alice", "alice@example.com")
    ]
    assert rows[0].password_hash is None  # an external user has no password to guess
    provisioned = oidc.events("user.provision")
    assert [(e["actor"], e["resource_id"]) for e in provisioned] == [("system:oidc", "alice")]
    assert provisioned[0]["details"] == {"issuer": oidc.provider.issuer, "groups": ["auditors"]}
    # The keys came from the provider itself, found through its discovery document (read once).
    assert oidc.provider.requests.count(DISCOVERY) == 1
    assert "/jwks" in oidc.provider.requests


def test_a_first_sign_in_can_be_a_write(oidc: OidcEnv) -> None:
    """Provisioning happens inside a writing request too (the request holds its own transaction)."""
    response = oidc.post(
        "/api/v1/teams",
        oidc.token(sub="sub-carol", preferred_username="carol", groups=["ml-admins"]),
        {"name": "made-by-oidc"},
    )
    assert response.status_code == 201, response.text
    [created] = oidc.events("team.create")
    assert (created["actor"], created["resource_id"]) == ("user:carol", "made-by-oidc")
    assert [r.name for r in oidc.external_rows()] == ["carol"]


def test_simultaneous_first_sign_ins_provision_one_user(oidc: OidcEnv) -> None:
    tokens = [oidc.token(sub="sub-hal", preferred_username="hal", groups=["auditors"]) for _ in range(6)]
    barrier = threading.Barrier(len(tokens))

    def sign_in(token: str) -> Response:
        barrier.wait(timeout=10)
        return oidc.get(WHOAMI, token)

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        responses = list(pool.map(sign_in, tokens))

    assert [r.status_code for r in responses] == [200] * len(tokens), [r.text for r in responses]
    assert {r.json()["name"] for r in responses} == {"hal"}
    assert [r.name for r in oidc.external_rows()] == ["hal"]
    assert len(oidc.events("user.provision")) == 1


# -- groups become roles ----------------------------------------------------------------------------


def test_provider_groups_map_to_organisation_and_team_roles(oidc: OidcEnv) -> None:
    oidc.factory.team("fraud")
    token = oidc.token(sub="sub-bob", preferred_username="bob", groups=["fraud-owners", "auditors", "strangers"])

    whoami = oidc.get(WHOAMI, token)
    assert whoami.status_code == 200, whoami.text
    assert bindings(whoami) == {("auditor", None), ("model_owner", "fraud")}
    permissions = set(whoami.json()["permissions"])  # held organisation-wide
    assert "audit:read" in permissions
    assert "model:write" not in permissions  # only within the team "fraud"

    assert oidc.get("/api/v1/audit/events", token).status_code == 200  # auditor, organisation-wide
    denied = oidc.post("/api/v1/teams", token, {"name": "not-allowed"})
    assert denied.status_code == 403, denied.text
    # The grants live in the token, not in the database: the provider stays the source of truth.
    assert oidc.row("bob").bindings == []


def test_roles_follow_the_groups_of_each_token(oidc: OidcEnv) -> None:
    admin = oidc.token(sub="sub-erin", preferred_username="erin", groups=["ml-admins"])
    assert oidc.post("/api/v1/teams", admin, {"name": "team-one"}).status_code == 201

    removed_from_group = oidc.token(sub="sub-erin", preferred_username="erin", groups=["auditors"])
    response = oidc.post("/api/v1/teams", removed_from_group, {"name": "team-two"})
    assert response.status_code == 403, response.text
    assert [r.name for r in oidc.external_rows()] == ["erin"]


def test_a_role_for_a_missing_team_is_not_granted(oidc: OidcEnv) -> None:
    # ROLE_MAP names the team "fraud", which does not exist here.
    whoami = oidc.get(WHOAMI, oidc.token(sub="sub-fay", preferred_username="fay", groups=["fraud-owners", "auditors"]))
    assert whoami.status_code == 200, whoami.text
    assert bindings(whoami) == {("auditor", None)}


def test_a_group_outside_the_role_map_grants_nothing(oidc: OidcEnv) -> None:
    token = oidc.token(sub="sub-gus", preferred_username="gus", groups=["strangers", "ML-ADMINS"])

    for method, path in [("GET", "/api/v1/teams"), ("GET", "/api/v1/users"), ("GET", "/api/v1/audit/events")]:
        response = oidc.client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, f"{method} {path}: {response.text}"
        assert response.json()["error"]["code"] == "permission_denied"
    assert oidc.post("/api/v1/teams", token, {"name": "nope"}).status_code == 403

    # Authenticated (and provisioned), just without any role.
    assert [r.name for r in oidc.external_rows()] == ["gus"]
    assert oidc.row("gus").bindings == []
    denials = oidc.events("access.denied")
    assert denials and {e["actor"] for e in denials} == {"user:gus"}


# -- forgeries and mistakes are 401 -----------------------------------------------------------------

Forge = Callable[[LocalProvider, RSAPrivateKey], str]

FORGERIES: dict[str, Forge] = {
    "wrong audience": lambda p, _: p.sign(p.claims("some-other-api")),
    "audience missing": lambda p, _: p.sign(p.claims(AUDIENCE, aud=None)),
    # An `iss` other than the provider's routes the token to Charter's own HS256 verifier, which must refuse it.
    "wrong issuer": lambda p, _: p.sign(p.claims(AUDIENCE, iss="https://idp.example.com")),
    "issuer with a trailing slash": lambda p, _: p.sign(p.claims(AUDIENCE, iss=p.issuer + "/")),
    "posing as a Charter access token": lambda p, _: p.sign(p.claims("charter-api", iss="charter")),
    "issuer missing": lambda p, _: p.sign(p.claims(AUDIENCE, iss=None)),
    "expired": lambda p, _: p.sign(p.claims(AUDIENCE, iat=1_600_000_000, exp=1_600_000_300)),
    "expiry missing": lambda p, _: p.sign(p.claims(AUDIENCE, exp=None)),
    "subject missing": lambda p, _: p.sign(p.claims(AUDIENCE, sub=None)),
    "signed by another key": lambda p, other: p.sign(p.claims(AUDIENCE), key=other),
    "alg none": lambda p, _: p.unsigned(p.claims(AUDIENCE)),
    "HS256 keyed with the provider's public key": lambda p, _: p.hmac_with_public_key(p.claims(AUDIENCE)),
    "kid not in the JWKS": lambda p, _: p.sign(p.claims(AUDIENCE), kid="rotated-away"),
    "kid not in the JWKS, another key": lambda p, other: p.sign(p.claims(AUDIENCE), key=other, kid="attacker"),
    "tampered claims": lambda p, _: _swap_payload(p.sign(p.claims(AUDIENCE)), p.claims(AUDIENCE, groups=["ml-admins"])),
}


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_bad_token_is_refused_with_401(oidc: OidcEnv, other_key: RSAPrivateKey, forge: Forge) -> None:
    token = forge(oidc.provider, other_key)

    response = oidc.get(WHOAMI, token)

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert oidc.external_rows() == []  # nobody was provisioned
    [rejected] = oidc.events("auth.rejected")
    assert rejected["outcome"] == "failed"
    assert rejected["resource_id"] == f"GET {WHOAMI}"


def test_the_same_claims_properly_signed_are_accepted(oidc: OidcEnv) -> None:
    """The control for the forgeries above: they fail for what was forged, not for their claims."""
    response = oidc.get(WHOAMI, oidc.provider.sign(oidc.provider.claims(AUDIENCE, groups=["auditors"])))
    assert response.status_code == 200, response.text


# -- local accounts and disabled users --------------------------------------------------------------


def test_an_external_user_never_takes_over_a_local_account(oidc: OidcEnv) -> None:
    oidc.factory.user("alice", "viewer")
    external = oidc.token(sub="sub-intruder", preferred_username="Alice", groups=["ml-admins"])

    whoami = oidc.get(WHOAMI, external)
    assert whoami.status_code == 200, whoami.text
    name = whoami.json()["name"]
    assert name != "alice"
    assert name.startswith("alice-")
    assert bindings(whoami) == {("admin", None)}
    assert oidc.get(WHOAMI, external).json()["name"] == name  # stable across sign-ins

    local = oidc.row("alice")
    assert local.external_subject is None
    assert local.password_hash is not None
    mine = oidc.get(WHOAMI, oidc.login("alice"))
    assert mine.json()["name"] == "alice"
    assert mine.json()["auth_method"] == "token"
    assert bindings(mine) == {("viewer", None)}  # the provider's admin group did not reach it
    assert [e["resource_id"] for e in oidc.events("user.provision")] == [name]


def test_two_external_users_with_one_username_stay_apart(oidc: OidcEnv) -> None:
    first = oidc.get(WHOAMI, oidc.token(sub="sub-1", preferred_username="sam", groups=["auditors"]))
    second = oidc.get(WHOAMI, oidc.token(sub="sub-2", preferred_username="sam", groups=["auditors"]))
    assert first.status_code == second.status_code == 200
    assert first.json()["name"] == "sam"
    assert second.json()["name"].startswith("sam-")
    assert {r.external_subject for r in oidc.external_rows()} == {
        f"{oidc.provider.issuer}|sub-1",
        f"{oidc.provider.issuer}|sub-2",
    }


def test_a_name_taken_in_advance_does_not_lock_the_user_out(oidc: OidcEnv) -> None:
    """Someone who can choose their username at the provider claims the name a clash would fall back to."""
    oidc.factory.user("alice", "viewer")
    victim_subject = f"{oidc.provider.issuer}|sub-victim"
    fallback = f"alice-{hashlib.sha256(victim_subject.encode()).hexdigest()[:8]}"
    squatter = oidc.get(WHOAMI, oidc.token(sub="sub-squatter", preferred_username=fallback, groups=["auditors"]))
    assert squatter.json()["name"] == fallback

    victim = oidc.get(WHOAMI, oidc.token(sub="sub-victim", preferred_username="alice", groups=["auditors"]))

    assert victim.status_code == 200, victim.text
    assert victim.json()["name"] not in {"alice", fallback}
    assert victim.json()["name"].startswith("alice-")


@pytest.mark.parametrize("username", ["Corp/Jane Doe", "jane@example.com", "../admin", "-x-"])
def test_an_external_name_is_a_valid_local_name_an_admin_can_act_on(oidc: OidcEnv, username: str) -> None:
    oidc.factory.user("root", "admin")
    whoami = oidc.get(WHOAMI, oidc.token(sub="sub-odd", preferred_username=username, groups=["auditors"]))
    assert whoami.status_code == 200, whoami.text
    name = whoami.json()["name"]
    assert re.fullmatch(NAME_PATTERN, name), name

    disabled = oidc.post(f"/api/v1/users/{name}/disable", oidc.login("root"))
    assert disabled.status_code == 200, disabled.text
    assert oidc.get(WHOAMI, oidc.token(sub="sub-odd", preferred_username=username)).status_code == 401


def test_a_disabled_external_user_is_refused(oidc: OidcEnv) -> None:
    oidc.factory.user("root", "admin")
    admin = oidc.login("root")

    def dave() -> str:
        return oidc.token(sub="sub-dave", preferred_username="dave", groups=["auditors"])

    assert oidc.get(WHOAMI, dave()).status_code == 200
    assert oidc.post("/api/v1/users/dave/disable", admin).status_code == 200

    refused = oidc.get(WHOAMI, dave())
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "invalid_token"
    # Refused, not re-provisioned under another name.
    assert [r.name for r in oidc.external_rows()] == ["dave"]
    assert len(oidc.events("user.provision")) == 1

    assert oidc.post("/api/v1/users/dave/enable", admin).status_code == 200
    assert oidc.get(WHOAMI, dave()).status_code == 200
