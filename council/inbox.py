"""Idempotence on the way in: each event is handled once, and one that fails waits alone.

Events are de-duplicated by their own ids, never by the transaction that carried them: the
embedded Synapse numbers appservice transactions from 1 again after each restart, so a
transaction id seen before may carry new events. The homeserver has also been seen to resend
events in new transactions. mautrix keeps both kinds of id in memory only.

An event whose handler raises is recorded in `as_failed_events` and retried with backoff a
bounded number of times, then parked: it never holds the transaction, nor the events behind it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from council.models import FailedEvent, HandledEvent, utcnow
from council.store import Store, affected, dialect
from council.worker import Worker

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # the first try and four retries
RETRY_DELAYS = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
                timedelta(minutes=30))


async def claim_event(session: AsyncSession, event_id: str, room_id: str, event_type: str) -> bool:
    """Record the event in this unit of work; False if it was handled before.

    The caller's side effects (outbox rows) commit in the same transaction, so an
    event is either handled with its effects or not at all. Two processes handed the same
    event at once (docs/scaling-out.md): the second insert waits for the first's transaction,
    and claims nothing if it committed (no unique violation, no failure recorded).
    """
    insert = pg_insert if dialect(session) == "postgresql" else sqlite_insert
    claimed = await session.scalar(
        insert(HandledEvent).values(event_id=event_id, room_id=room_id, event_type=event_type,
                                    handled_at=utcnow())
        .on_conflict_do_nothing(index_elements=["event_id"]).returning(HandledEvent.event_id))
    return claimed is not None


@dataclass(frozen=True)
class Failure:
    attempts: int
    parked: bool  # no more retries
    first: bool  # this was the first failure of the event


async def record_failure(session: AsyncSession, raw: dict[str, Any], error: str) -> Failure:
    """Count one more failed attempt of an event; schedule the next try or park it."""
    event_id = str(raw["event_id"])
    row = await session.get(FailedEvent, event_id, with_for_update=True)
    first = row is None
    if row is None:
        row = FailedEvent(event_id=event_id, room_id=str(raw.get("room_id", "")),
                          event_type=str(raw.get("type", ""))[:255], raw=raw, attempts=0,
                          status="waiting", last_error="")
        session.add(row)
    row.attempts += 1
    row.last_error = error[:2000]
    parked = row.attempts >= MAX_ATTEMPTS
    if parked:
        row.status = "parked"
    else:
        row.next_attempt_at = utcnow() + RETRY_DELAYS[min(row.attempts, len(RETRY_DELAYS)) - 1]
    await session.flush()
    return Failure(row.attempts, parked, first)


async def due_failures(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Raw events whose next try is due, oldest first."""
    async with store.session() as s:
        rows = await s.scalars(select(FailedEvent.raw).where(
            FailedEvent.status == "waiting", FailedEvent.next_attempt_at <= utcnow())
            .order_by(FailedEvent.first_failed_at).limit(limit))
        return list(rows)


async def forget_failure(session: AsyncSession, event_id: str) -> None:
    """The event was handled after all."""
    await session.execute(delete(FailedEvent).where(FailedEvent.event_id == event_id))


async def failure_counts(store: Store) -> dict[str, int]:
    """{"waiting": n, "parked": m}: what /healthz reports."""
    async with store.session() as s:
        rows = await s.execute(select(FailedEvent.status, func.count()).group_by(FailedEvent.status))
        counts = {"waiting": 0, "parked": 0}
        counts.update({status: n for status, n in rows})
        return counts


async def prune(store: Store, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget handled event ids older than the homeserver would ever resend (it retries within
    minutes, at most ~8.5 min apart), and parked failures older than that: keeps the tables
    from growing with every event forever."""
    cutoff = utcnow() - older_than
    async with store.session() as s:
        events = await s.execute(delete(HandledEvent).where(HandledEvent.handled_at < cutoff))
        parked = await s.execute(delete(FailedEvent).where(
            FailedEvent.status == "parked", FailedEvent.first_failed_at < cutoff))
        return affected(events) + affected(parked)


class Pruning(Worker):
    """`prune`, daily."""

    def __init__(self, store: Store, interval: float = 24 * 3600) -> None:
        super().__init__(interval)
        self.store = store

    async def round(self) -> bool:
        removed = await prune(self.store)
        log.info("pruned %d handled event ids and parked failures", removed)
        return False
