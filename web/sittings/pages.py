"""Sittings on the web: the public pages, draft downloads from the store, and the iCalendar feed."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from aiohttp import web
from icalendar import Calendar, Event

from council import sittings as domain
from council.models import utcnow
from council.sittings.agenda import KIND_NAMES, sitting_heading, when
from web.pages import SITE, path_id, render, sitting_id
from web.sittings.common import DEPS, download_path
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


async def sitting_page(request: web.Request) -> web.Response:
    """An unknown sitting is the 404 page (web.errors maps KB_UNKNOWN_SITTING)."""
    deps = request.app[DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        v = await domain.view(s, ctx, sitting_id(request))
        votes = await sitting_section(request, s, v.sitting.id)
    commissions = {c.id: c.name for c in ctx.roster.commissions}
    heading = sitting_heading(v.sitting.kind, v.sitting.title, v.sitting.number)
    return render(request, "sitting.html", {
        "v": v, "heading": heading, "starts": when(v.sitting.starts_at, ctx.tz),
        "commissions": commissions, "download": download_path,
        "day": lambda moment: when(moment, ctx.tz)[:10],
        "kind_en": KIND_NAMES.get(v.sitting.kind, KIND_NAMES["plenary"])[1], **votes})


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
    cal.add("x-wr-calname", f"Засідання — {site.council_name}")
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
        ev.add("description", f"Порядок денний і проєкти рішень / Agenda and drafts: "
                              f"{base}/sittings/{x.id}")
        cal.add_component(ev)
    return web.Response(body=cal.to_ical(), content_type="text/calendar", charset="utf-8",
                        headers={"Content-Disposition": 'inline; filename="calendar.ics"'})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sittings", sittings_page, name="sittings")
    app.router.add_get("/sittings/{id}", sitting_page, name="sitting")
    app.router.add_get("/sittings/{id}/drafts/{item}/{version}", draft_download)
    app.router.add_get("/calendar.ics", calendar_ics, name="calendar")
