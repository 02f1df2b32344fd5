"""The migrated schema equals the models, and an out-of-date schema is refused with a clear message."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from charter.db.engine import Database
from charter.db.migrate import check_schema, head_revision, upgrade
from charter.db.registry import metadata
from charter.errors import SchemaOutOfDate
from tests.conftest import make_settings


def test_migrated_schema_equals_the_models(db: Database) -> None:
    with db.engine.connect() as conn, warnings.catch_warnings():
        # Alembic and SQLAlchemy cannot compare expression indexes on SQLite and say so; the next test checks them.
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    # Expression indexes are compared by name below (their SQL text is dialect-specific).
    diff = [d for d in diff if not (d[0] in ("add_index", "remove_index") and d[1].name.startswith("ix_audit_events_"))]
    # An index made only on another database (``Index.ddl_if``): Alembic's comparison ignores the condition.
    diff = [d for d in diff if not (d[0] == "add_index" and not _made_on(d[1].name, db.dialect))]
    assert diff == []


def _made_on(name: str, dialect: str) -> bool:
    (index,) = [ix for table in metadata.tables.values() for ix in table.indexes if ix.name == name]
    condition = index._ddl_if  # SQLAlchemy's record of ddl_if(dialect=...); None: every database
    if condition is None or condition.dialect is None:
        return True
    return dialect in ((condition.dialect,) if isinstance(condition.dialect, str) else condition.dialect)


def test_indexes_made_on_one_database_only_are_there_and_nowhere_else(db: Database) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        names = {ix["name"] for ix in inspect(db.engine).get_indexes("decisions")}
    assert ("ix_decisions_model_version" in names) == (db.dialect == "postgresql")


def test_audit_filter_indexes_exist_and_are_used(db: Database) -> None:
    if db.dialect == "sqlite":  # SQLAlchemy does not reflect SQLite's expression indexes: ask its catalogue
        with db.engine.connect() as conn:
            names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    else:
        names = {ix["name"] for ix in inspect(db.engine).get_indexes("audit_events")}
    expected = {f"ix_audit_events_{k}" for k in ("actor", "action", "resource_type", "resource_id", "ts")}
    assert expected <= names
    if db.dialect == "sqlite":
        with db.engine.connect() as conn:
            plan = " ".join(
                str(r)
                for r in conn.execute(
                    text("EXPLAIN QUERY PLAN SELECT seq FROM audit_events WHERE json_extract(body, '$.actor') = 'x'")
                )
            )
        assert "ix_audit_events_actor" in plan


def test_empty_database_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="charter init"):
        check_schema(db)
    db.dispose()


def test_old_schema_is_refused_and_upgrade_fixes_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    with pytest.raises(SchemaOutOfDate, match="charter db upgrade"):
        check_schema(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})
    check_schema(db)
    db.dispose()


def test_server_refuses_to_start_on_an_out_of_date_schema(tmp_path: Path) -> None:
    from charter.server.app import create_app

    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(SchemaOutOfDate):
        create_app(settings)


def test_readyz_reports_a_schema_that_went_out_of_date(client: TestClient, db: Database) -> None:
    assert client.get("/readyz").json()["status"] == "ready"
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    response = client.get("/readyz")
    assert response.status_code == 503 and "charter db upgrade" in response.json()["reason"]


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_upgrade_is_idempotent(db: Database) -> None:
    upgrade(db)
    check_schema(db)
