"""The one retry policy of the outbox, for every channel (Matrix messages, mail).

A row is `pending` until it is `sent`, or `failed` (parked): after a permanent error, or after
MAX_ATTEMPTS failed attempts (about a day of retries). Each attempt is recorded before the send
(`mark_attempt`, or `attempted` for a batch in one commit: a row with attempts > 0 may already
have gone out); a failed one waits 1 s, 2 s, 4 s … at most MAX_BACKOFF before the next. A row is
due when it is pending and its time has come; the time is compared in SQL, so many rows backing
off never hide a due one. Both back ends compare correctly: PostgreSQL has timestamptz, and
SQLite stores these columns as UTC text without an offset (we write only utcnow()), which sorts
as time does.

The functions take the channel's mapped class; it must have the columns `id`, `status`,
`attempts`, `next_attempt_at`, `last_error` and `sent_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, func, select, update

from council.models import utcnow
from council.store import Store

PENDING = "pending"
SENT = "sent"
PARKED = "failed"

# Matrix keeps order per room, so a message backing off holds its room: the wait stays short.
MAX_BACKOFF = timedelta(minutes=5)
MAX_ATTEMPTS = 300  # 1 s … 5 min, then every 5 min: about a day of failures, then parked

QueueModel = Any  # a mapped class with the columns above (OutboxMessage, MailJob)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s … MAX_BACKOFF."""
    return min(timedelta(seconds=2 ** min(max(attempts - 1, 0), 16)), MAX_BACKOFF)


def parked(attempts: int, *, permanent: bool) -> bool:
    return permanent or attempts >= MAX_ATTEMPTS


def is_due(model: QueueModel, now: datetime) -> ColumnElement[bool]:
    return and_(model.status == PENDING, model.next_attempt_at <= now)


def is_waiting(model: QueueModel, now: datetime) -> ColumnElement[bool]:
    """Pending, but not yet: backing off or deferred."""
    return and_(model.status == PENDING, model.next_attempt_at > now)


# The values of each transition: for the functions below, and for a channel that writes the
# transitions of many rows in one commit (council/outbox/matrix.py, `record`).

def sent_values(**values: Any) -> dict[str, Any]:
    return {"status": SENT, "sent_at": utcnow(), "last_error": None, **values}


def failed_values(attempts: int, error: str, *, permanent: bool) -> dict[str, Any]:
    """The `attempts`-th attempt failed: back off, or park the row."""
    return {"attempts": attempts, "last_error": error[:2000],
            "status": PARKED if parked(attempts, permanent=permanent) else PENDING,
            "next_attempt_at": utcnow() + backoff(attempts)}


def deferred_values(seconds: float) -> dict[str, Any]:
    return {"next_attempt_at": utcnow() + timedelta(seconds=seconds)}


def attempted(model: QueueModel, row_ids: Sequence[int]) -> Update:
    """Recorded before the send (of one row, or of a batch in one commit)."""
    return update(model).where(model.id.in_(list(row_ids))).values(attempts=model.attempts + 1)


async def mark_attempt(store: Store, model: QueueModel, row_id: int) -> None:
    async with store.session() as s:
        await s.execute(attempted(model, [row_id]))


async def mark_sent(store: Store, model: QueueModel, row_id: int, **values: Any) -> None:
    async with store.session() as s:
        await s.execute(update(model).where(model.id == row_id).values(**sent_values(**values)))


async def mark_failed(store: Store, model: QueueModel, row_id: int, attempts: int, error: str,
                      *, permanent: bool) -> None:
    """The `attempts`-th attempt failed: back off, or park the row. Only this row. The count is
    stored too, for a failure before `mark_attempt` (a file that is missing) counts as well."""
    async with store.session() as s:
        await s.execute(update(model).where(model.id == row_id).values(
            **failed_values(attempts, error, permanent=permanent)))


async def defer(store: Store, model: QueueModel, row_id: int, seconds: float) -> None:
    """Later, but not an attempt: the row waits for something else (or for the channel)."""
    async with store.session() as s:
        await s.execute(update(model).where(model.id == row_id).values(**deferred_values(seconds)))


async def counts(store: Store, model: QueueModel) -> dict[str, int]:
    async with store.session() as s:
        rows = await s.execute(select(model.status, func.count()).group_by(model.status))
        return dict(rows.all())
