"""Rendering a page: the site's facts, the roster, and templates in the request's language.

Kept apart from web/app.py so that the error pages (web/errors.py) can render without
importing the application that installs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from council.roster import Roster
from web import i18n


@dataclass(frozen=True)
class SiteInfo:
    council_name: str
    server_name: str
    homeserver_url: str  # what a deputy types into Element
    space_alias: str  # the council Space, e.g. #kabinet_council:localhost
    base_url: str = ""  # the site's public URL (web.public_url): absolute links, never from Host

    @property
    def space_link(self) -> str:
        return "https://matrix.to/#/" + quote(self.space_alias, safe="#:@!")


SITE: web.AppKey[SiteInfo] = web.AppKey("site", SiteInfo)
# request[VIEWER]: the signed-in person (web.accounts sets it; None or absent for a visitor).
# Pages show "my cabinet" or "sign in" from it; kept here so that rendering needs no import
# of web.accounts.
VIEWER: web.RequestKey[Any] = web.RequestKey("kb_viewer", object)
ROSTER: web.AppKey[Roster] = web.AppKey("roster", Roster)


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200
           ) -> web.Response:
    """Render with the request's language; `?lang=` is remembered in a cookie."""
    lang = i18n.request_locale(request)
    tr = i18n.translations(lang)
    context = {**context, "_": tr.gettext, "pgettext": tr.pgettext, "ngettext": tr.ngettext,
               "lang": lang,
               "site": request.app[SITE], "path": request.path, "me": request.get(VIEWER)}
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    remember_language(request, response, lang)
    response.headers["Content-Language"] = lang
    return response


def remember_language(request: web.Request, response: web.StreamResponse, lang: str) -> None:
    """A language chosen with `?lang=` is remembered for a year."""
    if request.query.get(i18n.COOKIE) in i18n.LOCALES:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax")


MAX_ID = 2**63 - 1  # the store's integer keys: a larger id names nothing (and SQLite refuses it)


def path_id(text: str) -> int:
    """A positive id from the path, or 404: ASCII digits only (int() also takes "1_0", "٣")."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise web.HTTPNotFound()
    return int(text)


def sitting_id(request: web.Request) -> int:
    return path_id(request.match_info["id"])
