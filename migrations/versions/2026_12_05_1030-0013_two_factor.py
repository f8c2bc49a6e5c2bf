"""two-factor authentication: researchers' TOTP secret and recovery codes, logins waiting for their
second factor, and studies that require it of their members

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("researcher", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recovery_codes", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("researcher_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("second_factor_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("second_factor_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requires_two_factor", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("requires_two_factor")
    with op.batch_alter_table("researcher_session", schema=None) as batch_op:
        batch_op.drop_column("second_factor_at")
        batch_op.drop_column("second_factor_pending")
    with op.batch_alter_table("researcher", schema=None) as batch_op:
        batch_op.drop_column("recovery_codes")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
