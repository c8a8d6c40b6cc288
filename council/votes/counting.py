"""Responses as they arrive, the bot's own poll events coming back, and the count at the close."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox
from council import rooms as registry
from council.language import _
from council.models import OutboxMessage, utcnow
from council.sittings import AgendaItem, get_sitting, room
from council.sittings.agenda import sitting_heading
from council.votes import ballots, tally
from council.votes.common import WHY_NOT, lock_sitting, registered, reply
from council.votes.inputs import Context
from council.votes.operations import END_ECHO_GRACE, _poll_owner, end_key, poll_key
from council.votes.registration import register
from council.votes.tables import Conflict, Registration, RollCall, Vote, VoteResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseOutcome:
    kind: str  # registration | vote | unknown_poll
    status: str  # valid | outsider | late | malformed | unknown_answer | duplicate | ignored
    vote_id: int | None = None
    sitting_id: int | None = None
    close_now: bool = False  # every entitled member has answered: close the vote
    changed: bool = False  # a live count changed


async def record_response(session: AsyncSession, ctx: Context, *, room_id: str, event_id: str,
                          sender: str, event_type: str, content: dict[str, Any],
                          origin_ts: int) -> ResponseOutcome:
    """Store a poll response (database first) and say what it changed. A response that is not
    counted is answered in the poll's thread, saying why; one to a poll that is not ours (a
    deputy's own poll in the room) is left alone."""
    parsed = tally.parse_response(event_type, content)
    owner = await _poll_owner(session, parsed.poll_id) if parsed.poll_id else None
    if owner is None:
        return ResponseOutcome("unknown_poll", "ignored")
    if isinstance(owner, Registration):
        status, changed = await register(session, ctx, owner, event_id=event_id, sender=sender,
                                         answers=parsed.answers, origin_ts=origin_ts)
        return ResponseOutcome("registration", status, sitting_id=owner.sitting_id, changed=changed)
    vote = owner
    if await session.scalar(select(VoteResponse.id).where(VoteResponse.event_id == event_id)):
        return ResponseOutcome("vote", "duplicate", vote.id, vote.sitting_id)
    members = {m["mxid"]: m["id"] for m in vote.entitled}
    member = members.get(sender)
    status, answer = tally.judge(parsed.answers)
    if vote.status == "closed":
        status = "late"
    elif member is None:
        status = "outsider"
    session.add(VoteResponse(vote_id=vote.id, event_id=event_id, sender=sender, member_id=member,
                             answer=answer if status == "valid" else None, origin_ts=origin_ts,
                             status=status))
    await session.flush()
    if status != "valid":
        log.info("vote %d: response %s not counted (%s)", vote.id, event_id, status)
        await reply(session, vote.sitting_id, f"vote-reply:{event_id}",
                    _("{sender}: not counted — {why}", sender=sender, why=WHY_NOT[status].render()),
                    vote.poll_event_id)
        return ResponseOutcome("vote", status, vote.id, vote.sitting_id)
    return ResponseOutcome("vote", "valid", vote.id, vote.sitting_id,
                           close_now=vote.status == "open" and await _everyone_answered(session, vote),
                           changed=True)


async def _everyone_answered(session: AsyncSession, vote: Vote) -> bool:
    conflicted = set((await session.scalars(select(Conflict.member_id)
                                            .where(Conflict.item_id == vote.item_id))).all())
    expected = {m["id"] for m in vote.entitled} - conflicted
    answered = set((await session.scalars(select(VoteResponse.member_id).distinct().where(
        VoteResponse.vote_id == vote.id, VoteResponse.status == "valid"))).all())
    return bool(expected) and expected <= answered


def _marker(content: dict[str, Any]) -> dict[str, Any]:
    mark = content.get(ballots.VOTE_KEY)
    return mark if isinstance(mark, dict) else {}


async def poll_started(session: AsyncSession, *, content: dict[str, Any], event_id: str) -> None:
    """The bot's own poll came back from the homeserver: its event id is now known."""
    mark = _marker(content)
    owner: Vote | Registration | None = None
    if isinstance(mark.get("vote"), int):
        owner = await session.get(Vote, mark["vote"])
    elif isinstance(mark.get("registration"), int):
        owner = await session.get(Registration, mark["registration"])
    if owner is not None and owner.poll_event_id is None:
        owner.poll_event_id = event_id


async def poll_ended(session: AsyncSession, ctx: Context, *, content: dict[str, Any],
                     event_id: str) -> Vote | None:
    """The bot's own poll end came back: everything before it is in; count and publish."""
    ref = _marker(content).get("vote")
    vote = await session.get(Vote, ref) if isinstance(ref, int) else None
    if vote is None:
        return None
    await lock_sitting(session, vote.sitting_id)
    await session.refresh(vote)  # after the lock: counted meanwhile by the overdue fallback?
    if vote.status == "closed":
        return None
    await _finalise(session, ctx, vote, event_id)
    return vote


async def finalise_overdue(session: AsyncSession, ctx: Context, now: datetime | None = None
                           ) -> list[int]:
    """Votes whose poll end was sent long ago but never came back (it is lost to the
    appservice): counted from what arrived, so that none stays `closing` for ever."""
    limit = (now or utcnow()) - END_ECHO_GRACE
    votes = (await session.scalars(select(Vote).where(Vote.status == "closing"))).all()
    done = []
    for vote in votes:
        # The grace runs from the end's sending (not the close request: after an outage the
        # end goes out late, and the answers queued ahead of it come back after it).
        sent = await session.scalar(select(OutboxMessage.event_id).where(
            OutboxMessage.key == end_key(vote.id), OutboxMessage.status == "sent",
            OutboxMessage.sent_at <= limit))
        if not sent:
            continue
        await lock_sitting(session, vote.sitting_id)
        await session.refresh(vote)
        if vote.status == "closing":
            log.warning("vote %d: its poll end %s never came back; counting without it", vote.id, sent)
            await _finalise(session, ctx, vote, sent)
            done.append(vote.id)
    return done


async def _finalise(session: AsyncSession, ctx: Context, vote: Vote, end_event_id: str) -> None:
    rows = (await session.scalars(select(VoteResponse).where(
        VoteResponse.vote_id == vote.id, VoteResponse.status == "valid")
        .order_by(VoteResponse.id))).all()
    answers = tally.latest(tally.Counted(r.member_id or "", r.answer or "", r.event_id, r.origin_ts, r.id)
                           for r in rows)
    present = await registered(session, vote.sitting_id)
    conflicts = (await session.scalars(select(Conflict).where(Conflict.item_id == vote.item_id)
                                       .order_by(Conflict.id))).all()
    lines = tally.roll_call(vote.entitled, set(present), {c.member_id for c in conflicts}, answers)
    counts = tally.totals(lines)
    item = await session.get(AgendaItem, vote.item_id)
    assert item is not None
    vote.outcome = tally.outcome(counts, vote.threshold)
    vote.totals = counts
    vote.digest = tally.digest(vote.sitting_id, vote.number, item.number, vote.majority,
                               vote.threshold, lines)
    vote.status, vote.closed_at, vote.end_event_id = "closed", utcnow(), end_event_id
    vote.registered_at_close = present
    session.add_all(RollCall(vote_id=vote.id, member_id=x.member_id, name=x.name, faction=x.faction,
                             result=x.result, event_id=x.event_id) for x in lines)
    names = {m["id"]: m["name"] for m in vote.entitled}
    declared = [(names.get(c.member_id, c.member_id), c.text) for c in conflicts
                if c.member_id in names]
    link = f"{ctx.base_url.rstrip('/')}/sittings/{vote.sitting_id}#vote-{vote.number}" \
        if ctx.base_url else None
    await outbox.enqueue(session, f"vote:{vote.id}:result", room(vote.sitting_id), "m.room.message",
                         ballots.result_message(
                             vote.number, item.number, item.title, vote.majority, vote.threshold,
                             vote.total, vote.outcome, counts, lines, declared, vote.digest,
                             reply_to=f"{outbox.EVENT_REF}{poll_key(vote.id)}", link=link))
    sitting = await get_sitting(session, vote.sitting_id)
    heading = sitting_heading(sitting.kind, sitting.title, sitting.number)
    await outbox.enqueue(session, f"vote:{vote.id}:announce",
                         registry.placeholder(registry.announcements()), "m.room.message",
                         ballots.announcement(heading, vote.number, item.number, item.title,
                                              vote.outcome, counts, link))
    await session.flush()

