"""rate limits: TPS per channel and per chatbot, and the shared token buckets

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tps_limit', sa.Float(), nullable=True))
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tps_limit', sa.Float(), nullable=True))
    op.create_table('rate_buckets',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('rate_buckets')
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.drop_column('tps_limit')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('tps_limit')
