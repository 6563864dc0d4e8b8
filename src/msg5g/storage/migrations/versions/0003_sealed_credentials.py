"""credentials encrypted at rest; channels can be disabled; operator keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Chatbot credentials move from a plain JSON column into a sealed one. Rows that exist are sealed
with the platform's credentials key, which `msg5g migrate` and the platform pass in as the
`secret_box` attribute of the Alembic config.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _box() -> Any:
    box = context.config.attributes.get("secret_box")
    if box is None:
        raise RuntimeError("chatbot credentials need the credentials key to be sealed: run `msg5g migrate`")
    return box


def upgrade() -> None:
    op.create_table('operator_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secrets_sealed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credentials_sealed', sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, credentials FROM chatbots")).fetchall()
    for chatbot_id, credentials in rows:
        plain = credentials if isinstance(credentials, dict) else json.loads(credentials or "{}")
        connection.execute(sa.text("UPDATE chatbots SET credentials_sealed = :sealed WHERE id = :id"),
                           {"sealed": _box().seal(plain), "id": chatbot_id})
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.alter_column('credentials_sealed', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('credentials')


def downgrade() -> None:
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credentials', sa.JSON(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, credentials_sealed FROM chatbots")).fetchall()
    for chatbot_id, sealed in rows:
        connection.execute(sa.text("UPDATE chatbots SET credentials = :plain WHERE id = :id"),
                           {"plain": json.dumps(_box().open(sealed)), "id": chatbot_id})
    with op.batch_alter_table('chatbots', schema=None) as batch_op:
        batch_op.alter_column('credentials', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('credentials_sealed')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('enabled')
        batch_op.drop_column('secrets_sealed')
    op.drop_table('operator_keys')
