"""What happens to a feed's state: which feeds are due, a poll that worked (its new entries are
stored and each enqueued once for the announcements room, in the same unit of work), and a poll
that failed (backoff; after `report_after` seconds of failures the secretariat's room is told,
once per streak, and told again when the feed is back).

The bridge (bridges/feeds.py) fetches and parses; it calls these with the outcome and never
talks to the homeserver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.feeds import cards
from council.feeds.inputs import FeedItem, Fetched
from council.feeds.tables import FeedEntry, FeedState
from council.models import utcnow

_KEYS_PER_QUERY = 500  # bound the IN list (the feed may hold thousands of entries)


@dataclass(frozen=True)
class Policy:
    interval: float  # seconds between polls of a feed that works
    report_after: float  # seconds of failures before the secretariat is told
    tz: ZoneInfo  # dates on cards are the council's
    retry_base: float = 60.0  # first retry after a failure; doubles up to max_backoff
    max_backoff: float = 3600.0

    def backoff(self, failures: int) -> timedelta:
        return timedelta(seconds=min(self.retry_base * 2 ** min(failures - 1, 20), self.max_backoff))


def entry_key(feed: str, key: str) -> str:
    return f"feed:{feed}:{key}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


async def due(session: AsyncSession, sources: Sequence[tuple[str, str]],
              now: datetime | None = None) -> list[FeedState]:
    """The configured feeds (name, url) whose next poll is due; a new feed is due at once, and a
    feed whose URL changed forgets its validators (they belong to the old URL)."""
    now = now or utcnow()
    names = [name for name, _ in sources]
    known = {s.name: s for s in await session.scalars(
        select(FeedState).where(FeedState.name.in_(names)))}
    ready: list[FeedState] = []
    for name, url in sources:
        state = known.get(name)
        if state is None:
            state = FeedState(name=name, url=url, failures=0, reported=False, next_try=now)
            session.add(state)
        elif state.url != url:
            state.url, state.etag, state.last_modified, state.next_try = url, None, None, now
        if state.next_try <= now:
            ready.append(state)
    await session.flush()
    return ready


async def _seen(session: AsyncSession, feed: str, keys: list[str]) -> set[str]:
    seen: set[str] = set()
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[i:i + _KEYS_PER_QUERY]
        seen.update(await session.scalars(select(FeedEntry.entry_key).where(
            FeedEntry.feed == feed, FeedEntry.entry_key.in_(chunk))))
    return seen


def _oldest_first(items: list[FeedItem]) -> list[FeedItem]:
    """Feeds list newest first: post in reverse document order, by date when every entry has one."""
    backwards = list(reversed(items))
    if all(item.published for item in backwards):
        backwards.sort(key=lambda item: item.published)  # type: ignore[arg-type, return-value]
    return backwards


async def _state(session: AsyncSession, feed: str, url: str) -> FeedState:
    state = await session.get(FeedState, feed)
    if state is None:
        state = FeedState(name=feed, url=url, failures=0, reported=False, next_try=utcnow())
        session.add(state)
    return state


async def polled(session: AsyncSession, feed: str, url: str, fetched: Fetched, policy: Policy,
                 now: datetime | None = None) -> int:
    """A poll that worked: each entry not seen before is stored and its card enqueued (the
    unique (feed, entry key) and the outbox key make a repeat a no-op); returns how many."""
    now = now or utcnow()
    state = await _state(session, feed, url)
    if state.reported and state.first_failure is not None:
        await outbox.enqueue(session, f"feed-recovered:{feed}:{_epoch(state.first_failure)}",
                             rooms.placeholder(rooms.secretariat()), "m.room.message",
                             cards.recovered(feed))
    state.failures, state.first_failure, state.reported, state.last_error = 0, None, False, None
    state.last_ok, state.next_try = now, now + timedelta(seconds=policy.interval)
    if fetched.not_modified:
        return 0
    state.etag, state.last_modified = fetched.etag, fetched.last_modified
    fresh: dict[str, FeedItem] = {}
    for item in fetched.items:
        fresh.setdefault(item.key, item)
    seen = await _seen(session, feed, list(fresh))
    posted = 0
    room = rooms.placeholder(rooms.announcements())
    for item in _oldest_first([i for k, i in fresh.items() if k not in seen]):
        key = item.key
        session.add(FeedEntry(feed=feed, entry_key=key, title=cards.plain(item.title, 300), seen_at=now))
        content = cards.card(feed, key, item.title, item.summary, item.link, item.published, policy.tz)
        posted += await outbox.enqueue(session, entry_key(feed, key), room, "m.room.message", content)
    await session.flush()
    return posted


async def failed(session: AsyncSession, feed: str, url: str, error: str, policy: Policy,
                 now: datetime | None = None) -> bool:
    """A poll that failed: retried with backoff; True when this failure told the secretariat."""
    now = now or utcnow()
    state = await _state(session, feed, url)
    state.failures = (state.failures or 0) + 1
    state.first_failure = state.first_failure or now
    state.last_error = cards.plain(error, 300)
    state.next_try = now + policy.backoff(state.failures)
    if state.reported or (now - state.first_failure).total_seconds() < policy.report_after:
        return False
    state.reported = True
    await outbox.enqueue(session, f"feed-failing:{feed}:{_epoch(state.first_failure)}",
                         rooms.placeholder(rooms.secretariat()), "m.room.message",
                         cards.failing(feed, state.first_failure, state.failures, error, policy.tz))
    return True
