"""The council's directory on the web: /deputies with its search, each deputy's page (card,
contacts, photo, appeal link; for colleagues internal contacts and an Element link; then the
voting record from web.votes) and `/api/v1/deputies`. Reads only the roster (web.pages.ROSTER)
and who is signed in, so web.app mounts it with the site itself: `directory.setup(app)`."""

from __future__ import annotations

from aiohttp import web

from web.directory import api, pages

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    pages.add_routes(app)
    api.add_routes(app)
