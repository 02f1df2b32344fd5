"""metrics: metric series per model version, their points, hourly and daily rollups, thresholds

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROLLUPS = ("metric_rollups_hourly", "metric_rollups_daily")


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_metric_series_model_id_models")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_metric_series_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_series")),
        sa.UniqueConstraint("model_id", "key", name=op.f("uq_metric_series_model_id_key")),
    )
    # Clustered on (series, time) on SQLite: see charter.metrics.models.
    op.create_table(
        "metric_points",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["metric_series.id"], name=op.f("fk_metric_points_series_id_metric_series")
        ),
        sa.PrimaryKeyConstraint("series_id", "t", name=op.f("pk_metric_points")),
        sqlite_with_rowid=False,
    )
    for table in ROLLUPS:
        op.create_table(
            table,
            sa.Column("series_id", sa.Integer(), nullable=False),
            sa.Column("bucket", sa.BigInteger(), nullable=False),
            sa.Column("n", sa.BigInteger(), nullable=False),
            sa.Column("total", sa.Float(), nullable=False),
            sa.Column("low", sa.Float(), nullable=False),
            sa.Column("high", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(
                ["series_id"], ["metric_series.id"], name=op.f(f"fk_{table}_series_id_metric_series")
            ),
            sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f(f"pk_{table}")),
            sqlite_with_rowid=False,
        )
    op.create_table(
        "metric_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("op", sa.String(length=2), nullable=False),
        sa.Column("bound", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("op IN ('<', '<=', '>', '>=')", name=op.f("ck_metric_thresholds_op")),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_metric_thresholds_model_id_models")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_thresholds")),
        sa.UniqueConstraint("model_id", "name", "op", name=op.f("uq_metric_thresholds_model_id_name_op")),
    )


def downgrade() -> None:
    op.drop_table("metric_thresholds")
    for table in reversed(ROLLUPS):
        op.drop_table(table)
    op.drop_table("metric_points")
    op.drop_table("metric_series")
