"""pairing mark: what ties the store to its homeserver's database at one moment

A store and a homeserver restored from backups of different moments hold different marks; the
room-state cache is then read again (appservice/roster/pairing.py).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pairing_mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mark', sa.String(length=64), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairing_mark'))
    )


def downgrade() -> None:
    op.drop_table('pairing_mark')
