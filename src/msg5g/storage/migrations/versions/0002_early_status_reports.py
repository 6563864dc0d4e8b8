"""early status reports: reports that arrive before the carrier's answer naming their id

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('early_status_reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('carrier_message_id', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('carrier_status', sa.String(length=60), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('early_status_reports', schema=None) as batch_op:
        batch_op.create_index('ix_early_reports_carrier_id', ['tenant_id', 'chatbot_id', 'carrier_message_id'],
                              unique=False)
        batch_op.create_index('ix_early_reports_received', ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('early_status_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_early_reports_received')
        batch_op.drop_index('ix_early_reports_carrier_id')
    op.drop_table('early_status_reports')
