"""The sittings tables: sittings, agenda items and the drafts' versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class Sitting(Base):
    __tablename__ = "sittings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # plenary | commission | executive
    body: Mapped[str] = mapped_column(String(64))  # roster body id, or the commission id
    number: Mapped[str | None] = mapped_column(String(32))  # the session's number
    title: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(500))
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    agenda_rev: Mapped[int] = mapped_column(Integer, default=0)
    # Idempotent creation (demo seeder, API clients that retry): one sitting per key.
    external_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class AgendaItem(Base):
    """An agenda item with its draft decision (one draft per item, in versions)."""

    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("sitting_id", "number", name="uq_agenda_items_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    initiator: Mapped[str] = mapped_column(String(255))
    commission: Mapped[str | None] = mapped_column(String(64))  # responsible commission id
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | withdrawn
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A file dropped into the sitting room is its own first event (not posted again).
    room_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DraftVersion(Base):
    __tablename__ = "draft_versions"
    __table_args__ = (UniqueConstraint("item_id", "version", name="uq_draft_versions_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # cli | api | matrix | demo
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
