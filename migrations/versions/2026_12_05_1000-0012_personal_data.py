"""personal data: what erasing an expert does, whether experts may erase themselves, the retention
period and the study's anonymisation; when an expert was erased

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "erasure_policy",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="keep_anonymised",
            )
        )
        batch_op.add_column(sa.Column("experts_may_erase", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("retention_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("anonymisation_warned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("anonymised_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("anonymised_at")
        batch_op.drop_column("anonymisation_warned_at")
        batch_op.drop_column("retention_months")
        batch_op.drop_column("experts_may_erase")
        batch_op.drop_column("erasure_policy")
