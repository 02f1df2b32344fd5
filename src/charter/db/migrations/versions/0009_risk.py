"""risk: scoring rules, assessments, EU AI Act classifications and the risk register

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RATINGS = "'low', 'medium', 'high', 'critical'"
TRIGGERS = "'manual', 'evidence', 'incident', 'stage_change', 'rules_change'"
CATEGORIES = "'prohibited', 'high_risk', 'limited', 'minimal'"
RISK_CATEGORIES = "'privacy', 'bias', 'security', 'compliance', 'transparency', 'robustness', 'other'"
TREATMENTS = "'mitigate', 'accept', 'transfer', 'avoid'"
STATUSES = "'open', 'accepted', 'closed'"


def upgrade() -> None:
    op.create_table(
        "risk_rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_rule_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_risk_rule_versions_number")),
    )

    op.create_table(
        "risk_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("rules_number", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rating", sa.String(length=10), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("facts_digest", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(f"rating IN ({RATINGS})", name=op.f("ck_risk_assessments_rating")),
        sa.CheckConstraint(f"trigger IN ({TRIGGERS})", name=op.f("ck_risk_assessments_trigger")),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_risk_assessments_evidence_id_evidence"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["rules_number"],
            ["risk_rule_versions.number"],
            name=op.f("fk_risk_assessments_rules_number_risk_rule_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_risk_assessments_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_assessments")),
    )
    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.create_index("ix_risk_assessments_version_id_id", ["version_id", "id"], unique=False)

    op.create_table(
        "risk_classifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_version", sa.String(length=20), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("gpai", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("proposed_tier", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(f"category IN ({CATEGORIES})", name=op.f("ck_risk_classifications_category")),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_risk_classifications_model_id_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_classifications")),
    )
    with op.batch_alter_table("risk_classifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_classifications_model_id"), ["model_id"], unique=False)

    op.create_table(
        "risks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("likelihood", sa.Integer(), nullable=False),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("inherent_rating", sa.String(length=10), nullable=False),
        sa.Column("controls", sa.JSON(), nullable=False),
        sa.Column("control_rules", sa.JSON(), nullable=False),
        sa.Column("residual_likelihood", sa.Integer(), nullable=False),
        sa.Column("residual_impact", sa.Integer(), nullable=False),
        sa.Column("residual_rating", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("treatment", sa.String(length=10), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("accepted_by", sa.String(length=100), nullable=True),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("acceptance_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(f"category IN ({RISK_CATEGORIES})", name=op.f("ck_risks_category")),
        sa.CheckConstraint(f"inherent_rating IN ({RATINGS})", name=op.f("ck_risks_inherent_rating")),
        sa.CheckConstraint(f"residual_rating IN ({RATINGS})", name=op.f("ck_risks_residual_rating")),
        sa.CheckConstraint(f"treatment IS NULL OR treatment IN ({TREATMENTS})", name=op.f("ck_risks_treatment")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_risks_status")),
        sa.CheckConstraint("likelihood BETWEEN 1 AND 5", name=op.f("ck_risks_likelihood")),
        sa.CheckConstraint("impact BETWEEN 1 AND 5", name=op.f("ck_risks_impact")),
        sa.CheckConstraint("residual_likelihood BETWEEN 1 AND 5", name=op.f("ck_risks_residual_likelihood")),
        sa.CheckConstraint("residual_impact BETWEEN 1 AND 5", name=op.f("ck_risks_residual_impact")),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_risks_model_id_models"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_risks_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risks")),
    )
    with op.batch_alter_table("risks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risks_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risks_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risks_status"), ["status"], unique=False)

    op.create_table(
        "risk_incidents",
        sa.Column("risk_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_risk_incidents_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["risk_id"], ["risks.id"], name=op.f("fk_risk_incidents_risk_id_risks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("risk_id", "incident_id", name=op.f("pk_risk_incidents")),
    )
    with op.batch_alter_table("risk_incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_incidents_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_incidents_incident_id"))
    op.drop_table("risk_incidents")

    with op.batch_alter_table("risks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risks_status"))
        batch_op.drop_index(batch_op.f("ix_risks_team_id"))
        batch_op.drop_index(batch_op.f("ix_risks_model_id"))
    op.drop_table("risks")

    with op.batch_alter_table("risk_classifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_classifications_model_id"))
    op.drop_table("risk_classifications")

    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_assessments_version_id_id")
    op.drop_table("risk_assessments")

    op.drop_table("risk_rule_versions")
