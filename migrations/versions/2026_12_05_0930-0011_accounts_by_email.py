"""accounts by e-mail: password reset and researcher invitation links, the instance's administrator,
and the browser of each session

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("researcher_id", sa.Integer(), nullable=True),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("spent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["invited_by"], ["researcher.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["researcher_id"], ["researcher.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("account_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_token_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_token_email"), ["email"], unique=False)

    with op.batch_alter_table("researcher", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("researcher_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default="")
        )
    # No account of an existing instance becomes its administrator by itself (the first one may be
    # the demo's, whose password is published): `delphi researcher admin EMAIL` names one.


def downgrade() -> None:
    with op.batch_alter_table("researcher_session", schema=None) as batch_op:
        batch_op.drop_column("client")
    with op.batch_alter_table("researcher", schema=None) as batch_op:
        batch_op.drop_column("is_admin")
    with op.batch_alter_table("account_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_token_email"))
        batch_op.drop_index(batch_op.f("ix_account_token_created_at"))
    op.drop_table("account_token")
