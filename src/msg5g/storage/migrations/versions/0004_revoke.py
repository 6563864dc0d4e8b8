"""revoke: what a recall asked of the carrier and what came of it, per attempt

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoke_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoke_result', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_column('revoke_result')
        batch_op.drop_column('revoke_requested_at')
