"""The sitting widget's pages (/widgets/sittings/{id}, and …/live): the public sitting page and
the hall view, allowed to be framed by Matrix clients (Element web and desktop), with a small
script that signs the person in with the widget API's OpenID token (a bonus: the pages are
public and work without it). Wired by kabinet: `widgets.setup(app, widgets.Deps(...))`, after
web.sittings and web.votes (whose dependencies it reads)."""

from __future__ import annotations

from aiohttp import web

from web.widgets import pages
from web.widgets.common import DEFAULT_FRAME_ANCESTORS, DEPS, Deps, framing_policy

__all__ = ["DEFAULT_FRAME_ANCESTORS", "DEPS", "Deps", "framing_policy", "setup"]


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    pages.add_routes(app)
