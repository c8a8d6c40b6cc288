"""Responses the homeserver stored but never delivered to the appservice, read back from the
poll's relations, so that a count never depends on the transaction stream alone.

Synapse (1.163) does not always deliver what it stored: a transaction it had created but not
yet sent when it stopped stays in its table, and after a restart it is retried only once the
appservice has next failed to answer (recovery runs only for services marked down); events
still in its in-memory queue are lost outright. tests/test_votes_matrix.py met it: a response
sent just before a restart never arrived. So when a
vote's poll end comes back, the poll's relations up to that end are read and any response not
handled yet is recorded before the count; the clock does the same for every live poll after a
start and when the homeserver is back. Each event is claimed in the inbox
(council/inbox.claim_event), so the stream and the catch-up handle it once between them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import votes as domain
from council.models import ManagedRoom, OutboxMessage, utcnow

REGISTRATION_DAYS = 2  # as far back as the live counts go (council.votes.refresh_counts)


async def live_polls(session: AsyncSession) -> list[tuple[str, str]]:
    """(room id, poll event id) of every vote not counted yet and every recent registration."""
    rooms = dict((await session.execute(select(ManagedRoom.ref, ManagedRoom.room_id)
                                        .where(ManagedRoom.kind == "sitting"))).all())
    votes = (await session.scalars(select(domain.Vote).where(
        domain.Vote.status.in_(("open", "closing"))))).all()
    since = utcnow() - timedelta(days=REGISTRATION_DAYS)
    regs = (await session.scalars(select(domain.Registration)
                                  .where(domain.Registration.opened_at >= since))).all()
    owners: list[tuple[domain.Vote | domain.Registration, str]] = [
        *((v, domain.vote_poll_key(v.id)) for v in votes),
        *((r, domain.registration_poll_key(r.id)) for r in regs)]
    found: list[tuple[str, str]] = []
    for owner, key in owners:
        # The poll's id is learnt from its echo; if that was lost too, from delivery's record.
        poll_id = owner.poll_event_id or await session.scalar(
            select(OutboxMessage.event_id).where(OutboxMessage.key == key))
        room_id = rooms.get(str(owner.sitting_id))
        if poll_id and room_id:
            found.append((room_id, poll_id))
    return found
