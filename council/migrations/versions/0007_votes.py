"""votes: registration, attendance, absences, conflicts, votes, responses, roll-calls

Roll-call voting at sittings: every response stored as it arrived, each closed vote's
roll-call kept as published (names as they were at the close).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('vote_absences',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sitting_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('declared_by', sa.String(length=255), nullable=False),
    sa.Column('declared_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sitting_id'], ['sittings.id'], name=op.f('fk_vote_absences_sitting_id_sittings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_absences')),
    sa.UniqueConstraint('sitting_id', 'member_id', name='uq_vote_absences_member')
    )
    with op.batch_alter_table('vote_absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_absences_sitting_id'), ['sitting_id'], unique=False)

    op.create_table('vote_registrations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sitting_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.String(length=255), nullable=False),
    sa.Column('poll_event_id', sa.String(length=255), nullable=True),
    sa.Column('entitled', sa.JSON(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('quorum', sa.Integer(), nullable=False),
    sa.Column('shown', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sitting_id'], ['sittings.id'], name=op.f('fk_vote_registrations_sitting_id_sittings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_registrations')),
    sa.UniqueConstraint('poll_event_id', name=op.f('uq_vote_registrations_poll_event_id')),
    sa.UniqueConstraint('sitting_id', 'round', name='uq_vote_registrations_round')
    )
    with op.batch_alter_table('vote_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_registrations_sitting_id'), ['sitting_id'], unique=False)

    op.create_table('vote_attendance',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sitting_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('registration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['vote_registrations.id'], name=op.f('fk_vote_attendance_registration_id_vote_registrations')),
    sa.ForeignKeyConstraint(['sitting_id'], ['sittings.id'], name=op.f('fk_vote_attendance_sitting_id_sittings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_attendance')),
    sa.UniqueConstraint('event_id', name=op.f('uq_vote_attendance_event_id')),
    sa.UniqueConstraint('sitting_id', 'member_id', name='uq_vote_attendance_member')
    )
    with op.batch_alter_table('vote_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_attendance_sitting_id'), ['sitting_id'], unique=False)

    op.create_table('vote_conflicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('declared_by', sa.String(length=255), nullable=False),
    sa.Column('declared_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['agenda_items.id'], name=op.f('fk_vote_conflicts_item_id_agenda_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_conflicts')),
    sa.UniqueConstraint('item_id', 'member_id', name='uq_vote_conflicts_member')
    )
    with op.batch_alter_table('vote_conflicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_conflicts_item_id'), ['item_id'], unique=False)

    op.create_table('votes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sitting_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('majority', sa.String(length=16), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.String(length=255), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.String(length=16), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('poll_event_id', sa.String(length=255), nullable=True),
    sa.Column('end_event_id', sa.String(length=255), nullable=True),
    sa.Column('entitled', sa.JSON(), nullable=False),
    sa.Column('registered_at_open', sa.JSON(), nullable=False),
    sa.Column('registered_at_close', sa.JSON(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('totals', sa.JSON(), nullable=True),
    sa.Column('digest', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['agenda_items.id'], name=op.f('fk_votes_item_id_agenda_items')),
    sa.ForeignKeyConstraint(['sitting_id'], ['sittings.id'], name=op.f('fk_votes_sitting_id_sittings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_votes')),
    sa.UniqueConstraint('poll_event_id', name=op.f('uq_votes_poll_event_id')),
    sa.UniqueConstraint('sitting_id', 'number', name='uq_votes_number')
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_votes_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_votes_sitting_id'), ['sitting_id'], unique=False)

    op.create_table('vote_responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('vote_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=True),
    sa.Column('answer', sa.String(length=16), nullable=True),
    sa.Column('origin_ts', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['votes.id'], name=op.f('fk_vote_responses_vote_id_votes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_responses')),
    sa.UniqueConstraint('event_id', name=op.f('uq_vote_responses_event_id'))
    )
    with op.batch_alter_table('vote_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_responses_vote_id'), ['vote_id'], unique=False)

    op.create_table('vote_roll_call',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('vote_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('faction', sa.String(length=200), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['vote_id'], ['votes.id'], name=op.f('fk_vote_roll_call_vote_id_votes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_roll_call')),
    sa.UniqueConstraint('vote_id', 'member_id', name='uq_vote_roll_call_member')
    )
    with op.batch_alter_table('vote_roll_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_roll_call_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vote_roll_call_vote_id'), ['vote_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vote_roll_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_roll_call_vote_id'))
        batch_op.drop_index(batch_op.f('ix_vote_roll_call_member_id'))

    op.drop_table('vote_roll_call')
    with op.batch_alter_table('vote_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_responses_vote_id'))

    op.drop_table('vote_responses')
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_votes_sitting_id'))
        batch_op.drop_index(batch_op.f('ix_votes_item_id'))

    op.drop_table('votes')
    with op.batch_alter_table('vote_conflicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_conflicts_item_id'))

    op.drop_table('vote_conflicts')
    with op.batch_alter_table('vote_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_attendance_sitting_id'))

    op.drop_table('vote_attendance')
    with op.batch_alter_table('vote_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_registrations_sitting_id'))

    op.drop_table('vote_registrations')
    with op.batch_alter_table('vote_absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_absences_sitting_id'))

    op.drop_table('vote_absences')
