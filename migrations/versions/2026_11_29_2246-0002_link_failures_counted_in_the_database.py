"""failed look-ups of expert links counted in the database, so that every app server sees them

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 22:46:42.681086
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_failure")),
    )
    with op.batch_alter_table("link_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_failure_client_hash"), ["client_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_link_failure_failed_at"), ["failed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_failure_failed_at"))
        batch_op.drop_index(batch_op.f("ix_link_failure_client_hash"))
    op.drop_table("link_failure")
