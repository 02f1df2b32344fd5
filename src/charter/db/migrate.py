"""Schema migrations (Alembic, shipped inside the package) and the start-up schema check."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from charter.db.engine import Database
from charter.errors import SchemaOutOfDate

SCRIPT_LOCATION = "charter.db:migrations"


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


@functools.cache
def head_revision() -> str | None:
    """The revision this version needs. The scripts ship in the package, so it is read once: `/readyz`
    asks at every probe."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config(db)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def schema_status(db: Database) -> tuple[str | None, str | None]:
    """(current, head) revisions."""
    return current_revision(db), head_revision()


def check_schema(db: Database) -> None:
    """Refuse to run on a database whose schema is not exactly this version's."""
    current, head = schema_status(db)
    if current == head:
        return
    if current is None:
        raise SchemaOutOfDate(
            f"The database at {db.engine.url.render_as_string(hide_password=True)} has no Charter schema; "
            "run `charter init` (or `charter db upgrade`)."
        )
    raise SchemaOutOfDate(
        f"The database schema is at revision {current} but this Charter needs {head}; "
        "run `charter db upgrade` (back up the database first)."
    )
