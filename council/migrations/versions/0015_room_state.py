"""room-state cache: the managed rooms' current state, fed by the appservice's transactions

A no-change re-apply of the roster reads no room's state from the homeserver: the cache holds
it (council/roomstate.py).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('room_state',
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=255), nullable=False),
    sa.Column('state_key', sa.String(length=255), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('room_id', 'event_type', 'state_key', name=op.f('pk_room_state'))
    )
    op.create_table('room_state_rooms',
    sa.Column('room_id', sa.String(length=255), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('room_id', name=op.f('pk_room_state_rooms'))
    )
    op.create_table('room_state_seen',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_room_state_seen'))
    )
    op.create_index(op.f('ix_room_state_seen_seen_at'), 'room_state_seen', ['seen_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_room_state_seen_seen_at'), table_name='room_state_seen')
    op.drop_table('room_state_seen')
    op.drop_table('room_state_rooms')
    op.drop_table('room_state')
