"""information sheets, versioned, and the version each expert agreed to

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "information_sheet",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("controller", sa.Text(), nullable=False),
        sa.Column("contact_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("ethics", sa.Text(), nullable=False),
        sa.Column("retention", sa.Text(), nullable=False),
        sa.Column("asks_again", sa.Boolean(), nullable=False),
        sa.Column("researcher_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["researcher_id"],
            ["researcher.id"],
            name=op.f("fk_information_sheet_researcher_id_researcher"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_information_sheet_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_information_sheet")),
        sa.UniqueConstraint("study_id", "version", name=op.f("uq_information_sheet_study_id_version")),
    )
    with op.batch_alter_table("information_sheet", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_information_sheet_study_id"), ["study_id"], unique=False)

    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("consent_language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_column("consent_language")
        batch_op.drop_column("consent_version")

    with op.batch_alter_table("information_sheet", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_information_sheet_study_id"))

    op.drop_table("information_sheet")
