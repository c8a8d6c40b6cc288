"""The feeds' store side (council/feeds/) on SQLite and PostgreSQL: each entry is posted once,
whatever the feed does next; failures back off and are reported once per streak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from council import feeds, rooms
from council.models import OutboxMessage
from council.store import Store

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
POLICY = feeds.Policy(interval=900, report_after=86400, tz=ZoneInfo("Europe/Kyiv"), retry_base=60)
URL = "http://127.0.0.1:1/news.xml"


def item(n: int, *, day: int = 1, guid: bool = True, title: str | None = None) -> feeds.FeedItem:
    return feeds.FeedItem(guid=f"urn:news:{n}" if guid else None, link=f"https://city.example/n/{n}",
                          title=title or f"Новина {n}", summary=f"<p>Текст <b>{n}</b></p>",
                          published=datetime(2026, 11, day, 9, n % 60, tzinfo=UTC))


async def outbox_rows(store: Store, prefix: str) -> list[OutboxMessage]:
    async with store.session() as s:
        rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.key.like(prefix + "%"))
                               .order_by(OutboxMessage.id))
        return list(rows)


async def poll(store: Store, items: list[feeds.FeedItem], now: datetime = T0, name: str = "city",
               **kw: object) -> int:
    async with store.session() as s:
        return await feeds.polled(s, name, URL, feeds.Fetched(items=items, **kw), POLICY, now)  # type: ignore[arg-type]


async def test_new_entries_posted_once_oldest_first(store: Store) -> None:
    assert await poll(store, [item(3), item(2), item(1)]) == 3
    rows = await outbox_rows(store, "feed:city:")
    assert [r.content[feeds.cards.FEED_KEY]["entry"] for r in rows] == [item(n).key for n in (1, 2, 3)]
    assert {r.room_id for r in rows} == {rooms.placeholder(rooms.announcements())}
    assert "Новина 1" in rows[0].content["body"] and "https://city.example/n/1" in rows[0].content["body"]
    assert "<b>" not in rows[0].content["body"]
    # The same feed again, a "restart" (a fresh session), re-ordered, re-dated: nothing new.
    assert await poll(store, [item(3), item(2), item(1)]) == 0
    assert await poll(store, [item(1), item(3), item(2)]) == 0
    assert await poll(store, [item(3, day=20), item(2, day=21), item(1, day=22)]) == 0
    assert len(await outbox_rows(store, "feed:city:")) == 3
    # One new entry among the old ones: exactly it.
    assert await poll(store, [item(4), item(3), item(2), item(1)]) == 1
    assert len(await outbox_rows(store, "feed:city:")) == 4
    async with store.session() as s:
        assert await feeds.seen_count(s, "city") == 4


async def test_entries_without_id_are_known_by_link_and_feeds_are_separate(store: Store) -> None:
    assert await poll(store, [item(1, guid=False)]) == 1
    assert await poll(store, [item(1, guid=False, title="Інший заголовок")]) == 0
    assert await poll(store, [item(1, guid=False)], name="region") == 1  # another feed's own entry
    # Duplicates inside one document are one entry.
    assert await poll(store, [item(9), item(9)]) == 1


async def test_validators_kept_and_not_modified_posts_nothing(store: Store) -> None:
    await poll(store, [item(1)], etag='"v1"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT")
    async with store.session() as s:
        state = (await feeds.states(s))["city"]
        assert (state.etag, state.last_modified) == ('"v1"', "Wed, 25 Nov 2026 10:00:00 GMT")
        assert state.next_try == T0 + timedelta(seconds=900)
        assert await feeds.due(s, [("city", URL)], T0 + timedelta(seconds=899)) == []
        assert [f.name for f in await feeds.due(s, [("city", URL)], T0 + timedelta(seconds=900))] == ["city"]
    assert await poll(store, [], not_modified=True) == 0
    async with store.session() as s:
        assert (await feeds.states(s))["city"].etag == '"v1"'
        # A changed URL drops the old URL's validators and is due at once.
        due = await feeds.due(s, [("city", URL + "?v=2")], T0)
        assert [(f.name, f.etag) for f in due] == [("city", None)]


async def test_failures_back_off_and_are_reported_once_then_recovery_said(store: Store) -> None:
    now = T0
    for n in range(1, 6):
        async with store.session() as s:
            told = await feeds.failed(s, "city", URL, "HTTP 503", POLICY, now)
            state = await s.get(feeds.FeedState, "city")
            assert state is not None and state.failures == n and not told
            assert state.next_try == now + timedelta(seconds=min(60 * 2 ** (n - 1), 3600))
        now += timedelta(hours=3)
    assert await outbox_rows(store, "feed-failing:") == []
    later = T0 + timedelta(days=1, minutes=1)
    async with store.session() as s:
        assert await feeds.failed(s, "city", URL, "HTTP 503 <script>x</script>", POLICY, later)
    async with store.session() as s:
        assert not await feeds.failed(s, "city", URL, "HTTP 503", POLICY, later + timedelta(hours=1))
    reports = await outbox_rows(store, "feed-failing:city:")
    assert len(reports) == 1 and reports[0].room_id == rooms.placeholder(rooms.secretariat())
    assert "«city»" in reports[0].content["body"] and "<script>" not in reports[0].content["body"]
    assert await poll(store, [item(1)], now=later + timedelta(hours=2)) == 1
    assert len(await outbox_rows(store, "feed-recovered:city:")) == 1
    async with store.session() as s:
        state = await s.get(feeds.FeedState, "city")
        assert state is not None and (state.failures, state.reported, state.first_failure) == (0, False, None)


def test_a_failing_feed_is_reported_in_the_council_s_language() -> None:
    from council import language
    from council.feeds import cards

    since = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    uk = cards.failing("Новини", since, 3, "HTTP 503", POLICY.tz)["body"]
    assert uk.startswith("⚠️ Стрічка новин «Новини» не отримується з 26.11.2026 10:00 (невдалих "
                         "спроб: 3; остання помилка: HTTP 503).")
    language.use("en")
    try:
        assert cards.recovered("News")["body"] == "✅ The news feed “News” is received again."
        assert cards.card("News", "k", "", "", None, None, POLICY.tz)["body"] == "📰 News: (untitled)"
    finally:
        language.use("uk")
