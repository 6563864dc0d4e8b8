"""conversations: contacts (with their marketing opt-out), each chatbot-and-number conversation with its notes, auto-reply rules, agents and canned replies; indexes for a number's history

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_states',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('max_open', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=50), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_states_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('auto_reply_rules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('business_id', sa.String(length=36), nullable=False),
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auto_reply_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auto_reply_rules_chatbot_id'), ['chatbot_id'], unique=False)

    op.create_table('canned_replies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canned_replies_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'number', name='uq_contacts_number')
    )
    op.create_table('conversation_notes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_notes_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('conversations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('business_id', sa.String(length=36), nullable=False),
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=100), nullable=True),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=True),
    sa.Column('team', sa.String(length=50), nullable=True),
    sa.Column('uplinks', sa.Integer(), nullable=False),
    sa.Column('last_inbound_id', sa.String(length=36), nullable=True),
    sa.Column('last_uplink_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chatbot_id', 'number', name='uq_conversations_pair')
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_tenant_updated', ['tenant_id', 'updated_at'], unique=False)

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_sender', ['tenant_id', 'sender'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_recipient', ['tenant_id', 'recipient'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_recipient')

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_sender')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_tenant_updated')

    op.drop_table('conversations')
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_notes_conversation_id'))

    op.drop_table('conversation_notes')
    op.drop_table('contacts')
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_canned_replies_tenant_id'))

    op.drop_table('canned_replies')
    with op.batch_alter_table('auto_reply_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auto_reply_rules_chatbot_id'))

    op.drop_table('auto_reply_rules')
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_states_tenant_id'))

    op.drop_table('agent_states')
