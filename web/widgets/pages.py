"""The widget pages: the sitting page (agenda, drafts, results) and the hall view (the live
vote), each the site's own template extended with the widget's bar and script
(web/templates/widget_*.html `{% extends %}` sitting.html and sitting_live.html, so nothing of
theirs is copied). The context is assembled from the same functions the site's handlers use."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.pages import render, sitting_id
from web.sittings.pages import sitting_context
from web.votes.pages import live_context
from web.widgets.common import frameable


def _bar(sid: int, current: str) -> dict[str, Any]:
    return {"widget": {"sitting": sid, "current": current, "page": f"/widgets/sittings/{sid}",
                       "live": f"/widgets/sittings/{sid}/live"}}


async def sitting_widget(request: web.Request) -> web.StreamResponse:
    """Agenda, drafts and results (as /sittings/{id}); an unknown sitting is the 404 page."""
    context = await sitting_context(request)
    return frameable(request, render(request, "widget_sitting.html", {
        **context, **_bar(context["v"].sitting.id, "page")}))


async def live_widget(request: web.Request) -> web.StreamResponse:
    """The live vote (as /sittings/{id}/live): live.js follows the same event stream."""
    context = await live_context(request)
    return frameable(request, render(request, "widget_live.html", {
        **context, **_bar(sitting_id(request), "live")}))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/widgets/sittings/{id}", sitting_widget, name="sitting_widget")
    app.router.add_get("/widgets/sittings/{id}/live", live_widget, name="sitting_live_widget")
