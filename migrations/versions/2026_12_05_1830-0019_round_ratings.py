"""the rating matrix a round was analysed on, kept with its analysis for the next round's stability

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "round_ratings",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("matrix", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_round_ratings_round_id_round"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_round_ratings")),
    )


def downgrade() -> None:
    op.drop_table("round_ratings")
