"""the study keeps the round its design changes prepare (kept by rounds); when an invitation first
went out is read from the outbox, not copied into the invitation

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preparing_round", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE study SET preparing_round = (
            SELECT CASE WHEN r.status = 'analysed' THEN r.number + 1 ELSE r.number END
            FROM round r WHERE r.study_id = study.id ORDER BY r.number DESC LIMIT 1
        )
        """
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_column("sent_at")


def downgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute(
        """
        UPDATE invitation SET sent_at = (
            SELECT MIN(m.sent_at) FROM outbox_message m
            WHERE m.round_id = invitation.round_id AND m.expert_id = invitation.expert_id
              AND m.kind = 'invitation' AND m.sent_at IS NOT NULL
        )
        """
    )
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("preparing_round")
