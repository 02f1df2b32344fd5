"""incidents: incident response records, timeline, regulatory clocks, containments, reviews

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("reporter", sa.String(length=100), nullable=False),
        sa.Column("commander", sa.String(length=64), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("response_due_at", sa.DateTime(), nullable=False),
        sa.Column("triaged_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("affected_people", sa.Integer(), nullable=True),
        sa.Column("affected_groups", sa.JSON(), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("records_affected", sa.Integer(), nullable=True),
        sa.Column("consequences", sa.Text(), nullable=True),
        sa.Column("contact_point", sa.String(length=500), nullable=True),
        sa.Column("member_states", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint("severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name=op.f("ck_incidents_severity")),
        sa.CheckConstraint(
            "source IN ('monitoring_alert', 'user_report', 'automated_detection', 'system_log')",
            name=op.f("ck_incidents_source"),
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'triaged', 'investigating', 'mitigating', 'resolved', 'closed')",
            name=op.f("ck_incidents_status"),
        ),
        sa.CheckConstraint(
            "type IN ('performance', 'bias_fairness', 'security', 'privacy', 'safety', 'compliance', 'availability')",
            name=op.f("ck_incidents_type"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_incidents_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_dedup_key"), ["dedup_key"], unique=False)
        batch_op.create_index("ix_incidents_status_response_due", ["status", "response_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_team_id"), ["team_id"], unique=False)

    op.create_table(
        "incident_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=10), nullable=True),
        sa.Column("recipient", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("audience IN ('internal', 'external')", name=op.f("ck_incident_entries_audience")),
        sa.CheckConstraint(
            "kind IN ('immediate_action', 'investigation_note', 'mitigation', 'communication', 'reported', "
            "'alert', 'status_change', 'update', 'assignment', 'regulatory', 'containment', 'review')",
            name=op.f("ck_incident_entries_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_entries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_entries")),
    )
    with op.batch_alter_table("incident_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_entries_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "incident_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("regime", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("marked_at", sa.DateTime(), nullable=False),
        sa.Column("marked_by", sa.String(length=100), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("submitted_by", sa.String(length=100), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "regime IN ('eu_ai_act_serious', 'eu_ai_act_widespread', 'eu_ai_act_death', 'gdpr_breach')",
            name=op.f("ck_incident_reports_regime"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_reports_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_reports")),
        sa.UniqueConstraint("incident_id", "regime", name=op.f("uq_incident_reports_incident_id_regime")),
    )
    with op.batch_alter_table("incident_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_reports_due_at"), ["due_at"], unique=False)

    op.create_table(
        "incident_reviews",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("contributing_factors", sa.JSON(), nullable=False),
        sa.Column("follow_ups", sa.JSON(), nullable=False),
        sa.Column("lessons", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_reviews_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_reviews")),
    )
    op.create_table(
        "incident_containments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("previous_stage", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("lifted_at", sa.DateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('deprecate_version', 'suspend_logging')", name=op.f("ck_incident_containments_kind")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_containments_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_incident_containments_model_id_models")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_incident_containments_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_containments")),
    )
    with op.batch_alter_table("incident_containments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_containments_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index("ix_incident_containments_version_active", ["version_id", "active"], unique=False)

    op.create_table(
        "incident_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_models_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_incident_models_model_id_models")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_incident_models_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_models")),
    )
    with op.batch_alter_table("incident_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_models_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_models_model_id"), ["model_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_models_model_id"))
        batch_op.drop_index(batch_op.f("ix_incident_models_incident_id"))

    op.drop_table("incident_models")
    with op.batch_alter_table("incident_containments", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_containments_version_active")
        batch_op.drop_index(batch_op.f("ix_incident_containments_incident_id"))

    op.drop_table("incident_containments")
    op.drop_table("incident_reviews")
    with op.batch_alter_table("incident_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_reports_due_at"))

    op.drop_table("incident_reports")
    with op.batch_alter_table("incident_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_entries_incident_id"))

    op.drop_table("incident_entries")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_team_id"))
        batch_op.drop_index("ix_incidents_status_response_due")
        batch_op.drop_index(batch_op.f("ix_incidents_dedup_key"))

    op.drop_table("incidents")
