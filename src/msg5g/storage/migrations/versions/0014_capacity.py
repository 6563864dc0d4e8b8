"""capacity: price plans, caps, their ledger per period, charge lines, the reservation of each message

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('capacity_caps',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('scope_id', sa.String(length=36), nullable=True),
    sa.Column('metric', sa.String(length=10), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('limit', sa.BigInteger(), nullable=False),
    sa.Column('window_start', sa.Date(), nullable=True),
    sa.Column('window_end', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('capacity_caps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capacity_caps_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('capacity_usage',
    sa.Column('cap_id', sa.String(length=36), nullable=False),
    sa.Column('period_key', sa.String(length=30), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('reserved', sa.BigInteger(), nullable=False),
    sa.Column('charged', sa.BigInteger(), nullable=False),
    sa.Column('refused', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('cap_id', 'period_key')
    )
    op.create_table('charges',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('business_id', sa.String(length=36), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('template_id', sa.String(length=36), nullable=True),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('channel_type', sa.String(length=40), nullable=False),
    sa.Column('content_kind', sa.String(length=20), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'event', name='uq_charge_event')
    )
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.create_index('ix_charges_tenant_created', ['tenant_id', 'created_at'], unique=False)

    op.create_table('price_rules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('content_kind', sa.String(length=20), nullable=False),
    sa.Column('channel_type', sa.String(length=40), nullable=False),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'content_kind', 'channel_type', name='uq_price_rule')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reserved_cost', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('reserved_count', sa.Integer(), nullable=True))

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reservation', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('reservation')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('reserved_count')
        batch_op.drop_column('reserved_cost')

    op.drop_table('price_rules')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index('ix_charges_tenant_created')

    op.drop_table('charges')
    op.drop_table('capacity_usage')
    with op.batch_alter_table('capacity_caps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capacity_caps_tenant_id'))

    op.drop_table('capacity_caps')
