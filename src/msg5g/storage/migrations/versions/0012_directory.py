"""the chatbot directory: entries and their search terms

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('directory_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('profile_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('carriers', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('sms_number', sa.String(length=30), nullable=True),
    sa.Column('chatbot_uri', sa.String(length=300), nullable=True),
    sa.Column('logo_url', sa.String(length=1000), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('profile_id')
    )
    with op.batch_alter_table('directory_entries', schema=None) as batch_op:
        batch_op.create_index('ix_directory_entries_category', ['category', 'status'], unique=False)
        batch_op.create_index('ix_directory_entries_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_directory_entries_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('directory_terms',
    sa.Column('term', sa.String(length=32), nullable=False),
    sa.Column('score', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('doc_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('owner_tenant_id', sa.String(length=36), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('carriers', sa.String(length=200), nullable=False),
    # postgresql_include added by hand: autogenerate does not render it on a primary key.
    sa.PrimaryKeyConstraint('term', 'score', 'doc_id', name='pk_directory_terms',
                            postgresql_include=['owner_tenant_id', 'category', 'status', 'carriers']),
    sa.UniqueConstraint('doc_id', 'term', name='uq_directory_terms_doc'),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('directory_terms')
    with op.batch_alter_table('directory_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_entries_tenant_id'))
        batch_op.drop_index('ix_directory_entries_status')
        batch_op.drop_index('ix_directory_entries_category')

    op.drop_table('directory_entries')
