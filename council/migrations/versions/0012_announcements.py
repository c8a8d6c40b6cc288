"""announcements: what the secretariat posts into the announcements room, pinned and expiring

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('announcements',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('origin', sa.String(length=8), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('expires_at', AT, nullable=True),
    sa.Column('expired_at', AT, nullable=True),
    sa.Column('outbox_key', sa.String(length=200), nullable=False),
    sa.Column('command_event_id', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements')),
    sa.UniqueConstraint('command_event_id', name=op.f('uq_announcements_command_event_id')))
    op.create_index(op.f('ix_announcements_expires_at'), 'announcements', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_announcements_expires_at'), table_name='announcements')
    op.drop_table('announcements')
