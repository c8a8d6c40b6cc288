"""notes: private notes and the forwarded messages they are filed under

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('notes',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=8), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.Column('outbox_key', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.Column('edited_at', AT, nullable=True),
    sa.Column('deleted_at', AT, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
    sa.UniqueConstraint('event_id', name=op.f('uq_notes_event_id')))
    op.create_index(op.f('ix_notes_author'), 'notes', ['author'], unique=False)
    op.create_table('note_anchors',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_note_anchors')))


def downgrade() -> None:
    op.drop_table('note_anchors')
    op.drop_index(op.f('ix_notes_author'), table_name='notes')
    op.drop_table('notes')
