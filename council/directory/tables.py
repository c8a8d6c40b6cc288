"""The directory's tables: the pinned directory's last digest and version per room, the direct
chats the bot made between two people, and the `!dm` requests waiting for one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from council.models import Base, BigId, UTCDateTime, utcnow


class DirectoryPost(Base):
    """The pinned directory in a room: the digest of the text it shows and its version (1 is
    the first post, each edit the next number: the outbox keys carry it)."""

    __tablename__ = "directory_posts"

    room_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # "lounge"
    digest: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectChat(Base):
    """A direct chat between two people, made by the bot. The pair is stored ordered
    (`person_a` < `person_b`, Matrix ids), so either of them finds it; `generation` counts the
    rooms made for the pair (a new one when one of them left the last)."""

    __tablename__ = "direct_chats"
    __table_args__ = (UniqueConstraint("person_a", "person_b", "generation"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_a: Mapped[str] = mapped_column(String(255))
    person_b: Mapped[str] = mapped_column(String(255))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    room_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectRequest(Base):
    """A `!dm` that a worker answers: it finds or makes the room, then replies to `event_id`."""

    __tablename__ = "direct_requests"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))  # where the command was typed
    asker: Mapped[str] = mapped_column(String(255))
    partner: Mapped[str] = mapped_column(String(255))
    partner_name: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[int | None] = mapped_column(BigId)  # set when answered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
