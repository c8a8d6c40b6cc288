"""What the desk's pages share: their dependencies (the other features' contexts and the hooks
that wake delivery after a change), the signed-in check, CSRF, audit, messages and local times.

The desk reuses the domain operations of council.sittings, council.votes and council.appeals
and the hooks the sittings, votes and appeals features give their own web parts
(kabinet.features.desk builds Deps from them), so a change made here is delivered exactly as
one made by the API or a bot command. It imports no other web feature: web.sittings and
web.votes import web.accounts.staff.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from council import appeals, sittings, votes
from council.accounts import audit
from council.models import utcnow
from council.roster import Roster
from council.store import Store
from web import i18n
from web.accounts.common import form_ok, signed_in, viewer_of
from web.accounts.staff import STAFF_ROLES
from web.errors import N_, domain_status, said_in
from web.pages import render

__all__ = ["DEPS", "DONE", "Deps", "Refused", "forbidden", "local", "posted", "record", "refusal",
           "render_desk", "see_other", "staff_page", "text"]


@dataclass
class Deps:
    store: Store
    sittings: Callable[[], sittings.Context]
    votes: Callable[[], votes.Context]
    appeals: appeals.Context
    on_sittings_change: Callable[[], None] = lambda: None  # sitting rooms and delivery
    on_votes_change: Callable[[int], None] = lambda sitting_id: None  # clock, delivery, hall
    on_appeals_change: Callable[[], None] = lambda: None  # appeal rooms, mail, delivery

    def roster(self) -> Roster:
        return self.sittings().roster


DEPS: web.AppKey[Deps] = web.AppKey("desk_deps", Deps)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

staff_page = signed_in(*STAFF_ROLES)

# What the page says after a change (?done=...): the redirect after a POST keeps a reload from
# sending the form again.
DONE = {
    "created": N_("The sitting is created; its room and announcement follow."),
    "added": N_("Drafts published."),
    "revised": N_("The new version is published."),
    "withdrawn": N_("The item is withdrawn."),
    "reordered": N_("The agenda's order is saved."),
    "registration": N_("Registration is open: the ballot is posted in the sitting room."),
    "vote": N_("The vote is open: the poll is posted in the sitting room."),
    "closing": N_("The vote is closing; the result follows once the poll's end is back."),
    "transferred": N_("The appeal is handed over."),
    "extended": N_("The term is extended; the citizen is told by e-mail."),
}


def local(moment: datetime | None, tz: tzinfo) -> str:
    """A stored moment (naive on SQLite: UTC) in the council's time, to the minute."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


async def record(session: Any, request: web.Request, action: str, subject: str,
                 detail: dict[str, Any] | None = None) -> None:
    """The audit entry of a desk change, in the change's own unit of work."""
    await audit.record(session, viewer_of(request).actor, action, subject,
                       {**(detail or {}), "via": "desk"})


def render_desk(request: web.Request, template: str, context: dict[str, Any],
                status: int = 200) -> web.Response:
    """A desk page: every form on it carries the session's CSRF token; never cached."""
    done = request.query.get("done", "")
    response = render(request, template, {
        "error": None, "done": DONE.get(done), **context, "csrf": viewer_of(request).csrf},
        status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def posted(request: web.Request) -> Any | None:
    """The urlencoded form of a desk POST, or None when its CSRF token is wrong."""
    form = await request.post()  # parsed once already, under web.errors' body checks
    return form if form_ok(request, form) else None


def forbidden(request: web.Request) -> web.Response:
    """A form without this session's CSRF token: refused, nothing changed."""
    return render(request, "error.html", {"status": 403, "message": N_(
        "The form has expired. Go back, reload the page and send it again.")}, status=403)


def text(form: Any, name: str, limit: int = 2000) -> str:
    """A text field of a posted form, stripped and cut at `limit` characters."""
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    return CONTROL.sub(" ", value).strip()[:limit]  # no NUL or line breaks into the store


def see_other(location: str, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{location}?done={done}")


class Refused(Exception):
    """A desk form's own refusal: an English msgid (marked with `N_`, translated in desk.po) and
    the values of its `{placeholders}`, said in the page's language by `refusal()`."""

    def __init__(self, status: int, message: str, /, **params: Any) -> None:
        self.status, self.message, self.params = status, message, params
        super().__init__(message)


def refusal(request: web.Request, exc: Exception) -> tuple[int, str]:
    """A desk refusal, a domain refusal or invalid input: its status (web.errors' table for the
    domain's) and the message in the page's language."""
    language = i18n.request_locale(request)
    if isinstance(exc, Refused):
        said = i18n.translations(language).gettext(exc.message)
        return exc.status, said.format(**exc.params) if exc.params else said
    if isinstance(exc, ValidationError):
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}"
                            for e in exc.errors())
        return 422, reasons
    status, _ = domain_status(exc)
    return status, said_in(exc, language)
