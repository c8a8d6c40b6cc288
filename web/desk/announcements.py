"""Announcements from the desk (/desk/announcements): the form (text, pin, expiry date) and the
latest announcements. The same operation as the bot's `!announce` (council.announcements), as
the signed-in secretariat member, recorded in the audit log; the hook wakes delivery. Wired by
kabinet (kabinet/features/announcements.py), after web.accounts: `setup(app, Deps(...))`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from council import announcements as domain
from council.accounts import audit
from council.store import Store
from web.accounts.common import viewer_of
from web.desk.common import (
    Refused,
    forbidden,
    local,
    posted,
    record,
    refusal,
    render_desk,
    staff_page,
)
from web.errors import N_

PATH = "/desk/announcements"
DONE = {"posted": N_("The announcement is posted in the announcements room.")}
# Line breaks stay (an announcement may have paragraphs); other control characters do not.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


@dataclass
class Deps:
    store: Store
    tz: Callable[[], ZoneInfo]
    on_change: Callable[[], None] = lambda: None  # wakes delivery


DEPS: web.AppKey[Deps] = web.AppKey("desk_announcements_deps", Deps)


def _text(form: Any) -> str:
    value = form.get("text", "")
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _expiry(typed: str, tz: ZoneInfo) -> datetime | None:
    """The end of the typed local day (YYYY-MM-DD), or None when none was typed."""
    if not typed:
        return None
    try:
        day = date.fromisoformat(typed)
    except ValueError:
        raise Refused(422, N_("Date: YYYY-MM-DD")) from None
    if not 2000 <= day.year <= 2100:
        raise Refused(422, N_("The year must be {first} to {last}"), first=2000, last=2100)
    return datetime.combine(day + timedelta(days=1), time(0), tz)


async def _show(request: web.Request, status: int = 200, error: str | None = None,
                values: dict[str, Any] | None = None) -> web.Response:
    deps = request.app[DEPS]
    tz = deps.tz()
    async with deps.store.session() as s:
        rows = await domain.recent(s)
    return render_desk(request, "desk_announcements.html", {
        "rows": rows, "local": lambda moment: local(moment, tz), "error": error,
        "values": values or {}, "max_text": domain.MAX_TEXT,
        "done": DONE.get(request.query.get("done", ""))}, status=status)


@staff_page
async def page(request: web.Request) -> web.Response:
    return await _show(request)


@staff_page
async def create(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    form = await posted(request)
    if form is None:
        return forbidden(request)
    tz = deps.tz()
    values = {"text": _text(form), "pinned": form.get("pinned") == "on",
              "expires": str(form.get("expires", "")).strip()[:10]}
    try:
        spec = domain.NewAnnouncement(text=values["text"], pinned=values["pinned"],
                                      expires_at=_expiry(values["expires"], tz))
        async with deps.store.session() as s:
            row = await domain.post(s, spec, viewer_of(request).mxid, "desk", tz)
            await record(s, request, "announcement.post", audit.subject("announcement", row.id),
                         {"pinned": row.pinned, "expires": values["expires"] or None})
    except (domain.AnnouncementError, ValidationError, Refused) as exc:
        status, message = refusal(request, exc)
        return await _show(request, status, message, values)
    deps.on_change()
    raise web.HTTPSeeOther(f"{PATH}?done=posted")


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    app.router.add_get(PATH, page, name="desk_announcements")
    app.router.add_post(PATH, create)
