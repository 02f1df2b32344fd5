"""decision indexes: the subject index keeps 12 hex digits of the pseudonym instead of all of it

The subject index's keys are keyed hashes, random by design, so each logged batch writes pages all
over it: at 200,000 decisions it cost more than the other indexes together. Keyed on
``substr(subject_ref, 4, 12)`` (48 bits after ``ps:``) it is a quarter of the size; searches
compare the whole pseudonym as well (``charter.decisions.models.subject_match``).

On SQLite the version index goes: no query there uses it (the planner takes the time index), and
every insert paid for it. PostgreSQL keeps it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_decisions_model_version", table_name="decisions")
    op.drop_index("ix_decisions_model_subject", table_name="decisions")
    op.create_index(
        "ix_decisions_model_subject_key", "decisions", ["model_id", sa.text("substr(subject_ref, 4, 12)")], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_model_subject_key", table_name="decisions")
    op.create_index("ix_decisions_model_subject", "decisions", ["model_id", "subject_ref"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_decisions_model_version", "decisions", ["model_id", "version_id"], unique=False)
