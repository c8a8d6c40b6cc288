"""Roll-call votes on the web: the sitting page's results section and the deputy's record
(pages), the hall view's event stream (live), CSV open data (opendata), the results as PDF
(pdf) and the JSON API (api, with its bodies in models).
Wired by kabinet: `votes.setup(app, votes.Deps(...))`."""

from __future__ import annotations

from aiohttp import web

from web.votes import api, live, opendata, pages, pdf
from web.votes.common import DEPS, Deps

__all__ = ["DEPS", "Deps", "setup"]


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps

    async def stop_streams(_: web.Application) -> None:
        deps.stopping.set()  # open event streams end before the server waits for handlers

    app.on_shutdown.append(stop_streams)
    pages.add_routes(app)
    live.add_routes(app)
    opendata.add_routes(app)
    pdf.add_routes(app)
    api.add_routes(app)
