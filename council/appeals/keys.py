"""Idempotency keys: the appeal a key registered, remembering a key, pruning old ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    delete,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from council.appeals import texts
from council.appeals.tables import (
    Appeal,
    IntakeKey,
)
from council.appeals.values import (
    KEY_RETENTION,
    Idempotency,
    KeyReused,
    hash_token,
)
from council.models import utcnow
from council.store import affected


async def by_key(session: AsyncSession, once: Idempotency) -> Appeal | None:
    """The appeal this key registered, or None; KeyReused if it was for another request.
    Run it in a read-only unit of work of its own (see next_number on SQLite snapshots)."""
    return await session.run_sync(key_lookup, once)


def key_lookup(session: Session, once: Idempotency) -> Appeal | None:
    """`by_key`, synchronous: for the intake's batch (council/appeals/intake.py)."""
    row = session.get(IntakeKey, once.key_hash)
    if row is None:
        return None
    appeal = session.get(Appeal, row.appeal_id)
    if row.request_hash != once.request_hash or appeal is None \
            or appeal.token_hash != hash_token(once.token):
        raise KeyReused("KB_IDEMPOTENCY_KEY_REUSED", texts.KEY_REUSED)
    return appeal


async def remember_key(session: AsyncSession, once: Idempotency, appeal_id: int) -> None:
    """In the registering transaction: a concurrent twin fails here on the primary key."""
    session.add(IntakeKey(key_hash=once.key_hash, request_hash=once.request_hash,
                          appeal_id=appeal_id))
    await session.flush()


async def prune_keys(session: AsyncSession, older_than: timedelta = KEY_RETENTION) -> int:
    result = await session.execute(delete(IntakeKey).where(IntakeKey.created_at < utcnow() - older_than))
    return affected(result)
