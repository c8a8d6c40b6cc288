"""failed events: an event whose handler failed waits to be retried; transaction ids are no longer kept

The embedded Synapse numbers appservice transactions from 1 again after a restart, so a
transaction id says nothing: events are de-duplicated by their own ids (as_events).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('as_failed_events',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=255), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_as_failed_events'))
    )
    op.create_index(op.f('ix_as_failed_events_status'), 'as_failed_events', ['status'], unique=False)
    op.drop_table('as_transactions')


def downgrade() -> None:
    op.create_table('as_transactions',
    sa.Column('txn_id', sa.String(length=255), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('txn_id', name=op.f('pk_as_transactions'))
    )
    op.drop_index(op.f('ix_as_failed_events_status'), table_name='as_failed_events')
    op.drop_table('as_failed_events')
