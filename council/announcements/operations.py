"""What may happen to an announcement. Each operation runs in the caller's unit of work and
writes the row and what the announcements room must be told (outbox) together.

- `post`: the announcement as the bot's message in the announcements room (`announcement:<id>`;
  deputies cannot post there: events_default 50); pinned ones also set the room's
  `m.room.pinned_events` to every pinned, unexpired announcement (the bot keeps that list whole:
  a pin someone added by hand in Element is replaced by the next change).
- `expire_due`: an announcement past its expiry is edited (m.replace) to say it expired, its
  text kept crossed out — an edit, not a redaction, so the record of what was announced stays —
  and, if pinned, unpinned. `AnnouncementExpiry` is the worker (council/worker.py shape).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.announcements import messages
from council.announcements.inputs import NewAnnouncement, check_expiry
from council.announcements.tables import Announcement
from council.models import utcnow
from council.store import Store
from council.worker import Worker

ORIGINS = frozenset({"desk", "matrix"})


def _room() -> str:
    return rooms.placeholder(rooms.announcements())


async def pinned_ids(session: AsyncSession) -> list[int]:
    """The announcements pinned now: pinned and not expired."""
    return list((await session.scalars(select(Announcement.id).where(
        Announcement.pinned.is_(True), Announcement.expired_at.is_(None)))).all())


async def by_command(session: AsyncSession, event_id: str) -> Announcement | None:
    found: Announcement | None = await session.scalar(
        select(Announcement).where(Announcement.command_event_id == event_id))
    return found


async def post(session: AsyncSession, spec: NewAnnouncement, author: str, origin: str, tz: ZoneInfo,
               *, command_event_id: str | None = None, now: datetime | None = None) -> Announcement:
    """A new announcement, posted once (a command handled again returns the first)."""
    now = now or utcnow()
    if command_event_id is not None:
        existing = await by_command(session, command_event_id)
        if existing is not None:
            return existing
    check_expiry(spec.expires_at, now)
    row = Announcement(text=spec.text, author=author, origin=origin if origin in ORIGINS else "desk",
                       created_at=now, pinned=spec.pinned, expires_at=spec.expires_at,
                       outbox_key="", command_event_id=command_event_id)
    session.add(row)
    await session.flush()
    row.outbox_key = key = messages.post_key(row.id)
    await outbox.enqueue(session, key, _room(), "m.room.message", messages.announcement(
        row.id, row.text, pinned=row.pinned, expires_at=row.expires_at, tz=tz))
    if row.pinned:
        await outbox.enqueue(session, f"{key}:pin", _room(), messages.PINNED,
                             messages.pinned_events(await pinned_ids(session)), state_key="")
    return row


async def expire_due(session: AsyncSession, tz: ZoneInfo, now: datetime | None = None) -> int:
    """End every announcement past its expiry: edited to say so, unpinned. How many."""
    now = now or utcnow()
    due = list((await session.scalars(select(Announcement).where(
        Announcement.expires_at.is_not(None), Announcement.expires_at <= now,
        Announcement.expired_at.is_(None)).order_by(Announcement.id))).all())
    for row in due:
        row.expired_at = now
        await outbox.enqueue(session, f"{row.outbox_key}:expired", _room(), "m.room.message",
                             messages.expired_edit(row.id, row.text, tz))
    await session.flush()
    unpinned = [row for row in due if row.pinned]
    if unpinned:  # one new pinned list for the whole round
        await outbox.enqueue(session, f"{unpinned[-1].outbox_key}:unpin", _room(), messages.PINNED,
                             messages.pinned_events(await pinned_ids(session)), state_key="")
    return len(due)


async def recent(session: AsyncSession, limit: int = 50) -> list[Announcement]:
    return list((await session.scalars(
        select(Announcement).order_by(Announcement.id.desc()).limit(limit))).all())


class AnnouncementExpiry(Worker):
    """Checks every `idle` seconds (a minute: expiries are to the minute at best)."""

    def __init__(self, store: Store, tz: Callable[[], ZoneInfo], on_enqueued: Callable[[], None],
                 *, idle: float = 60.0) -> None:
        super().__init__(idle)
        self.store = store
        self.tz = tz
        self.on_enqueued = on_enqueued
        self.expired = 0

    async def round(self) -> bool:
        async with self.store.session() as s:
            ended = await expire_due(s, self.tz())
        if ended:
            self.expired += ended
            self.on_enqueued()
        return False
