"""Shared fixtures.

Every test that touches the database runs on SQLite and, when
``CHARTER_TEST_POSTGRES_URL`` names a (throw-away) database, on PostgreSQL
too. Each test gets an empty, migrated database: a copy of a migrated SQLite
template, or the PostgreSQL database with every table truncated.
``CHARTER_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) turns the PostgreSQL skip
into a failure.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from charter.config import Settings
from charter.db.engine import Database
from charter.db.migrate import head_revision, upgrade
from charter.db.registry import metadata
from charter.identity import service
from charter.identity.schemas import RoleGrant, ServiceAccountCreate, TeamCreate, UserCreate
from charter.security.keyfiles import ensure_key_files
from charter.security.permissions import Role
from charter.security.principal import Principal

POSTGRES_URL = os.environ.get("CHARTER_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("CHARTER_REQUIRE_POSTGRES") == "1"
OPERATOR = Principal.system("tests")
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what a test passes: the developer's CHARTER_* variables never leak in."""
    for name in list(os.environ):
        if name.startswith("CHARTER_") and not name.startswith(("CHARTER_TEST_", "CHARTER_REQUIRE_")):
            monkeypatch.delenv(name)


def require_postgres() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if REQUIRE_POSTGRES:
        pytest.fail("CHARTER_REQUIRE_POSTGRES=1 but CHARTER_TEST_POSTGRES_URL is not set")
    pytest.skip("PostgreSQL tests need CHARTER_TEST_POSTGRES_URL (a throw-away database)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "charter.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # closing the last connection folds the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    url = require_postgres()
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(db)
    db.dispose()
    return url


def truncate_postgres(url: str) -> None:
    db = Database(url)
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # Some tests move the schema revision to prove it is checked: put it back.
        conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "charter.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_migrated")
    truncate_postgres(url)
    return url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@dataclass(frozen=True)
class SqliteProbe:
    """What another connection to a SQLite file could do at one moment, without waiting."""

    write_lock_free: bool  # it could begin a writing transaction
    wal_checkpointed: bool  # it could checkpoint the WAL back to its start: no reader held a snapshot


def probe_sqlite(path: str) -> SqliteProbe:
    """For tests that some long work (a batch's preparation, an upload's scan) runs with no write lock
    and no snapshot held: called from inside that work, by a connection with a zero timeout."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            free = True
        except sqlite3.OperationalError:
            free = False
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return SqliteProbe(write_lock_free=free, wal_checkpointed=busy == 0)
    finally:
        other.close()


def make_settings(home: Path, db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": db_url,
        "audit_checkpoint_interval": 0,
        "worker_interval": 0,  # tests run the monitoring worker's rounds themselves
        "password_min_length": 12,
        **overrides,
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    ensure_key_files(settings)
    return settings


@pytest.fixture
def settings(home: Path, db_url: str) -> Settings:
    return make_settings(home, db_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    from charter.server.app import create_app

    return create_app(settings, db=db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Factory:
    """Makes users, service accounts and teams through the real services (as the local operator)."""

    db: Database
    settings: Settings

    def team(self, name: str) -> int:
        with self.db.session() as session:
            return service.create_team(session, OPERATOR, TeamCreate(name=name)).id

    def user(self, name: str, *roles: str, password: str = PASSWORD) -> str:
        """``roles`` as ``"role"`` or ``"role@team"`` (the team is created when missing)."""
        grants = [self._grant(spec) for spec in roles]
        with self.db.session() as session:
            service.create_user(
                session,
                OPERATOR,
                UserCreate(username=name, password=SecretStr(password), roles=grants),
                settings=self.settings,
            )
        return name

    def service_account(self, name: str, *roles: str) -> str:
        grants = [self._grant(spec) for spec in roles]
        with self.db.session() as session:
            service.create_service_account(session, OPERATOR, ServiceAccountCreate(name=name, roles=grants))
        return name

    def _grant(self, spec: str) -> RoleGrant:
        role, _, team = spec.partition("@")
        if team:
            with self.db.session() as session:
                if team not in {t.name for t in service.list_teams(session, OPERATOR)}:
                    service.create_team(session, OPERATOR, TeamCreate(name=team))
        return RoleGrant(role=Role(role), team=team or None)


@pytest.fixture
def factory(db: Database, settings: Settings) -> Factory:
    return Factory(db, settings)


@pytest.fixture
def login(client: TestClient) -> Callable[[str, str], dict[str, str]]:
    """Sign in through the real token endpoint; returns the Authorization header."""

    def _login(username: str, password: str = PASSWORD) -> dict[str, str]:
        response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return _login
