"""Registration at a sitting: the "Присутній" ballot, its live count, absences notified ahead.

A member is registered from their first answer to any of the sitting's registration ballots;
re-opening registration posts a new ballot and latecomers count from their answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox
from council.language import Text, _
from council.models import utcnow
from council.sittings import get_sitting, room
from council.sittings.agenda import sitting_heading
from council.votes import ballots
from council.votes.common import (
    WHY_NOT,
    check_for_member,
    entitled,
    registered,
    reply,
    sitting_for_runner,
)
from council.votes.inputs import PRESENT, Actor, Context, NewAbsence
from council.votes.tables import Absence, Attendance, Registration
from council.votes.tally import judge


def poll_key(registration_id: int) -> str:
    """The outbox key of a registration ballot."""
    return f"registration:{registration_id}:poll"


def _count_key(registration_id: int) -> str:
    return f"registration:{registration_id}:count"


async def open_registration(session: AsyncSession, ctx: Context, sitting_id: int,
                            actor: Actor) -> Registration:
    sitting = await sitting_for_runner(session, ctx, sitting_id, actor)  # one round at a time
    last = await session.scalar(select(func.max(Registration.round))
                                .where(Registration.sitting_id == sitting_id))
    members = entitled(ctx, sitting)
    reg = Registration(sitting_id=sitting_id, round=(last or 0) + 1, opened_by=actor.label,
                       entitled=members, total=ctx.roster.total_composition(sitting.kind, sitting.body),
                       quorum=ctx.roster.quorum(sitting.kind, sitting.body))
    session.add(reg)
    await session.flush()
    count = len(await registered(session, sitting_id))
    heading = sitting_heading(sitting.kind, sitting.title, sitting.number)
    await outbox.enqueue(session, poll_key(reg.id), room(sitting_id), ballots.POLL_START,
                         ballots.registration_poll(reg.id, heading, reg.round))
    await outbox.enqueue(session, _count_key(reg.id), room(sitting_id), "m.room.message",
                         ballots.count_message(count, reg.total, reg.quorum))
    reg.shown = count
    return reg


async def notify_absence(session: AsyncSession, ctx: Context, sitting_id: int, actor: Actor,
                         spec: NewAbsence) -> Absence:
    """A member for themselves; the secretariat or the chair for anyone entitled."""
    sitting = await get_sitting(session, sitting_id)
    check_for_member(ctx, sitting, actor, spec.member,
                     Text("only the secretariat can notify another member's absence"))
    row = await session.scalar(select(Absence).where(Absence.sitting_id == sitting_id,
                                                     Absence.member_id == spec.member))
    if row is None:
        row = Absence(sitting_id=sitting_id, member_id=spec.member)
        session.add(row)
    row.reason, row.declared_by, row.declared_at = spec.reason, actor.label, utcnow()
    await session.flush()
    return row


async def register(session: AsyncSession, ctx: Context, reg: Registration, *, event_id: str,
                   sender: str, answers: list[str] | None, origin_ts: int) -> tuple[str, bool]:
    """An answer to a registration ballot: (status, whether the count changed)."""
    snapshot = {m["mxid"]: m["id"] for m in reg.entitled}
    member = snapshot.get(sender)
    status, _ = judge(answers, (PRESENT,))
    if member is None:
        status = "outsider"
    if status != "valid":
        await reply(session, reg.sitting_id, f"registration-reply:{event_id}", _refusal(status, sender),
                    reg.poll_event_id)
        return status, False
    if await session.scalar(select(Attendance.id).where(Attendance.sitting_id == reg.sitting_id,
                                                        Attendance.member_id == member)):
        return "valid", False
    session.add(Attendance(sitting_id=reg.sitting_id, member_id=member, registration_id=reg.id,
                           event_id=event_id, registered_at=_moment(origin_ts)))
    await session.flush()
    return "valid", True


def _moment(origin_ts: int) -> datetime:
    return datetime.fromtimestamp(origin_ts / 1000, UTC)


def _refusal(status: str, sender: str) -> str:
    return _("{sender}: not registered — {why}", sender=sender, why=WHY_NOT[status].render())


async def refresh_counts(session: AsyncSession, ctx: Context) -> int:
    """Queue an edit of each live registration count that changed (the latest ballot of each
    sitting, opened within two days); the number queued. Called at most once a second, so a
    hall of 120 registering at once gives a handful of edits, not 120."""
    since = utcnow() - timedelta(days=2)
    latest = (select(func.max(Registration.id)).where(Registration.opened_at >= since)
              .group_by(Registration.sitting_id))
    regs = (await session.scalars(select(Registration).where(Registration.id.in_(latest)))).all()
    queued = 0
    for reg in regs:
        count = await session.scalar(select(func.count(Attendance.id))
                                     .where(Attendance.sitting_id == reg.sitting_id)) or 0
        if count == reg.shown:
            continue
        original = f"{outbox.EVENT_REF}{_count_key(reg.id)}"
        await outbox.enqueue(session, f"{_count_key(reg.id)}:{count}", room(reg.sitting_id),
                             "m.room.message", ballots.count_edit(original, count, reg.total, reg.quorum))
        reg.shown = count
        queued += 1
    return queued

