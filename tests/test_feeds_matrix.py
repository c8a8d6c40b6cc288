"""Feeds and sitting reminders end to end on a real Synapse: the feature as `kabinet up` runs it
polls a local feed server (aiohttp on loopback), each entry's card reaches the announcements room
once, a failing feed is reported in the secretariat's room, and a sitting tomorrow is reminded
there the day before. Waits on real room events, never on a fixed sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from nio import AsyncClient
from sqlalchemy import func, select

from council import rooms, sittings
from council.feeds.cards import FEED_KEY
from council.models import OutboxMessage
from council.roster import load_roster
from council.sittings.reminders import REMINDER_KEY
from kabinet.features import default_features
from kabinet.features.feeds import Feeds
from kabinet.features.sittings import context as sittings_context
from kabinet.wiring import Kabinet, Running, start
from tests.conftest import SMALL_ROSTER, Deputies, test_settings
from tests.matrix_helpers import settle, wait_for
from tests.test_feeds_bridge import FeedServer, Route, day, make_due, rss


@pytest.fixture(scope="module")
async def feed_server() -> AsyncIterator[FeedServer]:
    s = FeedServer()
    await s.start()
    s.routes["city"] = Route(rss([("n1", "Ремонт мосту", day(1))]))
    s.routes["down"] = Route(b"down", status=503)
    yield s
    await s.stop()


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory, feed_server: FeedServer
                  ) -> AsyncIterator[Running]:
    roster = load_roster(SMALL_ROSTER)
    features = default_features()
    settings = test_settings(tmp_path_factory.mktemp("feeds"), SMALL_ROSTER, **{
        "feeds.sources": [{"name": "Новини міста", "url": feed_server.url("city")},
                          {"name": "Зламана", "url": feed_server.url("down")}],
        "feeds.interval": 10, "feeds.report_after": 0.001})
    run = await start(Kabinet(settings, roster, features=features))
    await settle(run.kabinet, roster)
    yield run
    await run.stop()


@pytest.fixture
async def people(running: Running) -> AsyncIterator[Deputies]:
    deputies = Deputies(running.kabinet.settings.homeserver.client_url)
    yield deputies
    await deputies.close()


async def events(client: AsyncClient, room_id: str) -> list[dict[str, Any]]:
    """The room's latest 200 events, newest first (the client-server API, as Element reads it)."""
    url = (f"{client.homeserver}/_matrix/client/v3/rooms/{quote(room_id)}/messages"
           "?dir=b&limit=200")
    async with aiohttp.ClientSession() as http, http.get(
            url, headers={"Authorization": f"Bearer {client.access_token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return list((await resp.json())["chunk"])


async def marked(client: AsyncClient, room_id: str, marker: str) -> list[dict[str, Any]]:
    return [e for e in await events(client, room_id) if marker in e.get("content", {})]


async def room(running: Running, key: str) -> str:
    room_id = await rooms.room_id(running.kabinet.store, key)
    assert room_id, key
    return room_id


async def test_cards_reach_the_announcements_room_once(running: Running, people: Deputies,
                                                       feed_server: FeedServer) -> None:
    deputy = await people.login("bondar", "test-deputy-1")
    announcements = await room(running, rooms.announcements())

    async def cards() -> list[dict[str, Any]]:
        return [e for e in await marked(deputy, announcements, FEED_KEY)
                if e["content"][FEED_KEY]["feed"] == "Новини міста"]

    [first] = await wait_for(cards, 60, what="the first card")
    assert first["content"]["body"].startswith("📰 Новини міста: Ремонт мосту")
    assert 'href="https://city.example/n1"' in first["content"]["formatted_body"]
    feed_server.routes["city"] = Route(rss([("n2", "Новий сквер", day(2)),
                                            ("n1", "Ремонт мосту (оновлено)", day(3))]))
    poller = running.kabinet.feature(Feeds).poller
    await make_due(running.kabinet.store)
    poller.poke()
    await wait_for(lambda: _two(cards), 60, what="the second card")
    await wait_for(lambda: _all_sent(running, "feed:"), 60, what="every card sent")
    found = await cards()
    assert [e["content"]["body"].splitlines()[0] for e in reversed(found)] == [
        "📰 Новини міста: Ремонт мосту", "📰 Новини міста: Новий сквер"]


async def _two(cards: Any) -> list[dict[str, Any]] | None:
    found = await cards()
    return found if len(found) >= 2 else None


async def _all_sent(running: Running, prefix: str) -> bool:
    async with running.kabinet.store.session() as s:
        pending = await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.key.like(prefix + "%"), OutboxMessage.status == "pending"))
    return pending == 0


async def test_failing_feed_reported_to_the_secretariat(running: Running, people: Deputies) -> None:
    clerk = await people.login("clerk", "test-clerk-1")
    secretariat = await room(running, rooms.secretariat())
    poller = running.kabinet.feature(Feeds).poller
    poller.retry_base = 0.0  # retry at once (the day of failures is report_after=0.001 here)
    poller.poke()

    async def reports() -> list[dict[str, Any]]:
        return [e for e in await marked(clerk, secretariat, FEED_KEY)
                if e["content"][FEED_KEY] == {"feed": "Зламана", "failing": True}]

    [report] = await wait_for(reports, 60, what="the failing feed's report")
    assert "«Зламана»" in report["content"]["body"] and "HTTP 503" in report["content"]["body"]


async def test_sitting_reminded_the_day_before(running: Running, people: Deputies) -> None:
    deputy = await people.login("zvarych", "test-deputy-3")
    announcements = await room(running, rooms.announcements())
    tz = ZoneInfo(running.kabinet.settings.sittings.timezone)
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    starts = datetime.combine(tomorrow, time(10, 0), tz)
    async with running.kabinet.store.session() as s:
        sitting, _ = await sittings.create_sitting(s, sittings_context(running.kabinet), sittings.NewSitting(
            kind="plenary", title="Позачергова сесія", starts_at=starts.astimezone(UTC),
            place="Велика зала"))
    running.kabinet.feature(Feeds).reminders.poke()

    async def reminders() -> list[dict[str, Any]]:
        return [e for e in await marked(deputy, announcements, REMINDER_KEY)
                if e["content"][REMINDER_KEY]["sitting"] == sitting.id]

    [reminder] = await wait_for(reminders, 60, what="the reminder")
    body = reminder["content"]["body"]
    assert f"завтра, {tomorrow:%d.%m.%Y} о 10:00" in body and "Позачергова сесія" in body
    assert f"{running.kabinet.settings.web.base_url}/sittings/{sitting.id}" in body
    await running.kabinet.feature(Feeds).reminders.round()  # again: the outbox key keeps it single
    await wait_for(lambda: _all_sent(running, "sitting-reminder:"), 60, what="reminders sent")
    assert len(await reminders()) == 1
