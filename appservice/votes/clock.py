"""The votes' clock (a Worker): closes votes whose time is up, counts a closing vote whose poll
end never came back (the domain's grace), refreshes the live registration counts at most once a
second when told that a registration came in, and after a start or a homeserver outage reads
back the live polls' responses the homeserver never sent (appservice/votes/catchup.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from council import votes as domain
from council.models import utcnow
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

COUNT_INTERVAL = 1.0  # seconds between edits of a live count: 120 arriving at once give a few
UNECHOED_INTERVAL = 10.0  # seconds between looks for closing votes whose poll end was lost


class VoteClock(Worker):
    def __init__(self, store: Store, context: Callable[[], domain.Context], *,
                 catch_up: Callable[[], Awaitable[int]] | None = None,
                 on_closing: Callable[[int], None] = lambda _sitting_id: None,
                 on_queued: Callable[[], None] = lambda: None, idle: float = 1.0) -> None:
        super().__init__(idle)  # timers are looked at every `idle` s: one small query
        self.store = store
        self.context = context
        self.on_closing = on_closing  # a sitting's vote is closing: its live views
        self.on_queued = on_queued  # delivery
        self.catch_up = catch_up
        self._catch_up_due = catch_up is not None  # at the start: what a restart may have lost
        self._counts_due = True  # after a restart, bring any stale count up to date once
        self._counted_at = float("-inf")
        self._unechoed_at = float("-inf")
        self.closed_by_timer = 0

    def registered(self) -> None:
        """A registration came in: refresh the counts now, or at the next round if the last
        refresh was less than COUNT_INTERVAL ago (the idle round is that soon)."""
        self._counts_due = True
        if time.monotonic() - self._counted_at >= COUNT_INTERVAL:
            self.poke()

    def homeserver_back(self) -> None:
        """A restarted homeserver may have dropped what it was sending: read it back."""
        self._catch_up_due = self.catch_up is not None
        self.poke()

    async def round(self) -> bool:
        if self._catch_up_due and self.catch_up is not None:
            await self.catch_up()  # a failure keeps the flag: the Worker retries with backoff
            self._catch_up_due = False
            self._counts_due = True
        queued = await self._close_due() + await self._count_unechoed()
        if self._counts_due and time.monotonic() - self._counted_at >= COUNT_INTERVAL:
            self._counts_due = False  # cleared first: a registration during the refresh counts
            self._counted_at = time.monotonic()
            try:
                async with self.store.session() as s:
                    queued += await domain.refresh_counts(s, self.context())
            except BaseException:
                self._counts_due = True  # the Worker retries the round with backoff
                raise
        if queued:
            self.on_queued()
        return False  # the next round after `idle`, or when poked

    async def _close_due(self) -> int:
        async with self.store.session() as s:
            due = await domain.due_to_close(s, utcnow())
        closed = 0
        for vote_id in due:  # each in its own unit of work: one refusal does not hold others
            try:
                async with self.store.session() as s:
                    vote = await domain.request_close(s, self.context(), vote_id, "timer")
                    sitting_id = vote.sitting_id
            except domain.VoteError as exc:  # closed meanwhile by the chair or the last answer
                log.info("vote %s: not closed by the timer (%s)", vote_id, exc.code)
                continue
            closed += 1
            self.closed_by_timer += 1
            self.on_closing(sitting_id)
        return closed

    async def _count_unechoed(self) -> int:
        """Rare (an appservice outage lost the echo) and the grace is 30 s: looked at every 10 s."""
        if time.monotonic() - self._unechoed_at < UNECHOED_INTERVAL:
            return 0
        self._unechoed_at = time.monotonic()
        async with self.store.session() as s:
            done = await domain.finalise_overdue(s, self.context())
            sittings = set()
            for vote_id in done:
                vote = await s.get(domain.Vote, vote_id)
                if vote is not None:
                    sittings.add(vote.sitting_id)
        for sitting_id in sittings:
            self.on_closing(sitting_id)
        return len(done)
