"""Sittings on the web: the public pages, draft downloads from the store, and the iCalendar feed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from icalendar import Calendar, Event
from sqlalchemy import Integer, Select, String, bindparam, cast, func, literal, select

from council import language, rooms
from council import sittings as domain
from council import votes as ballots
from council.models import utcnow
from council.sittings import links
from council.sittings.agenda import KIND_NAMES, sitting_heading, when
from council.store import Store
from web import cache, i18n
from web.pages import SITE, path_id, render, sitting_id
from web.sittings.common import DEPS, download_path, matrix_to
from web.sittings.law_notes import law_notes, said
from web.votes.common import DEPS as VOTES_DEPS
from web.votes.pages import sitting_section

__all__ = ["add_routes"]

SITTING_LENGTH = timedelta(hours=3)  # calendar entries: sittings have no fixed end


async def sittings_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        all_ = await domain.list_sittings(s)
    now = utcnow() - SITTING_LENGTH
    rows = [(x, sitting_heading(x.kind, x.title, x.number), when(x.starts_at, ctx.tz))
            for x in all_]
    upcoming = [r for r in rows if r[0].starts_at >= now]
    past = [r for r in reversed(rows) if r[0].starts_at < now]
    return render(request, "sittings.html", {"upcoming": upcoming, "past": past})


def _revision_statement() -> Select[Any]:
    """What the sitting page shows from the store, as one row that changes with any of it
    (agenda_rev NULL: no such sitting). Derived from the tables, so a change by any process
    counts:
    - the sitting, its items and draft versions: every operation on them bumps `agenda_rev`
      first (council.sittings.operations._lock), and nothing is deleted;
    - votes: inserted, then open -> closing -> closed; the roll-call, totals and outcome are
      written with the close, and a closed vote never changes again: counted, and closed ones;
    - registrations and attendance: inserted only (counted; `shown` is not on the page);
    - the sitting's room and its delivered draft messages (council.sittings.links): the room is
      registered once, an event id is written once;
    - absences and conflicts of interest are updated in place (the latest text stands): their
      shown fields themselves, length-prefixed so that no two contents read the same (a few
      short rows per sitting; a different row order only costs one more render).
    Built once, with the sitting as a parameter: building a statement costs more than running
    it."""
    sid = bindparam("sid", type_=Integer)

    def count(table: Any, *where: Any) -> Any:
        return select(func.count()).select_from(table).where(*where).scalar_subquery()

    def text(*parts: Any) -> Any:
        """Fields joined as `length:value` each."""
        out: Any = literal("")
        for part in parts:
            out = out + cast(func.length(part), String) + ":" + part + ";"
        return out

    def joined(expr: Any, table: Any, *where: Any) -> Any:
        return select(func.aggregate_strings(expr, "|")).select_from(table).where(*where) \
            .scalar_subquery()

    items = select(domain.AgendaItem.id).where(domain.AgendaItem.sitting_id == sid)
    a, c, vote = ballots.Absence, ballots.Conflict, ballots.Vote
    # Where it is in Matrix: the room once made, and each version's message once delivered.
    matrix = links.revision_columns(sid, bindparam("room_key", type_=String))
    return select(
        select(domain.Sitting.agenda_rev).where(domain.Sitting.id == sid).scalar_subquery(),
        count(vote, vote.sitting_id == sid),
        count(vote, vote.sitting_id == sid, vote.status == "closed"),
        count(ballots.Registration, ballots.Registration.sitting_id == sid),
        count(ballots.Attendance, ballots.Attendance.sitting_id == sid),
        joined(text(a.member_id, a.reason), a, a.sitting_id == sid),
        joined(text(cast(c.item_id, String), c.member_id, c.text), c, c.item_id.in_(items)),
        *matrix)


REVISION = _revision_statement()


def revision_reader(store: Store) -> Callable[[int], Awaitable[tuple[Any, ...] | None]]:
    async def read(sid: int) -> tuple[Any, ...] | None:
        row = await store.read_one(REVISION, {"sid": sid, "room_key": rooms.sitting(sid)})
        return None if row[0] is None else row
    return read


async def sitting_page(request: web.Request) -> web.StreamResponse:
    """Rendered once per revision of the sitting and of the in-memory facts it shows."""
    deps = request.app[DEPS]
    sid = sitting_id(request)
    reader = cache.coalesced(request.app, "sitting", revision_reader(deps.store))
    stored = await reader.get(sid)
    if stored is None:
        return await render_sitting(request)  # the 404 page
    ctx = deps.context()
    votes_deps = request.app.get(VOTES_DEPS)
    # The roster (commission names, recipients, names) and the holiday calendar (the law's
    # warnings) are in memory: a new roster or calendar is a new object.
    memory = (cache.Same(ctx.roster), cache.Same(ctx.holidays),
              cache.Same(votes_deps.context().roster) if votes_deps else None)
    return await cache.serve(request, ("sitting", sid), (stored, memory),
                             lambda: render_sitting(request))


async def render_sitting(request: web.Request) -> web.Response:
    """An unknown sitting is the 404 page (web.errors maps KB_UNKNOWN_SITTING)."""
    return render(request, "sitting.html", await sitting_context(request))


async def sitting_context(request: web.Request) -> dict[str, Any]:
    """What the sitting page shows (the widget's page shows the same)."""
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        v = await domain.view(s, ctx, sitting_id(request))
        votes = await sitting_section(request, s, v.sitting.id)
        places = await links.matrix_places(s, v.sitting.id)
    commissions = {c.id: c.name for c in ctx.roster.commissions}
    heading = sitting_heading(v.sitting.kind, v.sitting.title, v.sitting.number)
    lang = i18n.request_locale(request)
    notes, marks = law_notes(v, lang)
    via = request.app[SITE].server_name
    return {
        "v": v, "heading": heading, "starts": when(v.sitting.starts_at, ctx.tz),
        "sitting_warnings": [said(w, lang) for w in v.warnings], "law_notes": notes,
        "law_marks": marks, "room_link": matrix_to(places.room_id, via=via),
        "event_links": {k: matrix_to(places.room_id, e, via=via) for k, e in places.events.items()},
        "commissions": commissions, "download": download_path,
        "day": lambda moment: when(moment, ctx.tz)[:10],
        "kind_en": KIND_NAMES.get(v.sitting.kind, KIND_NAMES["plenary"]).render("en"), **votes}


async def draft_download(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    ids = [path_id(request.match_info[k]) for k in ("id", "item", "version")]
    async with deps.store.session() as s:
        row = await domain.version_file(s, *ids)
    if row is None:
        raise web.HTTPNotFound()
    blobs = deps.context().blobs
    ascii_name = row.filename.encode("ascii", "replace").decode().replace("?", "_")
    return web.FileResponse(blobs.path(row.sha256), headers={
        "Content-Type": row.mimetype,
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(row.filename)}",
        "Cache-Control": "public, max-age=86400, immutable"})


async def calendar_ics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    site = request.app[SITE]
    async with deps.store.session() as s:
        all_ = await domain.list_sittings(s)
    cal = Calendar()
    cal.add("prodid", "-//Kabinet//Sittings//UK")
    cal.add("version", "2.0")
    # A subscribed calendar carries no reader's language: it speaks the council's, as the bot.
    cal.add("x-wr-calname", language._("Sittings — {council}", council=site.council_name))
    cal.add("x-wr-timezone", str(ctx.tz))
    base = site.base_url  # configured: the Host header is the client's to write
    for x in all_:
        ev = Event()
        ev.add("uid", f"sitting-{x.id}@{site.server_name}")
        ev.add("summary", sitting_heading(x.kind, x.title, x.number))
        ev.add("dtstart", x.starts_at)
        ev.add("dtend", x.starts_at + SITTING_LENGTH)
        ev.add("dtstamp", x.announced_at)
        ev.add("location", x.place)
        ev.add("url", f"{base}/sittings/{x.id}")
        ev.add("description", language._("Agenda and drafts: {url}",
                                         url=f"{base}/sittings/{x.id}"))
        cal.add_component(ev)
    return web.Response(body=cal.to_ical(), content_type="text/calendar", charset="utf-8",
                        headers={"Content-Disposition": 'inline; filename="calendar.ics"'})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sittings", sittings_page, name="sittings")
    app.router.add_get("/sittings/{id}", sitting_page, name="sitting")
    app.router.add_get("/sittings/{id}/drafts/{item}/{version}", draft_download)
    app.router.add_get("/calendar.ics", calendar_ics, name="calendar")
