"""a panel file"s checked lines are staged in short transactions, then moved to the panel in one
statement

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 01:11:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "panel_import_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_key", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("pseudonym", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stakeholder_group", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("weight_source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_panel_import_row_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_import_row")),
    )
    with op.batch_alter_table("panel_import_row", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_panel_import_row_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_panel_import_row_import_key"), ["import_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("panel_import_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_panel_import_row_import_key"))
        batch_op.drop_index(batch_op.f("ix_panel_import_row_created_at"))

    op.drop_table("panel_import_row")
