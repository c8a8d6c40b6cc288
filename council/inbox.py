"""Idempotence on the way in: appservice transactions and events are handled once.

The homeserver retries a transaction until it gets a 200, and has been seen to
resend events in new transactions, so both ids are persisted (mautrix keeps them
in memory only, which a restart forgets).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.models import HandledEvent, HandledTransaction, utcnow
from council.store import Store


async def transaction_handled(store: Store, txn_id: str) -> bool:
    async with store.session() as s:
        return await s.get(HandledTransaction, txn_id) is not None


async def mark_transaction(store: Store, txn_id: str) -> None:
    async with store.session() as s:
        await s.merge(HandledTransaction(txn_id=txn_id))


async def claim_event(session: AsyncSession, event_id: str, room_id: str, event_type: str) -> bool:
    """Record the event in this unit of work; False if it was handled before.

    The caller's side effects (outbox rows) commit in the same transaction, so an
    event is either handled with its effects or not at all.
    """
    if await session.scalar(select(HandledEvent.event_id).where(HandledEvent.event_id == event_id)):
        return False
    session.add(HandledEvent(event_id=event_id, room_id=room_id, event_type=event_type))
    await session.flush()
    return True


async def prune(store: Store, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget ids older than the homeserver would ever retry (it retries within minutes,
    at most ~8.5 min apart); keeps the tables from growing with every event forever."""
    cutoff = utcnow() - older_than
    async with store.session() as s:
        events = await s.execute(delete(HandledEvent).where(HandledEvent.handled_at < cutoff))
        txns = await s.execute(delete(HandledTransaction)
                               .where(HandledTransaction.handled_at < cutoff))
        return (events.rowcount or 0) + (txns.rowcount or 0)
