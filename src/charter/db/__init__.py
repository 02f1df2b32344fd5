"""The database: engine and sessions, the declarative base, migrations."""

from charter.db.base import Base
from charter.db.engine import Database

__all__ = ["Base", "Database"]
