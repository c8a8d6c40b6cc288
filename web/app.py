"""The web site: one aiohttp application; features are mounted by kabinet's wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from council.roster import Roster
from council.worker import Foreground
from web import cache, directory, health, i18n, openapi
from web.errors import MAX_BODY, error_middleware, quiet_client_faults
from web.health import Check
from web.pages import ROSTER, SITE, SiteInfo, render

__all__ = ["SiteInfo", "create_app"]

HERE = Path(__file__).parent
# Requests being served, which the bot's background work makes way for (council.worker).
FOREGROUND: web.AppKey[Foreground] = web.AppKey("foreground", Foreground)


async def index(request: web.Request) -> web.StreamResponse:
    """Shows the site's facts only: one render per language for the app's lifetime."""
    async def page() -> web.Response:
        return render(request, "index.html", {})
    return await cache.serve(request, ("index",), (cache.Same(request.app[SITE]),), page)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
}


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """On every answer, errors included (aiohttp raises those past ordinary middleware code)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.extend((k, v) for k, v in SECURITY_HEADERS.items() if k not in exc.headers)
        raise
    # A page that states its own frame-ancestors (the sitting widget, web/widgets/) is framed by
    # that policy: X-Frame-Options, which knows no list of origins, would contradict it.
    own_framing = "frame-ancestors" in response.headers.get("Content-Security-Policy", "")
    for key, value in SECURITY_HEADERS.items():
        if not (own_framing and key == "X-Frame-Options"):
            response.headers.setdefault(key, value)
    return response


@web.middleware
async def people_first(request: web.Request, handler: Any) -> web.StreamResponse:
    """Counts the site's requests in flight. The homeserver's own (/as/: transactions) are the
    background's: they make way too, and the homeserver gathers the events meanwhile into its
    next transaction."""
    foreground = request.app.get(FOREGROUND)
    if foreground is None:
        return await handler(request)
    if request.path.startswith("/as/"):
        await foreground.yielded()
        return await handler(request)
    with foreground.serving():
        return await handler(request)


@web.middleware
async def not_found_page(request: web.Request, handler: Any) -> web.StreamResponse:
    """A translated 404 page with the site around it, instead of aiohttp's bare text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith(("/api/", "/as/")):
            raise
        return render(request, "404.html", {}, status=404)


def create_app(site: SiteInfo, roster: Roster, checks: dict[str, Check],
               foreground: Foreground | None = None) -> web.Application:
    app = web.Application(middlewares=[people_first, security_headers, error_middleware,
                                       not_found_page], client_max_size=MAX_BODY)
    if foreground is not None:
        app[FOREGROUND] = foreground
    quiet_client_faults()
    app[SITE] = site
    app[ROSTER] = roster
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
        filters=i18n.FILTERS,
    )
    app.router.add_get("/", index, name="index")
    app.router.add_static("/static/", HERE / "static", name="static")
    openapi.setup(app, f"Kabinet — {site.council_name}")
    directory.setup(app)  # reads the roster only: mounted with the site, as /deputies always was
    health.setup(app, checks)  # /healthz and /readyz
    return app
