"""materials, templates and sensitive words

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('platform_sensitive_words',
    sa.Column('word', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('word')
    )
    op.create_table('material_syncs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('material_id', sa.String(length=36), nullable=False),
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=True),
    sa.Column('thumbnail_url', sa.String(length=1000), nullable=True),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delete_ref', sa.String(length=1000), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('refreshing', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('material_id', 'chatbot_id', name='uq_material_sync')
    )
    with op.batch_alter_table('material_syncs', schema=None) as batch_op:
        batch_op.create_index('ix_material_syncs_chatbot', ['tenant_id', 'chatbot_id', 'state'], unique=False)
        batch_op.create_index('ix_material_syncs_until', ['state', 'until'], unique=False)

    op.create_table('materials',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('business_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=300), nullable=True),
    sa.Column('thumbnail_content_type', sa.String(length=100), nullable=True),
    sa.Column('thumbnail_size', sa.Integer(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('probe_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.create_index('ix_materials_business', ['tenant_id', 'business_id', 'created_at'], unique=False)

    op.create_table('media_audit_refs',
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('audit_ref', sa.String(length=1000), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('chatbot_id', 'audit_ref')
    )
    with op.batch_alter_table('media_audit_refs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_audit_refs_upload_id'), ['upload_id'], unique=False)

    op.create_table('media_uploads',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('sync_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('thumbnail_url', sa.String(length=1000), nullable=True),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delete_ref', sa.String(length=1000), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('media_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_uploads_sync_id'), ['sync_id'], unique=False)

    op.create_table('sensitive_words',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('word', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'word', name='uq_sensitive_word')
    )
    with op.batch_alter_table('sensitive_words', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sensitive_words_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('template_channel_states',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('template_id', sa.String(length=36), nullable=False),
    sa.Column('version_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('chatbot_id', sa.String(length=36), nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('carrier_template_id', sa.String(length=100), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version_id', 'chatbot_id', name='uq_template_channel_state')
    )
    with op.batch_alter_table('template_channel_states', schema=None) as batch_op:
        batch_op.create_index('ix_template_states_carrier_id', ['chatbot_id', 'carrier_template_id'], unique=False)
        batch_op.create_index('ix_template_states_template', ['tenant_id', 'template_id', 'chatbot_id'], unique=False)

    op.create_table('template_versions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('template_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('review_state', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('reviewed_by', sa.String(length=100), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('template_id', 'version', name='uq_template_version')
    )
    op.create_table('templates',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('business_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.create_index('ix_templates_business', ['tenant_id', 'business_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('params')
        batch_op.drop_column('template_id')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('params')

    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_index('ix_templates_business')

    op.drop_table('templates')
    op.drop_table('template_versions')
    with op.batch_alter_table('template_channel_states', schema=None) as batch_op:
        batch_op.drop_index('ix_template_states_template')
        batch_op.drop_index('ix_template_states_carrier_id')

    op.drop_table('template_channel_states')
    with op.batch_alter_table('sensitive_words', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sensitive_words_tenant_id'))

    op.drop_table('sensitive_words')
    with op.batch_alter_table('media_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_uploads_sync_id'))

    op.drop_table('media_uploads')
    with op.batch_alter_table('media_audit_refs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_audit_refs_upload_id'))

    op.drop_table('media_audit_refs')
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.drop_index('ix_materials_business')

    op.drop_table('materials')
    with op.batch_alter_table('material_syncs', schema=None) as batch_op:
        batch_op.drop_index('ix_material_syncs_until')
        batch_op.drop_index('ix_material_syncs_chatbot')

    op.drop_table('material_syncs')
    op.drop_table('platform_sensitive_words')
