"""What needs me: my open appeals (overdue first), the coming sittings I take part in with their
drafts (what changed since my last visit marked), my roll-call answers, my commissions.

A deputy sees the appeals addressed to them or routed to them (or offered to them as a
district's deputy and not yet taken); the head and the secretariat see the council's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from council import accounts
from council import rooms as room_keys
from council.accounts import Identity
from council.appeals.tables import Appeal
from council.appeals.values import OPEN
from council.models import ManagedRoom
from council.sittings.queries import local_day, member_ids
from council.sittings.tables import AgendaItem, DraftVersion, Sitting
from council.types import utcnow
from council.votes.inputs import Context
from council.votes.queries import RecordLine
from council.votes.tables import Attendance, RollCall, Vote

DUE_SOON = 3  # days: an appeal this close to its deadline is marked
RECENT_VOTES = 20
PAST_SITTINGS = timedelta(hours=12)
VISIT_RESOLUTION = timedelta(minutes=1)  # a sitting that began this morning is still "coming"


@dataclass(frozen=True)
class AppealLine:
    id: int
    number: str
    subject: str
    status: str
    deadline: date
    days_left: int  # negative: overdue by that many days
    responsible: str | None  # the deputy's name
    room_id: str | None

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class DraftLine:
    item_id: int
    number: str
    title: str
    version: int
    published_at: datetime
    new: bool  # published since the last visit


@dataclass(frozen=True)
class SittingLine:
    id: int
    title: str
    kind: str
    starts_at: datetime
    place: str
    room_id: str | None
    drafts: list[DraftLine]
    registered: bool


@dataclass(frozen=True)
class CabinetView:
    me: Identity
    appeals: list[AppealLine]
    sittings: list[SittingLine]
    votes: list[RecordLine]
    commissions: list[str]
    last_visit: datetime | None

    @property
    def new_drafts(self) -> int:
        return sum(d.new for s in self.sittings for d in s.drafts)


async def _rooms(session: AsyncSession, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = await session.execute(select(ManagedRoom.key, ManagedRoom.room_id)
                                 .where(ManagedRoom.key.in_(keys)))
    return {key: room_id for key, room_id in rows}


async def _appeals(session: AsyncSession, ctx: Context, me: Identity, today: date
                   ) -> list[AppealLine]:
    query = select(Appeal).where(Appeal.status.in_(OPEN)).order_by(Appeal.deadline, Appeal.id)
    if not me.sees_council:
        query = query.where(or_(Appeal.responsible == me.person_id,
                                Appeal.addressee_deputy == me.person_id,
                                Appeal.responsible.is_(None)))
    rows = list(await session.scalars(query))
    if not me.sees_council:  # offered to the district's deputies: until one of them takes it
        rows = [a for a in rows if a.responsible == me.person_id or (
            a.responsible is None and (a.addressee_deputy == me.person_id
                                       or me.person_id in (a.candidates or [])))]
    rooms = await _rooms(session, [room_keys.appeal(a.id) for a in rows])
    names = {p.id: p.name for p in ctx.roster.deputies}
    return [AppealLine(a.id, a.number, a.subject, a.status, a.deadline,
                       (a.deadline - today).days, names.get(a.responsible or ""),
                       rooms.get(room_keys.appeal(a.id))) for a in rows]


async def _sittings(session: AsyncSession, ctx: Context, me: Identity, seen: datetime | None
                    ) -> list[SittingLine]:
    coming = list(await session.scalars(select(Sitting).where(
        Sitting.starts_at >= utcnow() - PAST_SITTINGS).order_by(Sitting.starts_at)))
    mine = [s for s in coming
            if me.sees_council or me.person_id in member_ids(ctx.roster, s.kind, s.body)]
    if not mine:
        return []
    ids = [s.id for s in mine]
    latest: dict[int, DraftVersion] = {}
    for v in await session.scalars(
            select(DraftVersion).join(AgendaItem, AgendaItem.id == DraftVersion.item_id)
            .where(AgendaItem.sitting_id.in_(ids), AgendaItem.status == "active")
            .order_by(DraftVersion.version)):
        latest[v.item_id] = v
    items = list(await session.scalars(select(AgendaItem).where(
        AgendaItem.sitting_id.in_(ids), AgendaItem.status == "active")
        .order_by(AgendaItem.position, AgendaItem.id)))
    registered = set(await session.scalars(select(Attendance.sitting_id).where(
        Attendance.sitting_id.in_(ids), Attendance.member_id == me.person_id)))
    rooms = await _rooms(session, [room_keys.sitting(i) for i in ids])
    drafts: dict[int, list[DraftLine]] = {i: [] for i in ids}
    for item in items:
        if (last := latest.get(item.id)) is not None:
            drafts[item.sitting_id].append(DraftLine(
                item.id, item.number, item.title, last.version, last.published_at,
                seen is None or last.published_at > seen))
    return [SittingLine(s.id, s.title, s.kind, s.starts_at, s.place,
                        rooms.get(room_keys.sitting(s.id)), drafts[s.id], s.id in registered)
            for s in mine]


async def _votes(session: AsyncSession, ctx: Context, me: Identity) -> list[RecordLine]:
    """My latest roll-call answers (the record page has them all, and attendance)."""
    rows = (await session.execute(
        select(RollCall.result, Vote.number, Vote.sitting_id, AgendaItem.number, AgendaItem.title,
               Sitting.title, Sitting.starts_at)
        .join(Vote, Vote.id == RollCall.vote_id).join(AgendaItem, AgendaItem.id == Vote.item_id)
        .join(Sitting, Sitting.id == Vote.sitting_id).where(RollCall.member_id == me.person_id)
        .order_by(Sitting.starts_at.desc(), Vote.number.desc()).limit(RECENT_VOTES))).all()
    return [RecordLine(sid, stitle, local_day(starts, ctx.tz), num, inum, ititle, result)
            for result, num, sid, inum, ititle, stitle, starts in rows]


async def cabinet(session: AsyncSession, ctx: Context, me: Identity, *, visit: bool = True
                  ) -> CabinetView:
    """The cabinet as of now; with `visit`, now becomes the last visit (marks clear next time)."""
    seen = await accounts.last_visit(session, me.mxid)
    today = local_day(utcnow(), ctx.tz)
    votes = await _votes(session, ctx, me) if me.role in accounts.MEMBERS else []
    commissions = [c.name for c in ctx.roster.commissions
                   if me.person_id in ctx.roster.commission_members(c.id)]
    view = CabinetView(me, await _appeals(session, ctx, me, today),
                       await _sittings(session, ctx, me, seen), votes, commissions, seen)
    # A visit is written when it changes what the next one shows (something was marked new), or
    # a minute after the last: a busy page (reloads, several tabs) adds no write per request.
    if visit and (view.new_drafts or seen is None or seen < utcnow() - VISIT_RESOLUTION):
        await accounts.mark_visit(session, me.mxid)
    return view
