"""The one shape of an outbox channel's sender, a Worker: a round takes the due rows and sends
each; whatever goes wrong with one row marks that row only (backoff or park, by the policy) and
the round goes on with the others. The wake flag is the Worker's: a poke during a round (a commit
that wrote a row) starts the next round at once.

The channels (appservice/delivery.py, bridges/mail.py) say how to fetch, send and fail a row;
they may send in another order (Matrix: rooms in parallel, in order within a room) and record
a round's marks together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from council.types import aware, utcnow
from council.worker import Worker

R = TypeVar("R")  # a channel's row as `due` gives it; it has an `id` and a `created_at`


class Sender(Worker, Generic[R]):
    log = logging.getLogger(__name__)
    row_name = "outbox row"  # in log lines: "<row_name> <id> not sent (<error class>)"
    log_traceback = True  # False where the error text could hold personal data (mail)
    # Told the seconds from a row's enqueueing to its delivery, for each row that went out (the
    # installation's metrics, kabinet/metrics.py); None: nobody is told.
    on_delivered: Callable[[float], None] | None = None

    async def due(self) -> Sequence[R]:
        """The rows to send now (empty when the channel is not configured)."""
        raise NotImplementedError

    async def send(self, row: R) -> bool:
        """Send one row and mark it (sent, backing off, parked, deferred), or note the mark for
        a commit of many rows (Matrix: one per room and round); True if it went out. An
        exception is treated as this row's failure."""
        raise NotImplementedError

    async def failed(self, row: R, exc: Exception) -> None:
        """Mark the row failed (not permanently) after `send` raised `exc`."""
        raise NotImplementedError

    async def round(self) -> bool:
        rows = await self.due()
        await self.send_all(rows)
        return bool(rows)

    async def send_all(self, rows: Sequence[R]) -> None:
        for row in rows:
            await self.send_one(row)

    async def send_one(self, row: R) -> bool:
        try:
            sent = await self.send(row)
        except Exception as exc:  # a bug or library error on this row is this row's problem
            self.log.warning("%s %s not sent (%s); will retry", self.row_name, getattr(row, "id", "?"),
                             type(exc).__name__, exc_info=self.log_traceback)
            await self.failed(row, exc)
            return False
        created = getattr(row, "created_at", None)
        if sent and self.on_delivered is not None and created is not None:
            self.on_delivered(max((utcnow() - aware(created)).total_seconds(), 0.0))
        return sent
