"""reports: generated compliance reports and their rendered files (stored as blobs)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS = "'model', 'organisation'"
FORMATS = "'json', 'html', 'pdf', 'oscal'"


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("frameworks", sa.JSON(), nullable=False),
        sa.Column("generated_by", sa.String(length=100), nullable=False),
        sa.Column("generated_at", sa.DateTime(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_reports_kind")),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_reports_model_id_models"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_reports_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_document_sha256"), ["document_sha256"], unique=False)
        batch_op.create_index("ix_reports_kind_id", ["kind", "id"], unique=False)

    op.create_table(
        "report_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_digest", sa.String(length=64), nullable=False),
        sa.CheckConstraint(f"format IN ({FORMATS})", name=op.f("ck_report_files_format")),
        sa.ForeignKeyConstraint(["blob_digest"], ["blobs.digest"], name=op.f("fk_report_files_blob_digest_blobs")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_report_files_report_id_reports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_files")),
        sa.UniqueConstraint("report_id", "format", name=op.f("uq_report_files_report_id_format")),
    )
    with op.batch_alter_table("report_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_files_report_id"), ["report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_files_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_report_files_report_id"))

    op.drop_table("report_files")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_kind_id")
        batch_op.drop_index(batch_op.f("ix_reports_document_sha256"))
        batch_op.drop_index(batch_op.f("ix_reports_team_id"))
        batch_op.drop_index(batch_op.f("ix_reports_model_id"))

    op.drop_table("reports")
