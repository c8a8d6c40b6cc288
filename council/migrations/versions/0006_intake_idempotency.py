"""intake idempotency: Idempotency-Keys and one-time form tokens that registered an appeal

A retry with the same key and request gets the same appeal; rows are pruned after 24 hours.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('intake_keys',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('appeal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appeal_id'], ['appeals.id'], name=op.f('fk_intake_keys_appeal_id_appeals')),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_intake_keys'))
    )
    with op.batch_alter_table('intake_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_keys_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intake_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_keys_created_at'))
    op.drop_table('intake_keys')
