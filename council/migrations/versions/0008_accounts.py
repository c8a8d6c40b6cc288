"""accounts: web sessions, sign-in links, cabinet visits, the audit log

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('mxid', sa.String(length=255), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.Column('expires_at', AT, nullable=False),
    sa.Column('ended_at', AT, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash')))
    op.create_index(op.f('ix_web_sessions_mxid'), 'web_sessions', ['mxid'], unique=False)
    op.create_table('signin_links',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('mxid', sa.String(length=255), nullable=False),
    sa.Column('created_at', AT, nullable=False),
    sa.Column('expires_at', AT, nullable=False),
    sa.Column('used_at', AT, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_signin_links_token_hash')))
    op.create_index(op.f('ix_signin_links_mxid'), 'signin_links', ['mxid'], unique=False)
    op.create_table('cabinet_visits',
    sa.Column('mxid', sa.String(length=255), nullable=False),
    sa.Column('seen_at', AT, nullable=False),
    sa.PrimaryKeyConstraint('mxid', name=op.f('pk_cabinet_visits')))
    op.create_table('audit_log',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('at', AT, nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')))
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('cabinet_visits')
    op.drop_index(op.f('ix_signin_links_mxid'), table_name='signin_links')
    op.drop_table('signin_links')
    op.drop_index(op.f('ix_web_sessions_mxid'), table_name='web_sessions')
    op.drop_table('web_sessions')
