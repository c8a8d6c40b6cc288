"""What operators measure (docs/metrics.md), without knowing how it is exported.

- `Metrics`: what the edges report as it happens (a homeserver transaction answered, an event
  whose handler failed, an outbox row delivered). The installation hands one in
  (kabinet/metrics.py: Prometheus); `NO_METRICS` reports nothing.
- `snapshot`: the figures that live in the store, read when they are asked for: each outbox
  channel's depth and oldest pending row, appeals by status, votes still open. One aggregate
  query per table, filtered on an indexed status column where the table grows without bound
  (sent outbox rows and mail are kept), so a scrape costs the same on a council's tenth year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from council.appeals.tables import Appeal
from council.appeals.values import STATUSES as APPEAL_STATUSES
from council.models import OutboxMessage, aware
from council.outbox import policy
from council.outbox.mail import MailJob
from council.store import Store
from council.votes.tables import Vote

# A homeserver transaction's outcome: answered 200; refused (a wrong or missing hs_token, a
# body that is not a transaction: 4xx); failed (not handled, 500: the homeserver sends it again).
TRANSACTION_OUTCOMES = ("handled", "refused", "failed")
# The outbox's channels (council/outbox/), by the name operators see.
CHANNELS: dict[str, Any] = {"matrix": OutboxMessage, "mail": MailJob}
VOTE_PHASES = ("open", "closing")  # a closed vote is history, not a gauge


class Metrics(Protocol):
    def transaction(self, outcome: str) -> None:
        """A homeserver transaction was answered; `outcome` is one of TRANSACTION_OUTCOMES."""

    def event_failed(self) -> None:
        """An event's handler failed (it is recorded and retried; each failed attempt counts)."""

    def delivered(self, channel: str, seconds: float) -> None:
        """An outbox row of `channel` went out, `seconds` after it was enqueued."""


class NoMetrics:
    def transaction(self, outcome: str) -> None:
        del outcome

    def event_failed(self) -> None:
        pass

    def delivered(self, channel: str, seconds: float) -> None:
        del channel, seconds


NO_METRICS: Metrics = NoMetrics()


@dataclass(frozen=True)
class Queue:
    pending: int
    parked: int
    oldest_pending: datetime | None  # when the oldest pending row was enqueued


@dataclass(frozen=True)
class Snapshot:
    queues: dict[str, Queue]  # by channel
    appeals: dict[str, int]  # by status, every status (0 when none)
    votes: dict[str, int]  # by phase (VOTE_PHASES), 0 when none


async def _queue(session: AsyncSession, model: Any) -> Queue:
    rows = (await session.execute(
        select(model.status, func.count(), func.min(model.created_at))
        .where(model.status.in_((policy.PENDING, policy.PARKED))).group_by(model.status))).all()
    found = {status: (count, oldest) for status, count, oldest in rows}
    pending, oldest = found.get(policy.PENDING, (0, None))
    return Queue(pending, found.get(policy.PARKED, (0, None))[0],
                 aware(oldest) if oldest is not None else None)


async def snapshot(store: Store) -> Snapshot:
    async with store.session() as s:
        queues = {channel: await _queue(s, model) for channel, model in CHANNELS.items()}
        appeals = dict((await s.execute(
            select(Appeal.status, func.count()).group_by(Appeal.status))).all())
        votes = dict((await s.execute(
            select(Vote.status, func.count()).where(Vote.status.in_(VOTE_PHASES))
            .group_by(Vote.status))).all())
    return Snapshot(queues, {status: appeals.get(status, 0) for status in APPEAL_STATUSES},
                    {phase: votes.get(phase, 0) for phase in VOTE_PHASES})
