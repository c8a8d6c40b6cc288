"""votes by status: /metrics counts open and closing votes on every scrape

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('ix_votes_status'), 'votes', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_votes_status'), table_name='votes')
