"""The notes tables: each note of a person (their own only), and the draft or appeal messages a
person forwarded into their notes room (anchors: a reply to one files the note under it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class Note(Base):
    """A private note. Deleting keeps a tombstone (body erased, `deleted_at` set): its id and so
    its outbox keys (`note:<id>…`) are never used again (SQLite reuses the highest rowid)."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    author: Mapped[str] = mapped_column(String(255), index=True)  # the person's Matrix id
    person_id: Mapped[str] = mapped_column(String(64))  # roster id: their notes room's key
    subject: Mapped[str | None] = mapped_column(String(64))  # draft:<item id> | appeal:<id>
    body: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(8))  # matrix | web
    # The person's own event carrying the note (written in Element), while it stands.
    event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The bot's message carrying the note (written or re-posted from the web): its outbox key.
    outbox_key: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)  # web edits: 1, 2, …
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NoteAnchor(Base):
    """A draft or appeal message the person forwarded into their notes room (not a note)."""

    __tablename__ = "note_anchors"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    author: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
