"""Roll-call votes: open, declare a conflict, answer, close, count.

A vote is `open` → `closing` (the poll's end is queued) → `closed`. The count is taken when the
bot's own poll end comes back from the homeserver (`poll_ended`): the homeserver sends events
to the appservice in the order it stored them, so the responses counted are exactly those the
room's timeline holds before the end — what `votes audit` recounts and what Element shows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox
from council.language import Text
from council.models import OutboxMessage, utcnow
from council.sittings import AgendaItem, get_sitting, room
from council.sittings.publishing import _file_key
from council.votes import ballots, tally
from council.votes.common import check_for_member, entitled, lock_sitting, registered, sitting_for_runner
from council.votes.inputs import (
    Actor,
    Context,
    NewConflict,
    OpenVote,
    VoteError,
)
from council.votes.tables import Conflict, Registration, Vote

log = logging.getLogger(__name__)

# A poll end that was sent but never came back (an appservice outage that lost it) is counted
# without the barrier after this long, so that no vote stays "closing" for ever.
END_ECHO_GRACE = timedelta(seconds=30)


def poll_key(vote_id: int) -> str:
    """The outbox key of a vote's poll."""
    return f"vote:{vote_id}:poll"


def end_key(vote_id: int) -> str:
    return f"vote:{vote_id}:end"


async def _item(session: AsyncSession, sitting_id: int, number: str) -> AgendaItem:
    item = await session.scalar(select(AgendaItem).where(AgendaItem.sitting_id == sitting_id,
                                                         AgendaItem.number == number))
    if item is None:
        raise VoteError("KB_UNKNOWN_ITEM", Text("there is no item {number} on the agenda",
                                                number=number), "item")
    if item.status != "active":
        raise VoteError("KB_ITEM_WITHDRAWN", Text("item {number} has been withdrawn",
                                                  number=number), "item")
    return item


async def current_vote(session: AsyncSession, sitting_id: int) -> Vote | None:
    return await session.scalar(select(Vote).where(Vote.sitting_id == sitting_id,
                                                   Vote.status.in_(("open", "closing"))))


async def open_vote(session: AsyncSession, ctx: Context, sitting_id: int, actor: Actor,
                    spec: OpenVote) -> Vote:
    sitting = await sitting_for_runner(session, ctx, sitting_id, actor)  # one vote at a time
    item = await _item(session, sitting_id, spec.item)
    busy = await current_vote(session, sitting_id)
    if busy is not None:
        raise VoteError("KB_VOTE_OPEN", Text("vote {number} is still open: close it first "
                                             "(!close)", number=busy.number))
    present = await registered(session, sitting_id)
    quorum = ctx.roster.quorum(sitting.kind, sitting.body)
    if len(present) < quorum:
        raise VoteError("KB_NO_QUORUM", Text("no quorum: {registered} registered, {quorum} "
                                             "needed (!registration)",
                                             registered=len(present), quorum=quorum))
    majority = spec.majority or "total"
    total = ctx.roster.total_composition(sitting.kind, sitting.body)
    needed = tally.threshold(majority, total, len(present))
    number = (await session.scalar(select(func.max(Vote.number))
                                   .where(Vote.sitting_id == sitting_id)) or 0) + 1
    now = utcnow()
    vote = Vote(sitting_id=sitting_id, item_id=item.id, number=number, status="open",
                majority=majority, threshold=needed, total=total, opened_at=now,
                opened_by=actor.label, entitled=entitled(ctx, sitting), registered_at_open=present,
                closes_at=now + timedelta(seconds=spec.duration) if spec.duration else None)
    session.add(vote)
    await session.flush()
    # A reply to the draft's message once it is in the room; a poll waiting on a draft that
    # never got there would hold the room's queue, and the vote with it.
    draft = item.room_event_id or await session.scalar(select(OutboxMessage.event_id).where(
        OutboxMessage.key == _file_key(item.id, 1, "sitting"), OutboxMessage.status == "sent"))
    await outbox.enqueue(session, poll_key(vote.id), room(sitting_id), ballots.POLL_START,
                         ballots.vote_poll(vote.id, number, item.number, item.title, majority,
                                           needed, total, draft))
    return vote


async def declare_conflict(session: AsyncSession, ctx: Context, sitting_id: int, actor: Actor,
                           spec: NewConflict) -> Conflict:
    """A member for themselves, or the secretariat for them; the latest text stands."""
    sitting = await get_sitting(session, sitting_id)
    item = await _item(session, sitting_id, spec.item)
    check_for_member(ctx, sitting, actor, spec.member,
                     Text("only the secretariat can declare a conflict for another member"))
    # A vote already closed keeps its published roll-call; a later vote on the item counts it.
    row = await session.scalar(select(Conflict).where(Conflict.item_id == item.id,
                                                      Conflict.member_id == spec.member))
    if row is None:
        row = Conflict(item_id=item.id, member_id=spec.member)
        session.add(row)
    row.text, row.declared_by, row.declared_at = spec.text, actor.label, utcnow()
    await session.flush()
    return row


async def request_close(session: AsyncSession, ctx: Context, vote_id: int, reason: str,
                        actor: Actor | None = None) -> Vote:
    vote = await session.get(Vote, vote_id)
    if vote is None:
        raise VoteError("KB_UNKNOWN_VOTE", Text("no such vote"))
    if actor is not None:
        await sitting_for_runner(session, ctx, vote.sitting_id, actor)
    else:
        await lock_sitting(session, vote.sitting_id)
    await session.refresh(vote)  # after the lock: what another command committed meanwhile
    if vote.status != "open":
        raise VoteError("KB_VOTE_CLOSED", Text("vote {number} is already closing",
                                               number=vote.number))
    vote.status, vote.close_requested_at, vote.close_reason = "closing", utcnow(), reason
    await outbox.enqueue(session, end_key(vote.id), room(vote.sitting_id), ballots.POLL_END,
                         ballots.poll_end(vote.id, f"{outbox.EVENT_REF}{poll_key(vote.id)}"))
    return vote


async def close_current(session: AsyncSession, ctx: Context, sitting_id: int, actor: Actor) -> Vote:
    await sitting_for_runner(session, ctx, sitting_id, actor)
    vote = await current_vote(session, sitting_id)  # a closing one: "already closing"
    if vote is None:
        raise VoteError("KB_NO_VOTE", Text("no vote is open now"))
    return await request_close(session, ctx, vote.id, "command")


async def due_to_close(session: AsyncSession, now: datetime | None = None) -> list[int]:
    return list((await session.scalars(select(Vote.id).where(
        Vote.status == "open", Vote.closes_at.is_not(None), Vote.closes_at <= (now or utcnow()))
    )).all())


async def _poll_owner(session: AsyncSession, poll_id: str) -> Vote | Registration | None:
    """The vote or registration a poll event belongs to. The poll's id is learnt from its own
    event coming back, or from delivery's record if a response beats that."""
    vote = await session.scalar(select(Vote).where(Vote.poll_event_id == poll_id))
    if vote is not None:
        return vote
    reg = await session.scalar(select(Registration).where(Registration.poll_event_id == poll_id))
    if reg is not None:
        return reg
    key = await session.scalar(select(OutboxMessage.key).where(OutboxMessage.event_id == poll_id))
    if key and key.startswith(("vote:", "registration:")) and key.endswith(":poll"):
        kind, ref, _ = key.split(":")
        owner: Vote | Registration | None = await session.get(
            Vote if kind == "vote" else Registration, int(ref))
        if owner is not None and owner.poll_event_id is None:
            owner.poll_event_id = poll_id
        return owner
    return None
