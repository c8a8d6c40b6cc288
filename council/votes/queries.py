"""Reading votes: a sitting's results, its attendance, the hall view's live state, a deputy's
record. Results come from the stored roll-call (a snapshot), never from today's roster."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.language import Text
from council.sittings import AgendaItem, Sitting, get_sitting, local_day
from council.votes import tally
from council.votes.common import registered
from council.votes.inputs import ANSWERS, Context, VoteError
from council.votes.tables import Absence, Attendance, Conflict, Registration, RollCall, Vote, VoteResponse


@dataclass(frozen=True)
class RollLine:
    member_id: str
    name: str
    faction: str | None
    result: str


@dataclass(frozen=True)
class ConflictLine:
    member_id: str
    name: str
    text: str


@dataclass(frozen=True)
class VoteView:
    id: int
    number: int
    item_id: int
    item_number: str
    item_title: str
    majority: str
    threshold: int
    total: int
    status: str
    opened_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    totals: dict[str, int]
    digest: str | None
    roll_call: list[RollLine] = field(default_factory=list)
    conflicts: list[ConflictLine] = field(default_factory=list)


async def sitting_votes(session: AsyncSession, sitting_id: int) -> list[VoteView]:
    votes = (await session.scalars(select(Vote).where(Vote.sitting_id == sitting_id)
                                   .order_by(Vote.number))).all()
    if not votes:
        return []
    items = {i.id: i for i in (await session.scalars(
        select(AgendaItem).where(AgendaItem.sitting_id == sitting_id))).all()}
    lines: dict[int, list[RollLine]] = {}
    for r in (await session.scalars(select(RollCall).where(RollCall.vote_id.in_([v.id for v in votes]))
                                    .order_by(RollCall.id))).all():
        lines.setdefault(r.vote_id, []).append(RollLine(r.member_id, r.name, r.faction, r.result))
    conflicts: dict[int, list[ConflictLine]] = {}
    for c in (await session.scalars(select(Conflict).where(Conflict.item_id.in_(items))
                                    .order_by(Conflict.id))).all():
        conflicts.setdefault(c.item_id, []).append(ConflictLine(c.member_id, "", c.text))
    out = []
    for v in votes:
        item = items[v.item_id]
        names = {m["id"]: m["name"] for m in v.entitled}
        # A declaration made after the close is not part of that vote's published result.
        declared = [ConflictLine(c.member_id, names.get(c.member_id, c.member_id), c.text)
                    for c in conflicts.get(v.item_id, [])
                    if v.status != "closed" or any(x.member_id == c.member_id and x.result == "conflict"
                                                   for x in lines.get(v.id, []))]
        out.append(VoteView(
            v.id, v.number, v.item_id, item.number, item.title, v.majority, v.threshold, v.total,
            v.status, v.opened_at, v.closes_at, v.closed_at, v.outcome,
            dict(v.totals or {}), v.digest, lines.get(v.id, []), declared))
    return out


@dataclass(frozen=True)
class AttendanceView:
    total: int
    quorum: int
    registered: list[tuple[str, str]]
    has_quorum: bool
    absences: list[tuple[str, str, str]]
    opened: bool


async def attendance(session: AsyncSession, ctx: Context, sitting_id: int) -> AttendanceView:
    sitting = await get_sitting(session, sitting_id)
    reg = await session.scalar(select(Registration).where(Registration.sitting_id == sitting_id)
                               .order_by(Registration.round.desc()).limit(1))
    names = {m["id"]: m["name"] for m in reg.entitled} if reg else {}
    total = reg.total if reg else ctx.roster.total_composition(sitting.kind, sitting.body)
    quorum = reg.quorum if reg else ctx.roster.quorum(sitting.kind, sitting.body)

    def name(member_id: str) -> str:
        person = ctx.roster.person(member_id)
        return names.get(member_id) or (person.name if person else member_id)

    present = await registered(session, sitting_id)
    absences = (await session.scalars(select(Absence).where(Absence.sitting_id == sitting_id)
                                      .order_by(Absence.id))).all()
    return AttendanceView(total, quorum, [(m, name(m)) for m in present], len(present) >= quorum,
                          [(a.member_id, name(a.member_id), a.reason) for a in absences],
                          reg is not None)


@dataclass(frozen=True)
class LiveVote:
    number: int
    item_number: str
    item_title: str
    status: str
    counts: dict[str, int]
    answered: int
    entitled: int
    threshold: int
    closes_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class LiveView:
    registered: int
    total: int
    quorum: int
    has_quorum: bool
    vote: LiveVote | None
    revision: int  # changes whenever anything shown here changes


async def live(session: AsyncSession, ctx: Context, sitting_id: int) -> LiveView:
    seen = await attendance(session, ctx, sitting_id)
    vote = await session.scalar(select(Vote).where(Vote.sitting_id == sitting_id)
                                .order_by(Vote.number.desc()).limit(1))
    current = None
    responses = 0
    if vote is not None:
        item = await session.get(AgendaItem, vote.item_id)
        rows = (await session.scalars(select(VoteResponse).where(
            VoteResponse.vote_id == vote.id, VoteResponse.status == "valid")
            .order_by(VoteResponse.id))).all()
        responses = len(rows)
        answers = tally.latest(tally.Counted(r.member_id or "", r.answer or "", r.event_id,
                                             r.origin_ts, r.id) for r in rows)
        if vote.status == "closed" and vote.totals:
            counts = {k: vote.totals.get(k, 0) for k in ("for", "against", "abstain")}
        else:
            tallied = Counter(c.answer for c in answers.values())
            counts = {k: tallied.get(k, 0) for k in ("for", "against", "abstain")}
        current = LiveVote(vote.number, item.number if item else "?", item.title if item else "",
                           vote.status, counts, len(answers), len(vote.entitled), vote.threshold,
                           vote.closes_at, vote.outcome)
    status_weight = {"open": 0, "closing": 1, "closed": 2}
    revision = (len(seen.registered) * 1_000_003 + (vote.number if vote else 0) * 10_007
                + responses * 3 + (status_weight.get(vote.status, 0) if vote else 0))
    return LiveView(len(seen.registered), seen.total, seen.quorum, seen.has_quorum, current, revision)


@dataclass(frozen=True)
class RecordLine:
    sitting_id: int
    sitting_title: str
    day: date
    vote_number: int
    item_number: str
    item_title: str
    result: str


@dataclass(frozen=True)
class YearAttendance:
    year: int
    kind: str  # plenary | commission | executive
    sittings: int
    attended: int
    missed_more_than_half: bool  # art. 37: plenary sittings, or commission sittings, of a year


@dataclass(frozen=True)
class DeputyRecord:
    member_id: str
    votes: list[RecordLine]
    years: list[YearAttendance]


async def deputy_record(session: AsyncSession, ctx: Context, member_id: str) -> DeputyRecord:
    """The member's roll-call answers and their attendance per year. A sitting counts for
    attendance when registration was held there and the member was entitled to register."""
    if ctx.roster.person(member_id) is None and not await session.scalar(
            select(RollCall.id).where(RollCall.member_id == member_id).limit(1)):
        raise VoteError("KB_UNKNOWN_MEMBER", Text("no deputy {member}", member=member_id),
                        "member")
    rows = (await session.execute(
        select(RollCall.result, Vote.number, Vote.sitting_id, AgendaItem.number, AgendaItem.title,
               Sitting.title, Sitting.starts_at)
        .join(Vote, Vote.id == RollCall.vote_id).join(AgendaItem, AgendaItem.id == Vote.item_id)
        .join(Sitting, Sitting.id == Vote.sitting_id)
        .where(RollCall.member_id == member_id)
        .order_by(Sitting.starts_at.desc(), Vote.number))).all()
    votes = [RecordLine(sid, stitle, local_day(starts, ctx.tz), num, inum, ititle, result)
             for result, num, sid, inum, ititle, stitle, starts in rows]
    regs = (await session.execute(
        select(Registration.sitting_id, Registration.entitled, Sitting.starts_at, Sitting.kind)
        .join(Sitting, Sitting.id == Registration.sitting_id).order_by(Registration.id))).all()
    entitled: dict[int, tuple[date, str]] = {}
    for sid, members, starts, kind in regs:
        if any(m["id"] == member_id for m in members):
            entitled.setdefault(sid, (local_day(starts, ctx.tz), kind))
    # Present: registered, or answered a roll-call there without registering.
    attended = set((await session.scalars(select(Attendance.sitting_id)
                                          .where(Attendance.member_id == member_id))).all())
    attended |= {line.sitting_id for line in votes if line.result in ANSWERS}
    years: dict[tuple[int, str], list[int]] = {}
    for sid, (day, kind) in entitled.items():
        counts = years.setdefault((day.year, kind), [0, 0])
        counts[0] += 1
        counts[1] += sid in attended
    order = {"plenary": 0, "commission": 1, "executive": 2}
    return DeputyRecord(member_id, votes, [
        YearAttendance(y, kind, n, a, kind in ("plenary", "commission") and (n - a) * 2 > n)
        for (y, kind), (n, a) in sorted(years.items(), key=lambda x: (-x[0][0], order.get(x[0][1], 3)))])
