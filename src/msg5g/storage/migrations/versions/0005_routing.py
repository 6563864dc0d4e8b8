"""routing: chatbot routes per carrier, facts about numbers, channel health events

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chatbot_routes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('carrier', sa.String(length=10), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('via_chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chatbot_routes', schema=None) as batch_op:
        batch_op.create_index('ix_routes_chatbot', ['tenant_id', 'chatbot_id'], unique=False)
    op.create_table('number_facts',
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('carrier', sa.String(length=10), nullable=True),
    sa.Column('carrier_source', sa.String(length=10), nullable=True),
    sa.Column('not_carriers', sa.JSON(), nullable=False),
    sa.Column('carrier_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('capability', sa.String(length=20), nullable=True),
    sa.Column('capability_source', sa.String(length=10), nullable=True),
    sa.Column('capability_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('number')
    )
    op.create_table('channel_health_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('channel_health_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_health_events_channel_id'), ['channel_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('channel_health_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_health_events_channel_id'))
    op.drop_table('channel_health_events')
    op.drop_table('number_facts')
    with op.batch_alter_table('chatbot_routes', schema=None) as batch_op:
        batch_op.drop_index('ix_routes_chatbot')
    op.drop_table('chatbot_routes')
