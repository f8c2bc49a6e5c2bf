"""each expert's self-assessment of expertise (the competence coefficient K or the authority
coefficient Cr, as the protocol asks)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("self_assessment", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_column("self_assessment")
