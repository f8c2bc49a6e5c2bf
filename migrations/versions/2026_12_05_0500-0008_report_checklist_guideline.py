"""a report names the reporting guideline whose checklist it appends (ACCORD by default)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guideline", sa.String(length=12), nullable=False, server_default="ACCORD"))


def downgrade() -> None:
    with op.batch_alter_table("report_file", schema=None) as batch_op:
        batch_op.drop_column("guideline")
