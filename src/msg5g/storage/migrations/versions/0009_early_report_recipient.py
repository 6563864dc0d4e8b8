"""early reports name their recipient, for group sends under one carrier-assigned id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('early_status_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('early_status_reports', schema=None) as batch_op:
        batch_op.drop_column('recipient')
