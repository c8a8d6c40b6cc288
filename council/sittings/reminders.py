"""Reminders of sittings in the announcements room, the day before (in the council's time zone).

One message per sitting and local date (outbox key `sitting-reminder:<id>:<date>`), so it is sent
once across restarts and by any number of workers; a sitting moved to another day is reminded
again for its new day. `SittingReminders` is the worker (council/worker.py shape) that runs it."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.language import Text, _
from council.models import utcnow
from council.sittings.tables import Sitting
from council.store import Store
from council.worker import Worker

REMINDER_KEY = "ua.kabinet.reminder"
KIND_LABEL = {"plenary": Text("Plenary council sitting"), "commission": Text("Commission sitting"),
              "executive": Text("Executive committee sitting")}


@dataclass(frozen=True)
class Settings:
    tz: ZoneInfo
    public_url: str  # the site's base URL: the reminder links to the sitting's page


def reminder_key(sitting_id: int, day: date) -> str:
    return f"sitting-reminder:{sitting_id}:{day.isoformat()}"


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC moments a local day starts and ends (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return start, end


def message(sitting: Sitting, settings: Settings) -> dict[str, Any]:
    local = sitting.starts_at.astimezone(settings.tz)
    label = str(KIND_LABEL.get(sitting.kind) or _("Sitting"))
    link = f"{settings.public_url.rstrip('/')}/sittings/{sitting.id}"
    when = _("tomorrow, {date} at {time}", date=f"{local:%d.%m.%Y}", time=f"{local:%H:%M}")
    reminder, what = _("Reminder"), _("{kind}: “{title}”.", kind=label, title=sitting.title)
    place = _("Place: {place}", place=sitting.place)
    papers = _("Agenda and draft decisions")
    body = f"🔔 {reminder}: {when} — {what}\n{place}\n{papers}: {link}"
    esc = html.escape
    formatted = (f"<p>🔔 <b>{esc(reminder)}</b>: {esc(when)} — {esc(what)}<br>{esc(place)}<br>"
                 f'<a href="{esc(link)}">{esc(papers)}</a></p>')
    return {"msgtype": "m.text", "body": body, "format": "org.matrix.custom.html",
            "formatted_body": formatted,
            REMINDER_KEY: {"sitting": sitting.id, "date": local.date().isoformat()}}


async def remind(session: AsyncSession, settings: Settings, now: datetime | None = None) -> int:
    """Enqueue the reminder of every sitting that starts tomorrow (local), once; how many new."""
    now = now or utcnow()
    tomorrow = now.astimezone(settings.tz).date() + timedelta(days=1)
    start, end = _day_bounds(tomorrow, settings.tz)
    sittings = await session.scalars(select(Sitting).where(
        Sitting.starts_at >= start, Sitting.starts_at < end).order_by(Sitting.starts_at, Sitting.id))
    room = rooms.placeholder(rooms.announcements())
    added = 0
    for sitting in sittings:
        added += await outbox.enqueue(session, reminder_key(sitting.id, tomorrow), room,
                                      "m.room.message", message(sitting, settings))
    return added


class SittingReminders(Worker):
    """Checks every `idle` seconds (a minute: the day turns over at local midnight)."""

    def __init__(self, store: Store, settings: Callable[[], Settings],
                 on_enqueued: Callable[[], None], *, idle: float = 60.0) -> None:
        super().__init__(idle)
        self.store = store
        self.settings = settings
        self.on_enqueued = on_enqueued
        self.enqueued = 0

    async def round(self) -> bool:
        async with self.store.session() as s:
            added = await remind(s, self.settings())
        if added:
            self.enqueued += added
            self.on_enqueued()
        return False  # nothing more until the clock moves
