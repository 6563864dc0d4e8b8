"""fallback: a message's fallback policy, and the short links of H5 fallbacks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback_policy', sa.String(length=10), nullable=True))
    op.create_table('h5_links',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_click_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token')
    )
    with op.batch_alter_table('h5_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_h5_links_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('h5_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_h5_links_message_id'))
    op.drop_table('h5_links')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('fallback_policy')
