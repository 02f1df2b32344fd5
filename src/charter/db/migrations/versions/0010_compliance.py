"""compliance: users' frameworks and their versions, attestations, status snapshots; training courses and completions

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COURSE_KINDS = "'security_awareness', 'responsible_ai', 'compliance', 'incident_response'"


def upgrade() -> None:
    op.create_table(
        "compliance_frameworks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_frameworks")),
    )

    op.create_table(
        "compliance_framework_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["compliance_frameworks.id"],
            name=op.f("fk_compliance_framework_versions_framework_id_compliance_frameworks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_framework_versions")),
        sa.UniqueConstraint(
            "framework_id", "number", name=op.f("uq_compliance_framework_versions_framework_id_number")
        ),
    )
    with op.batch_alter_table("compliance_framework_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compliance_framework_versions_framework_id"), ["framework_id"], unique=False
        )

    op.create_table(
        "compliance_attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.String(length=64), nullable=False),
        sa.Column("requirement_id", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("document_digest", sa.String(length=64), nullable=True),
        sa.Column("document_name", sa.String(length=200), nullable=True),
        sa.Column("document_size", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_digest"], ["blobs.digest"], name=op.f("fk_compliance_attestations_document_digest_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_compliance_attestations_model_id_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_attestations")),
    )
    with op.batch_alter_table("compliance_attestations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compliance_attestations_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            "ix_compliance_attestations_requirement", ["framework_id", "requirement_id"], unique=False
        )

    op.create_table(
        "compliance_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.String(length=64), nullable=False),
        sa.Column("framework_sha256", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_compliance_snapshots_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_compliance_snapshots_version_id_model_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_snapshots")),
    )
    with op.batch_alter_table("compliance_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compliance_snapshots_model_framework", ["model_id", "framework_id", "id"], unique=False
        )

    op.create_table(
        "training_courses",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(f"kind IN ({COURSE_KINDS})", name=op.f("ck_training_courses_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_courses")),
    )

    op.create_table(
        "training_completions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["training_courses.id"],
            name=op.f("fk_training_completions_course_id_training_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_training_completions_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_completions")),
    )
    with op.batch_alter_table("training_completions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_completions_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            "ix_training_completions_principal_course", ["principal_id", "course_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("training_completions", schema=None) as batch_op:
        batch_op.drop_index("ix_training_completions_principal_course")
        batch_op.drop_index(batch_op.f("ix_training_completions_course_id"))

    op.drop_table("training_completions")
    op.drop_table("training_courses")
    with op.batch_alter_table("compliance_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_snapshots_model_framework")

    op.drop_table("compliance_snapshots")
    with op.batch_alter_table("compliance_attestations", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_attestations_requirement")
        batch_op.drop_index(batch_op.f("ix_compliance_attestations_model_id"))

    op.drop_table("compliance_attestations")
    with op.batch_alter_table("compliance_framework_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_framework_versions_framework_id"))

    op.drop_table("compliance_framework_versions")
    op.drop_table("compliance_frameworks")
