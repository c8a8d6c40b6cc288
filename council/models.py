"""Tables of the store. Every change here needs an Alembic revision in migrations/versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from council.types import BigId, UTCDateTime, aware, utcnow

__all__ = ["Base", "BigId", "UTCDateTime", "aware", "utcnow"]  # re-exported for the tables

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}  # noqa: RUF012  (SQLAlchemy reads it)


class ManagedRoom(Base):
    """A room or space the appservice manages, keyed by what it is for (`commission:budget`)."""

    __tablename__ = "managed_rooms"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(200))
    room_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CouncilAccount(Base):
    """A Matrix account the roster has named at some point; only these are ever removed from rooms."""

    __tablename__ = "council_accounts"

    mxid: Mapped[str] = mapped_column(String(255), primary_key=True)
    roster_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # deputy | head | staff
    created_by_us: Mapped[bool] = mapped_column(default=False)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HandledEvent(Base):
    """Events already handled (homeservers have been seen to resend them in new transactions)."""

    __tablename__ = "as_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FailedEvent(Base):
    """An event whose handler failed: kept to be retried a bounded number of times, then parked.

    One bad event must not hold the homeserver's transaction (and every event behind it), so
    the transaction succeeds and the event waits here instead."""

    __tablename__ = "as_failed_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event as received, to run it again
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)  # | parked
    attempts: Mapped[int] = mapped_column(default=1)
    last_error: Mapped[str] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """An event to send to Matrix. `key` is deterministic, so enqueueing twice is a no-op, and
    the transaction id sent to the homeserver derives from it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    room_id: Mapped[str] = mapped_column(String(255), index=True)
    event_type: Mapped[str] = mapped_column(String(255))
    state_key: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    sender: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A file to upload before sending (content gets "url" = the mxc URI): a blob in BlobStore.
    media_sha256: Mapped[str | None] = mapped_column(String(64))
    media_name: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(127))
    media_mxc: Mapped[str | None] = mapped_column(String(255))


class RoomStateEntry(Base):
    """One current state event of a room, as the appservice's transactions (or a full read of
    the room's state) last told it: the room-state cache of council/roomstate.py."""

    __tablename__ = "room_state"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(255), primary_key=True)
    state_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_id: Mapped[str | None] = mapped_column(String(255))  # None: written through, no id yet
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoomStateRoom(Base):
    """A room of the room-state cache: `complete` when the cache holds its whole current state."""

    __tablename__ = "room_state_rooms"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    complete: Mapped[bool] = mapped_column(default=False)
    # how it became complete: "create" (its m.room.create came through the transactions),
    # "created" (Kabinet made it and wrote its initial state through), "read" (a full read)
    source: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoomStateSeen(Base):
    """State event ids the cache has taken from transactions: a redelivered event is skipped,
    so it cannot put back an older state. Pruned after a week (the homeserver retries within
    minutes)."""

    __tablename__ = "room_state_seen"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PairingMark(Base):
    """One row: the mark this store shares with its homeserver (the bot's account data). Both
    change together when a backup is taken, so a store and a homeserver restored from different
    moments disagree, and the room-state cache is read again (appservice/roster/pairing.py)."""

    __tablename__ = "pairing_mark"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    mark: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
