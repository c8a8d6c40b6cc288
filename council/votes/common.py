"""What the votes operations share: who may act, who is entitled, who is registered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox
from council.language import Text
from council.sittings import get_sitting, room
from council.sittings.agenda import notice
from council.sittings.tables import Sitting
from council.votes.inputs import Actor, Context, VoteError
from council.votes.tables import Attendance

NOT_CHAIR = Text("only the chair of the sitting or the secretariat can do this")
# Why a poll response was not counted (answered in the poll's thread).
WHY_NOT = {
    "outsider": Text("you are not a member of this body"),
    "late": Text("the vote had already closed"),
    "malformed": Text("the answer could not be read"),
    "unknown_answer": Text("there is no such answer"),
}


def entitled(ctx: Context, sitting: Sitting) -> list[dict[str, Any]]:
    """Who may vote at this sitting, as the roster says now (kept as a snapshot)."""
    out = []
    for member_id in ctx.roster.voters(sitting.kind, sitting.body):
        person = ctx.roster.person(member_id)
        if person is not None:
            out.append({"id": member_id, "name": person.name, "mxid": person.mxid(ctx.server_name),
                        "faction": ctx.roster.faction_of(member_id)})
    return out


def member_of(ctx: Context, mxid: str) -> str | None:
    person = ctx.roster.people_by_mxid(ctx.server_name).get(mxid)
    return person.id if person else None


def is_member(ctx: Context, sitting: Sitting, mxid: str) -> bool:
    """Entitled to vote at the sitting, as the roster says now."""
    me = member_of(ctx, mxid)
    return me is not None and me in ctx.roster.voters(sitting.kind, sitting.body)


def is_staff(ctx: Context, actor: Actor) -> bool:
    return actor.mxid is None or actor.mxid in ctx.roster.secretariat_mxids(ctx.server_name)


def may_run(ctx: Context, sitting: Sitting, actor: Actor) -> bool:
    """The chair of the sitting (head, council's secretary, commission chair) or the secretariat;
    `cli` and `api` actors are the secretariat's own tools."""
    if is_staff(ctx, actor):
        return True
    me = member_of(ctx, actor.mxid or "")
    return me is not None and me in ctx.roster.chairs(sitting.kind, sitting.body)


async def lock_sitting(session: AsyncSession, sitting_id: int) -> None:
    """A write to the sitting's row first (it changes nothing): the row lock on PostgreSQL, the
    database's write lock on SQLite (where a read takes none). Two commands on one sitting —
    two `!vote` at once, the timer and the last answer — then run one after the other, and the
    second reads what the first committed."""
    await session.execute(update(Sitting).where(Sitting.id == sitting_id).values(id=Sitting.id))


async def sitting_for_runner(session: AsyncSession, ctx: Context, sitting_id: int,
                             actor: Actor) -> Sitting:
    """The sitting, locked, if the actor may run it (the check comes before the lock)."""
    sitting = await get_sitting(session, sitting_id)
    if not may_run(ctx, sitting, actor):
        raise VoteError("KB_NOT_CHAIR", NOT_CHAIR)
    await lock_sitting(session, sitting_id)
    return sitting


async def registered(session: AsyncSession, sitting_id: int) -> list[str]:
    return list((await session.scalars(
        select(Attendance.member_id).where(Attendance.sitting_id == sitting_id)
        .order_by(Attendance.id))).all())


async def reply(session: AsyncSession, sitting_id: int, key: str, text: str,
                thread_root: str | None) -> None:
    """A notice in the sitting room, in the poll's thread: says why an answer was not counted."""
    await outbox.enqueue(session, key, room(sitting_id), "m.room.message",
                         notice(text, thread_root=thread_root))


def check_for_member(ctx: Context, sitting: Sitting, actor: Actor, member: str,
                     refusal: Text) -> None:
    """`member` must be entitled at the sitting; only the secretariat acts for someone else (a
    chair must not be able to void an opponent's answer by declaring a conflict for them)."""
    if member not in ctx.roster.voters(sitting.kind, sitting.body):
        raise VoteError("KB_NOT_A_MEMBER", Text("{member} is not a member of this body",
                                                member=member), "member")
    own = actor.mxid is not None and member_of(ctx, actor.mxid) == member
    if not own and not is_staff(ctx, actor):
        raise VoteError("KB_NOT_CHAIR", refusal)
