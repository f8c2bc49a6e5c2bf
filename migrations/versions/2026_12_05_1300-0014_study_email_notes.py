"""the research team's own words in the invitations and the reminders (translatable like the
study's other texts)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invitation_note", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("reminder_note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("reminder_note")
        batch_op.drop_column("invitation_note")
