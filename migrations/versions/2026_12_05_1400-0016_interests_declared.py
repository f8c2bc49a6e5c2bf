"""conflicts of interest: an information sheet may ask experts to declare their interests as they
agree, and each expert's declaration is kept

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("information_sheet", schema=None) as batch_op:
        batch_op.add_column(sa.Column("asks_interests", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interests", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_column("interests")
    with op.batch_alter_table("information_sheet", schema=None) as batch_op:
        batch_op.drop_column("asks_interests")
