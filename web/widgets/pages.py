"""The widget pages: the sitting page (agenda, drafts, results) and the hall view (the live
vote), each the site's own template extended with the widget's bar and script
(web/templates/widget_*.html `{% extends %}` sitting.html and sitting_live.html, so nothing of
theirs is copied). The context is assembled from the same functions the site's handlers use."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from council import sittings as domain
from council import votes
from council.sittings.agenda import KIND_NAMES, sitting_heading, when
from web.pages import render, sitting_id
from web.sittings.common import DEPS as SITTINGS_DEPS
from web.sittings.common import download_path
from web.votes.common import DEPS as VOTES_DEPS
from web.votes.live import payload
from web.votes.pages import LABELS, sitting_section, time_left
from web.widgets.common import frameable


def _bar(sid: int, current: str) -> dict[str, Any]:
    return {"widget": {"sitting": sid, "current": current, "page": f"/widgets/sittings/{sid}",
                       "live": f"/widgets/sittings/{sid}/live"}}


async def sitting_widget(request: web.Request) -> web.StreamResponse:
    """Agenda, drafts and results (as /sittings/{id}); an unknown sitting is the 404 page."""
    deps = request.app[SITTINGS_DEPS]
    ctx = deps.context()
    async with deps.store.session() as s:
        v = await domain.view(s, ctx, sitting_id(request))
        section = await sitting_section(request, s, v.sitting.id)
    commissions = {c.id: c.name for c in ctx.roster.commissions}
    return frameable(request, render(request, "widget_sitting.html", {
        "v": v, "heading": sitting_heading(v.sitting.kind, v.sitting.title, v.sitting.number),
        "starts": when(v.sitting.starts_at, ctx.tz), "commissions": commissions,
        "download": download_path, "day": lambda moment: when(moment, ctx.tz)[:10],
        "kind_en": KIND_NAMES.get(v.sitting.kind, KIND_NAMES["plenary"])[1],
        **section, **_bar(v.sitting.id, "page")}))


async def live_widget(request: web.Request) -> web.StreamResponse:
    """The live vote (as /sittings/{id}/live): live.js follows the same event stream."""
    deps = request.app[VOTES_DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    async with deps.store.session() as s:
        sitting = await domain.get_sitting(s, sid)
        view = await votes.live(s, ctx, sid)
    return frameable(request, render(request, "widget_live.html", {
        "sitting": sitting, "heading": sitting_heading(sitting.kind, sitting.title, sitting.number),
        "starts": when(sitting.starts_at, ctx.tz), "live": payload(view), "labels": LABELS,
        "left": time_left(view.vote.closes_at if view.vote else None),
        "events": f"/sittings/{sid}/live/events", **_bar(sid, "live")}))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/widgets/sittings/{id}", sitting_widget, name="sitting_widget")
    app.router.add_get("/widgets/sittings/{id}/live", live_widget, name="sitting_live_widget")
