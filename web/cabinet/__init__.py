"""The signed-in cabinet page (`/cabinet`): what needs me, with my notes beside each draft and
appeal. Wired by kabinet: `cabinet.setup(app, cabinet.Deps(...))`."""

from __future__ import annotations

from aiohttp import web

from web.cabinet import pages
from web.cabinet.pages import DEPS, Deps

__all__ = ["DEPS", "Deps", "setup"]


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    pages.add_routes(app)
