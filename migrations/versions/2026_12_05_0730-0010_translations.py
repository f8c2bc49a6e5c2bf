"""the study's text in its other language (study, themes, items, information sheet), and the
language of each answer

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True))

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default="{}"))

    with op.batch_alter_table("information_sheet", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default="{}"))

    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default="{}"))

    with op.batch_alter_table("theme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("theme", schema=None) as batch_op:
        batch_op.drop_column("translations")

    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("translations")

    with op.batch_alter_table("information_sheet", schema=None) as batch_op:
        batch_op.drop_column("translations")

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_column("translations")

    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("language")
