"""Reading sittings: participants, rooms, local days, legal warnings, agenda items and views."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import rooms
from council.language import Text, _
from council.law import rules as law
from council.models import utcnow
from council.roster import Roster
from council.sittings.inputs import Context, SittingError
from council.sittings.paper import Paper, paper_for
from council.sittings.tables import AgendaItem, DraftVersion, Sitting


def member_ids(roster: Roster, kind: str, body: str) -> list[str]:
    """Roster ids of a sitting's participants: its voters (with the head at plenary ones) and
    the secretariat, in that order, each once."""
    people = list(dict.fromkeys(roster.voters(kind, body)))
    staff = [s.id for s in roster.secretariat]
    return people + [s for s in staff if s not in people]


async def get_sitting(session: AsyncSession, sitting_id: int) -> Sitting:
    sitting = await session.get(Sitting, sitting_id)
    if sitting is None:
        raise SittingError("KB_UNKNOWN_SITTING", Text("sitting {id} not found", id=sitting_id),
                           "sitting")
    return sitting


def room(sitting_id: int) -> str:
    """The outbox's address of the sitting's room."""
    return rooms.placeholder(rooms.sitting(sitting_id))


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return moment.astimezone(tz).date()


def sitting_warnings(ctx: Context, sitting: Sitting) -> list[law.LawWarning]:
    w = law.local_self_government_art46_p10(local_day(sitting.announced_at, ctx.tz),
                                            local_day(sitting.starts_at, ctx.tz))
    return [w] if w else []


def draft_warnings(ctx: Context, sitting: Sitting, version: DraftVersion) -> list[law.LawWarning]:
    w = law.access_to_public_information_art15_p3(local_day(version.published_at, ctx.tz),
                                                  local_day(sitting.starts_at, ctx.tz),
                                                  ctx.holidays)
    return [w] if w else []


async def _items(session: AsyncSession, sitting_id: int
                 ) -> list[tuple[AgendaItem, list[DraftVersion]]]:
    items = (await session.scalars(select(AgendaItem).where(AgendaItem.sitting_id == sitting_id)
                                   .order_by(AgendaItem.position, AgendaItem.id))).all()
    ids = [i.id for i in items]
    versions: dict[int, list[DraftVersion]] = {i: [] for i in ids}
    if ids:
        for v in await session.scalars(select(DraftVersion).where(DraftVersion.item_id.in_(ids))
                                       .order_by(DraftVersion.version)):
            versions[v.item_id].append(v)
    return [(i, versions[i.id]) for i in items]


def item_number(kind: str, n: int) -> str:
    """The `n`-th number of a sitting's numbering scheme: a commission sitting numbers its items
    К-1, К-2 … (the council's spelling), a plenary or executive committee sitting 1, 2 …"""
    return _("C-{n}", n=n) if kind == "commission" else str(n)


def _ordinal(kind: str, number: str) -> int | None:
    """`n` if `number` is `item_number(kind, n)`; None for a number of another form."""
    prefix, _n, suffix = (_("C-{n}") if kind == "commission" else "{n}").partition("{n}")
    if not (number.startswith(prefix) and number.endswith(suffix)):
        return None
    digits = number[len(prefix):len(number) - len(suffix)]
    return int(digits) if digits.isascii() and digits.isdigit() else None


async def next_numbers(session: AsyncSession, sitting_id: int, count: int = 1) -> list[str]:
    """The next `count` free numbers of the sitting's scheme (after its largest of that form):
    the one way a new item is numbered, whoever adds it (a file dropped in the room, the desk)."""
    sitting = await get_sitting(session, sitting_id)
    numbers = (await session.scalars(select(AgendaItem.number)
                                     .where(AgendaItem.sitting_id == sitting_id))).all()
    last = max((o for n in numbers if (o := _ordinal(sitting.kind, n)) is not None), default=0)
    return [item_number(sitting.kind, last + i) for i in range(1, count + 1)]


async def next_number(session: AsyncSession, sitting_id: int) -> str:
    return (await next_numbers(session, sitting_id))[0]


@dataclass
class SittingView:
    sitting: Sitting
    items: list[tuple[AgendaItem, list[DraftVersion]]]
    warnings: list[law.LawWarning]
    item_warnings: dict[int, list[law.LawWarning]] = field(default_factory=dict)
    paper: Paper = field(default_factory=lambda: Paper(0, 0, 0, 0))


async def list_sittings(session: AsyncSession) -> list[Sitting]:
    return list((await session.scalars(select(Sitting).order_by(Sitting.starts_at))).all())


async def view(session: AsyncSession, ctx: Context, sitting_id: int) -> SittingView:
    sitting = await get_sitting(session, sitting_id)
    items = await _items(session, sitting_id)
    recipients = len(member_ids(ctx.roster, sitting.kind, sitting.body))
    paper = paper_for([v.pages for _, vs in items for v in vs], recipients)
    item_warnings = {i.id: draft_warnings(ctx, sitting, vs[-1]) for i, vs in items
                     if i.status == "active"}
    return SittingView(sitting, items, sitting_warnings(ctx, sitting), item_warnings, paper)


async def version_file(session: AsyncSession, sitting_id: int, item_id: int, version: int
                       ) -> DraftVersion | None:
    return await session.scalar(
        select(DraftVersion).join(AgendaItem, AgendaItem.id == DraftVersion.item_id)
        .where(AgendaItem.sitting_id == sitting_id, AgendaItem.id == item_id,
               DraftVersion.version == version))
