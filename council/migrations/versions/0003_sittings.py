"""sittings, agenda items, drafts and versions

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sittings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=500), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agenda_rev", sa.Integer(), nullable=False),
        sa.Column("external_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sittings")),
        sa.UniqueConstraint("external_key", name=op.f("uq_sittings_external_key")),
    )
    op.create_table(
        "agenda_items",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("sitting_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("initiator", sa.String(length=255), nullable=False),
        sa.Column("commission", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("room_event_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sitting_id"], ["sittings.id"],
                                name=op.f("fk_agenda_items_sitting_id_sittings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_items")),
        sa.UniqueConstraint("sitting_id", "number", name="uq_agenda_items_number"),
    )
    op.create_index(op.f("ix_agenda_items_sitting_id"), "agenda_items", ["sitting_id"])
    op.create_table(
        "draft_versions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("mimetype", sa.String(length=127), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["agenda_items.id"],
                                name=op.f("fk_draft_versions_item_id_agenda_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_versions")),
        sa.UniqueConstraint("item_id", "version", name="uq_draft_versions_version"),
    )
    op.create_index(op.f("ix_draft_versions_item_id"), "draft_versions", ["item_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_draft_versions_item_id"), table_name="draft_versions")
    op.drop_table("draft_versions")
    op.drop_index(op.f("ix_agenda_items_sitting_id"), table_name="agenda_items")
    op.drop_table("agenda_items")
    op.drop_table("sittings")
