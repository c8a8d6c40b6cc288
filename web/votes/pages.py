"""The votes on the public site: the section of the sitting page (results and attendance), the
hall view at /sittings/{id}/live, and a deputy's voting record (a section of the directory's
/deputies/{id}, web.directory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import sittings
from council import votes as domain
from council.models import utcnow
from council.sittings.agenda import sitting_heading, when
from web.errors import N_
from web.pages import render, sitting_id
from web.votes.common import DEPS, Group, aware, by_faction, head_id, local
from web.votes.live import payload

__all__ = ["add_routes", "record_section", "sitting_section", "votes_context"]

# The domain's codes as msgids of the Babel catalogs (English; the uk catalog carries the
# domain's Ukrainian words, council.votes RESULT_UK, OUTCOME_UK in capitals, MAJORITY_UK). Marked
# with N_ so that extraction finds them; templates translate them with _().
LABELS: dict[str, dict[str, str]] = {
    "result": {"for": N_("For"), "against": N_("Against"), "abstain": N_("Abstained"),
               "not_voting": N_("Did not vote"), "absent": N_("Absent"),
               "conflict": N_("Conflict of interest")},
    "outcome": {"adopted": N_("Adopted"), "rejected": N_("Not adopted")},
    "majority": {"total": N_("majority of the total composition"),
                 "procedural": N_("majority of those registered (procedural)"),
                 "two_thirds": N_("two thirds of the total composition")},
    "sittings": {"plenary": N_("Plenary sittings"), "commission": N_("Commission sittings"),
                 "executive": N_("Executive committee sittings")},
}


@dataclass(frozen=True)
class VoteBlock:
    """A closed vote as the page shows it: the domain's view and its roll-call by faction."""

    v: Any  # council.votes.VoteView
    groups: list[Group]
    opened: str
    closed: str


async def votes_context(session: AsyncSession, ctx: domain.Context, sitting_id: int
                        ) -> dict[str, Any]:
    """What vote_results.html needs, to merge into the sitting page's context."""
    views = await domain.sitting_votes(session, sitting_id)
    attendance = await domain.attendance(session, ctx, sitting_id)
    head = head_id(ctx)
    closed = [VoteBlock(v, by_faction(v.roll_call, head), local(v.opened_at, ctx.tz),
                        local(v.closed_at, ctx.tz)) for v in views if v.status == "closed"]
    running = [v for v in views if v.status != "closed"]
    return {"votes_section": {
        "sitting_id": sitting_id, "votes": closed, "running": running,
        "attendance": attendance, "labels": LABELS}}


async def sitting_section(request: web.Request, session: AsyncSession, sitting_id: int
                          ) -> dict[str, Any]:
    """votes_context for the sitting page's handler; nothing when votes are not wired."""
    deps = request.app.get(DEPS)
    if deps is None:
        return {}
    return await votes_context(session, deps.context(), sitting_id)


def time_left(closes_at: datetime | None) -> str | None:
    """`m:ss` until the vote closes by itself (as live.js counts it down); None when only the
    chair closes it (the template says so in the request's language)."""
    moment = aware(closes_at)
    if moment is None:
        return None
    seconds = max(0, int((moment - utcnow()).total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


async def live_page(request: web.Request) -> web.Response:
    """The hall view: the state at load; live.js follows the event stream from there."""
    return render(request, "sitting_live.html", await live_context(request))


async def live_context(request: web.Request) -> dict[str, Any]:
    """What the hall view shows (the widget's live page shows the same)."""
    deps = request.app[DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    async with deps.store.session() as s:
        sitting = await sittings.get_sitting(s, sid)  # unknown: the 404 page (web.errors)
        view = await domain.live(s, ctx, sid)
    return {
        "sitting": sitting, "heading": sitting_heading(sitting.kind, sitting.title, sitting.number),
        "starts": when(sitting.starts_at, ctx.tz), "live": payload(view), "labels": LABELS,
        "left": time_left(view.vote.closes_at if view.vote else None),
        "events": f"/sittings/{sid}/live/events"}


async def _member(session: AsyncSession, ctx: domain.Context, member_id: str
                  ) -> tuple[str, str | None, str] | None:
    """(name, faction, role) of a deputy or the head, or of a former member as their last
    roll-call names them; None for anyone else (the secretariat included)."""
    roster = ctx.roster
    if roster.head is not None and roster.head.id == member_id:
        return roster.head.name, None, "head"
    deputy = next((d for d in roster.deputies if d.id == member_id), None)
    if deputy is not None:
        return deputy.name, deputy.faction, "deputy"
    if roster.person(member_id) is not None:
        return None  # staff: no voting record
    row = (await session.execute(
        select(domain.RollCall.name, domain.RollCall.faction)
        .where(domain.RollCall.member_id == member_id)
        .order_by(domain.RollCall.id.desc()).limit(1))).first()
    return (row[0], row[1], "former") if row else None


async def record_section(request: web.Request, member_id: str) -> dict[str, Any] | None:
    """A member's voting record for the directory's person page (its template includes
    deputy_record.html): None when the id names no deputy, head or former member (staff have
    no record) or when votes are not wired."""
    deps = request.app.get(DEPS)
    if deps is None:
        return None
    ctx = deps.context()
    async with deps.store.session() as s:
        who = await _member(s, ctx, member_id)
        if who is None:
            return None
        record = await domain.deputy_record(s, ctx, member_id)
    name, faction, role = who
    position = ctx.roster.head.position if role == "head" and ctx.roster.head else None
    return {"record_section": {
        "member_id": member_id, "name": name, "faction": faction, "role": role,
        "position": position, "record": record, "labels": LABELS,
        "day": lambda d: d.strftime("%d.%m.%Y")}}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sittings/{id}/live", live_page, name="sitting_live")
