"""The transaction handler of votes: members' poll responses, and the bot's own poll start and
end coming back from the homeserver.

The bot's poll end is the close barrier: the homeserver sends events to the appservice in the
order it stored them, so when our own end arrives every response stored before it has been
handled (appservice/transactions.py lets own events of `own_event_types` through). Responses
the homeserver stored but never sent are read back from the poll's relations first
(catchup.py). Each event runs in the unit of work that claimed it; the live views are told only
after that commits, so they never re-read the state from before the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from mautrix.errors import MatrixRequestError
from mautrix.types import Event
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.homeserver import Homeserver
from appservice.votes.audit import poll_relations
from appservice.votes.catchup import live_polls
from council import inbox
from council import votes as domain
from council.store import Store
from council.votes.changes import Changes

log = logging.getLogger(__name__)

# Responses the domain answers in the poll's thread, saying why they were not counted.
REPLIED = frozenset({"outsider", "late", "malformed", "unknown_answer"})


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the unit of work has committed; never if it rolls back."""
    orm_event.listen(session.sync_session, "after_commit", lambda _s: callback(), once=True)


class VoteEvents:
    # Mautrix has no classes for poll events: they arrive as GenericEvent with an Obj content,
    # which serialises back to the raw dict the domain parses (either response form).
    event_types = domain.RESPONSE_TYPES
    own_event_types = frozenset({domain.POLL_START, domain.POLL_END})

    def __init__(self, hs: Homeserver, context: Callable[[], domain.Context], changes: Changes,
                 *, on_queued: Callable[[], None] = lambda: None,
                 on_registered: Callable[[], None] = lambda: None) -> None:
        self.hs = hs
        self.context = context
        self.changes = changes
        self.on_queued = on_queued  # delivery: a notice, a poll end or a result was queued
        self.on_registered = on_registered  # the clock: a live registration count may change
        self.caught_up = 0  # responses recorded from relations, not from the stream

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        raw: dict[str, Any] = event.serialize()
        content = raw.get("content")
        if not isinstance(content, dict):
            return
        kind, room_id, event_id = str(event.type), str(event.room_id), str(event.event_id)
        if kind == domain.POLL_START:
            if domain.VOTE_KEY in content:  # ours always carry it; anything else is no ballot
                await domain.poll_started(session, content=content, event_id=event_id)
        elif kind == domain.POLL_END:
            if domain.VOTE_KEY in content:
                await self._ended(session, room_id, event_id, content)
        elif kind in domain.RESPONSE_TYPES:
            ts = raw.get("origin_server_ts")
            await self.response(session, room_id=room_id, event_id=event_id,
                                sender=str(event.sender), kind=kind, content=content,
                                origin_ts=ts if isinstance(ts, int) else 0)

    async def _ended(self, session: AsyncSession, room_id: str, event_id: str,
                     content: dict[str, Any]) -> None:
        poll_id = (content.get("m.relates_to") or {}).get("event_id")
        ref = (content.get(domain.VOTE_KEY) or {}).get("vote")
        vote = await session.get(domain.Vote, ref) if isinstance(ref, int) else None
        if isinstance(poll_id, str) and vote is not None and vote.status != "closed":
            # What the homeserver stored before this end is counted, even if never sent to us.
            # A homeserver that cannot answer now must not hold the count back: a failed end
            # would be retried later, and answers after it would meanwhile count as on time.
            try:
                await self.catch_up(session, room_id, poll_id, until=event_id)
            except (MatrixRequestError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("vote %s: the poll's relations could not be read (%s); counting what "
                            "the stream delivered", ref, type(exc).__name__)
        ended = await domain.poll_ended(session, self.context(), content=content, event_id=event_id)
        if ended is not None:
            self._signal(session, ended.sitting_id)

    async def response(self, session: AsyncSession, *, room_id: str, event_id: str, sender: str,
                       kind: str, content: dict[str, Any], origin_ts: int) -> None:
        ctx = self.context()
        outcome = await domain.record_response(
            session, ctx, room_id=room_id, event_id=event_id, sender=sender, event_type=kind,
            content=content, origin_ts=origin_ts)
        if outcome.close_now and outcome.vote_id is not None:
            try:
                await domain.request_close(session, ctx, outcome.vote_id, "all_voted")
            except domain.VoteError as exc:  # closing already (the chair, the timer)
                log.info("vote %s: not closed on the last answer (%s)", outcome.vote_id, exc.code)
        if outcome.sitting_id is not None and (outcome.changed or outcome.close_now):
            self._signal(session, outcome.sitting_id)
        if outcome.kind == "registration" and outcome.changed:
            after_commit(session, self.on_registered)
        elif outcome.status in REPLIED:
            after_commit(session, self.on_queued)

    async def catch_up(self, session: AsyncSession, room_id: str, poll_id: str, *,
                       until: str | None = None) -> int:
        """Record the poll's responses that were never handled, oldest first, up to the bot's
        poll end (`until`, or the first found); the number recorded."""
        found = 0
        for e in await poll_relations(self.hs, room_id, poll_id):
            kind, sender, event_id = e.get("type"), str(e.get("sender")), e.get("event_id")
            if event_id == until or (kind == domain.POLL_END and self.hs.is_ours(sender)):
                break  # what follows the end is late, and arrives through the stream
            content, ts = e.get("content"), e.get("origin_server_ts")
            if kind not in domain.RESPONSE_TYPES or self.hs.is_ours(sender) \
                    or not isinstance(event_id, str) or not isinstance(content, dict):
                continue
            if not await inbox.claim_event(session, event_id, room_id, str(kind)):
                continue  # handled from the stream already
            await self.response(session, room_id=room_id, event_id=event_id, sender=sender,
                                kind=str(kind), content=content,
                                origin_ts=ts if isinstance(ts, int) else 0)
            found += 1
        if found:
            self.caught_up += found
            log.warning("poll %s: %d responses were stored by the homeserver but never sent to "
                        "the appservice; recorded from the poll's relations", poll_id, found)
        return found

    async def catch_up_all(self, store: Store) -> int:
        """Every live poll (after a start, when the homeserver is back); each in its own unit
        of work."""
        async with store.session() as s:
            polls = await live_polls(s)
        found = 0
        for room_id, poll_id in polls:
            async with store.session() as s:
                found += await self.catch_up(s, room_id, poll_id)
        return found

    def _signal(self, session: AsyncSession, sitting_id: int) -> None:
        def tell() -> None:
            self.changes.changed(sitting_id)
            self.on_queued()

        after_commit(session, tell)
