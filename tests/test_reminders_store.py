"""Sitting reminders (council/sittings/reminders.py) on SQLite and PostgreSQL: the day before
each sitting in the council's time zone, once per sitting and day, whatever runs it how often."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from council import rooms
from council.models import OutboxMessage
from council.sittings import reminders
from council.sittings.tables import Sitting
from council.store import Store

KYIV = ZoneInfo("Europe/Kyiv")
SETTINGS = reminders.Settings(tz=KYIV, public_url="https://rada.example/")


def local(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=KYIV)


async def add(store: Store, title: str, starts: datetime, kind: str = "plenary") -> int:
    async with store.session() as s:
        sitting = Sitting(kind=kind, body="council", title=title, starts_at=starts.astimezone(UTC),
                          place="Сесійна зала, вул. Соборна, 1")
        s.add(sitting)
        await s.flush()
        return sitting.id


async def reminded(store: Store) -> list[OutboxMessage]:
    async with store.session() as s:
        return list(await s.scalars(select(OutboxMessage).where(
            OutboxMessage.key.like("sitting-reminder:%")).order_by(OutboxMessage.id)))


async def remind(store: Store, now: datetime) -> int:
    async with store.session() as s:
        return await reminders.remind(s, SETTINGS, now)


async def test_reminded_once_the_day_before_in_local_time(store: Store) -> None:
    early = await add(store, "Сорок друга сесія", local(2026, 11, 27, 0, 30))  # 22:30 UTC on the 26th
    late = await add(store, "Засідання бюджетної комісії", local(2026, 11, 27, 23, 30), "commission")
    await add(store, "Сьогоднішня", local(2026, 11, 26, 18))
    await add(store, "Післязавтрашня", local(2026, 11, 28, 10))
    # 00:10 in Kyiv on the 26th is still the 25th in UTC: the local day counts.
    assert await remind(store, local(2026, 11, 26, 0, 10)) == 2
    assert await remind(store, local(2026, 11, 26, 23, 59)) == 0  # again, later that day: nothing
    rows = await reminded(store)
    assert [r.key for r in rows] == [f"sitting-reminder:{early}:2026-11-27",
                                     f"sitting-reminder:{late}:2026-11-27"]
    assert {r.room_id for r in rows} == {rooms.placeholder(rooms.announcements())}
    body = rows[0].content["body"]
    assert "завтра, 27.11.2026 о 00:30" in body and "Сорок друга сесія" in body
    assert "Сесійна зала" in body and f"https://rada.example/sittings/{early}" in body
    assert "Засідання комісії" in rows[1].content["body"]


async def test_a_moved_sitting_is_reminded_for_its_new_day_and_markup_escaped(store: Store) -> None:
    sid = await add(store, "<b>Сесія</b>", local(2026, 3, 29, 10))  # DST starts that night
    assert await remind(store, local(2026, 3, 28, 12)) == 1
    async with store.session() as s:
        sitting = await s.get(Sitting, sid)
        assert sitting is not None
        sitting.starts_at = local(2026, 3, 31, 10).astimezone(UTC)
    assert await remind(store, local(2026, 3, 29, 12)) == 0
    assert await remind(store, local(2026, 3, 30, 9)) == 1
    rows = await reminded(store)
    assert [r.key.rsplit(":", 1)[1] for r in rows] == ["2026-03-29", "2026-03-31"]
    assert "«&lt;b&gt;Сесія&lt;/b&gt;»" in rows[0].content["formatted_body"]
