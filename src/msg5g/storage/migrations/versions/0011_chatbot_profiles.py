"""chatbot profiles

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chatbot_profiles',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('business_id', sa.String(length=36), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chatbot_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chatbot_profiles_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profile_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('info_state', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('info_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('info_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('live_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('info_pending', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('credential_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_chatbots_profile_id'), ['profile_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chatbots_profile_id'))
        batch_op.drop_column('updated_at')
        batch_op.drop_column('credential_error')
        batch_op.drop_column('info_pending')
        batch_op.drop_column('live_version')
        batch_op.drop_column('info_version')
        batch_op.drop_column('info_reason')
        batch_op.drop_column('info_state')
        batch_op.drop_column('profile_id')

    with op.batch_alter_table('chatbot_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chatbot_profiles_tenant_id'))

    op.drop_table('chatbot_profiles')
