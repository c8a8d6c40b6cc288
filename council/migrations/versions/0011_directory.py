"""directory: the pinned directory's digest, direct chats made by `!dm` and their requests

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('directory_posts',
    sa.Column('room_key', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', AT, nullable=False),
    sa.PrimaryKeyConstraint('room_key', name=op.f('pk_directory_posts')))
    op.create_table('direct_chats',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('person_a', sa.String(length=255), nullable=False),
    sa.Column('person_b', sa.String(length=255), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_direct_chats')),
    sa.UniqueConstraint('person_a', 'person_b', 'generation',
                        name=op.f('uq_direct_chats_person_a_person_b_generation')))
    op.create_table('direct_requests',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('asker', sa.String(length=255), nullable=False),
    sa.Column('partner', sa.String(length=255), nullable=False),
    sa.Column('partner_name', sa.String(length=200), nullable=False),
    sa.Column('chat_id', ID, nullable=True),
    sa.Column('created_at', AT, nullable=False),
    sa.Column('done_at', AT, nullable=True),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_direct_requests')))


def downgrade() -> None:
    op.drop_table('direct_requests')
    op.drop_table('direct_chats')
    op.drop_table('directory_posts')
