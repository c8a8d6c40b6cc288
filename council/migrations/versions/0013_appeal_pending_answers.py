"""appeal pending answers: an !answer shown for confirmation before it goes to the citizen

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('appeal_pending_answers',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('appeal_id', ID, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('command_event', sa.String(length=255), nullable=False),
    sa.Column('preview_key', sa.String(length=255), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.Column('decided_by', sa.String(length=255), nullable=True),
    sa.Column('decided_at', AT, nullable=True),
    sa.ForeignKeyConstraint(['appeal_id'], ['appeals.id'],
                            name=op.f('fk_appeal_pending_answers_appeal_id_appeals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_pending_answers')),
    sa.UniqueConstraint('command_event', name=op.f('uq_appeal_pending_answers_command_event')))
    op.create_index(op.f('ix_appeal_pending_answers_appeal_id'), 'appeal_pending_answers',
                    ['appeal_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_appeal_pending_answers_appeal_id'), table_name='appeal_pending_answers')
    op.drop_table('appeal_pending_answers')
