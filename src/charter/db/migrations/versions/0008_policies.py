"""policies: policies, their immutable versions, their history, and waivers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATES = "'draft', 'audit', 'warn', 'enforce', 'review', 'retired'"


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(), nullable=False),
        sa.Column("state_changed_by", sa.String(length=100), nullable=False),
        sa.Column("review_due_at", sa.DateTime(), nullable=True),
        sa.Column("proposed_state", sa.String(length=10), nullable=True),
        sa.Column("proposed_version", sa.Integer(), nullable=True),
        sa.Column("proposed_by", sa.String(length=100), nullable=True),
        sa.Column("proposed_at", sa.DateTime(), nullable=True),
        sa.Column("proposal_comment", sa.Text(), nullable=True),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_policies_state")),
        sa.CheckConstraint(
            f"proposed_state IS NULL OR proposed_state IN ({STATES})", name=op.f("ck_policies_proposed_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
    )
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policies_state"), ["state"], unique=False)

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_policy_versions_policy_id_policies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("policy_id", "number", name=op.f("uq_policy_versions_policy_id_number")),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_versions_policy_id"), ["policy_id"], unique=False)

    op.create_table(
        "policy_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=10), nullable=True),
        sa.Column("to_state", sa.String(length=10), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('create', 'update', 'state', 'propose', 'approve')", name=op.f("ck_policy_transitions_kind")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_policy_transitions_policy_id_policies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_transitions")),
    )
    with op.batch_alter_table("policy_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_transitions_policy_id"), ["policy_id"], unique=False)

    op.create_table(
        "policy_waivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_policy_waivers_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_policy_waivers_policy_id_policies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_waivers")),
    )
    with op.batch_alter_table("policy_waivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_waivers_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_policy_waivers_model_policy", ["model_id", "policy_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("policy_waivers", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_waivers_model_policy")
        batch_op.drop_index(batch_op.f("ix_policy_waivers_expires_at"))

    op.drop_table("policy_waivers")
    with op.batch_alter_table("policy_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_transitions_policy_id"))

    op.drop_table("policy_transitions")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_versions_policy_id"))

    op.drop_table("policy_versions")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policies_state"))

    op.drop_table("policies")
