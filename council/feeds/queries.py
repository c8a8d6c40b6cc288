"""Reading the feeds' state (status commands, tests, the bench)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.feeds.tables import FeedEntry, FeedState


async def states(session: AsyncSession) -> dict[str, FeedState]:
    return {s.name: s for s in await session.scalars(select(FeedState))}


async def seen_count(session: AsyncSession, feed: str | None = None) -> int:
    query = select(func.count()).select_from(FeedEntry)
    if feed is not None:
        query = query.where(FeedEntry.feed == feed)
    return int(await session.scalar(query) or 0)
