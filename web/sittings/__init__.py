"""Sittings on the web: public pages and the calendar (pages), the JSON API (api, with its
bodies in models). Wired by kabinet: `sittings.setup(app, sittings.Deps(...))`."""

from __future__ import annotations

from aiohttp import web

from web.sittings import api, pages
from web.sittings.common import DEPS, Deps

__all__ = ["DEPS", "Deps", "setup"]


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    pages.add_routes(app)
    api.add_routes(app)
