"""feeds: news feeds' polling state and the entries already posted

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('feed_states',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('last_modified', sa.String(length=500), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure', AT, nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('reported', sa.Boolean(), nullable=False),
    sa.Column('next_try', AT, nullable=False),
    sa.Column('last_ok', AT, nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_feed_states')))
    op.create_table('feed_entries',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('feed', sa.String(length=100), nullable=False),
    sa.Column('entry_key', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('seen_at', AT, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_entries')),
    sa.UniqueConstraint('feed', 'entry_key', name='uq_feed_entries_entry'))


def downgrade() -> None:
    op.drop_table('feed_entries')
    op.drop_table('feed_states')
