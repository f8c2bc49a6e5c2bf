"""a round may give each expert a random, balanced subset of its items: the subset's size and the
minimum raters per item on the round, and the items drawn for each expert

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("items_per_expert", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("min_raters_per_item", sa.Integer(), nullable=True))
    op.create_table(
        "round_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["expert.id"], name=op.f("fk_round_assignment_expert_id_expert"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_round_assignment_item_id_item"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_round_assignment_round_id_round"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_assignment")),
        sa.UniqueConstraint(
            "round_id", "expert_id", "item_id", name=op.f("uq_round_assignment_round_id_expert_id_item_id")
        ),
    )
    with op.batch_alter_table("round_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_assignment_expert_id"), ["expert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_round_assignment_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_round_assignment_round_id"), ["round_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("round_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_assignment_round_id"))
        batch_op.drop_index(batch_op.f("ix_round_assignment_item_id"))
        batch_op.drop_index(batch_op.f("ix_round_assignment_expert_id"))
    op.drop_table("round_assignment")
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.drop_column("min_raters_per_item")
        batch_op.drop_column("items_per_expert")
