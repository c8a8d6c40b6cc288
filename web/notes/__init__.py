"""Private notes on the web: the cabinet's forms (forms) and the JSON API (api, with its bodies
in models); the note box macro is web/templates/_notes.html. Only the signed-in person's own
notes, ever. Wired by kabinet: `notes.setup(app, notes.Deps(...))`; needs web.accounts' setup
(who is signed in)."""

from __future__ import annotations

from aiohttp import web

from web import openapi
from web.accounts import COOKIE
from web.notes import api, forms
from web.notes.common import DEPS, Deps

__all__ = ["DEPS", "Deps", "setup"]


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    schemes = app[openapi.OPENAPI]["components"]["securitySchemes"]
    schemes.setdefault("sessionCookie", {"type": "apiKey", "in": "cookie", "name": COOKIE})
    forms.add_routes(app)
    api.add_routes(app)
