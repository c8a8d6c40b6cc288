"""The administrator's page of who is signed in (`/desk/sessions`), and ending a person's
sessions (a lost phone, a person who left): what only the administrator role may do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import func, select

from council import accounts
from council.accounts import WebSession
from council.types import utcnow
from web.accounts.common import DEPS, form_ok, signed_in, viewer_of
from web.pages import render


@dataclass(frozen=True)
class SignedIn:
    mxid: str
    name: str
    role: str
    sessions: int
    latest: datetime


async def _signed_in_people(request: web.Request) -> list[SignedIn]:
    deps = request.app[DEPS]
    async with deps.store.session() as s:
        rows = (await s.execute(
            select(WebSession.mxid, func.count(WebSession.id), func.max(WebSession.created_at))
            .where(WebSession.ended_at.is_(None), WebSession.expires_at > utcnow())
            .group_by(WebSession.mxid))).all()
    people = []
    for mxid, count, latest in rows:
        who = accounts.identify(deps.roster(), deps.server_name, mxid)
        people.append(SignedIn(mxid, who.name if who else mxid, who.role if who else "",
                               count, latest))
    return sorted(people, key=lambda p: p.name)


@signed_in("administrator")
async def sessions_page(request: web.Request) -> web.StreamResponse:
    response = render(request, "sessions.html", {
        "people": await _signed_in_people(request), "csrf": viewer_of(request).csrf,
        "done": request.query.get("ended") and "Signed out on every device.", "error": None})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@signed_in("administrator")
async def end_sessions(request: web.Request) -> web.StreamResponse:
    deps, me = request.app[DEPS], viewer_of(request)
    form = await request.post()
    if not form_ok(request, form):
        raise web.HTTPForbidden()
    mxid = str(form.get("mxid", ""))[:255]
    async with deps.store.session() as s:
        ended = await accounts.end_all(s, mxid)
        await accounts.audit.record(s, me.mxid, "signout.forced",
                                    accounts.audit.subject("account", mxid), {"sessions": ended})
    raise web.HTTPSeeOther("/desk/sessions?ended=1")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/desk/sessions", sessions_page, name="desk_sessions")
    app.router.add_post("/desk/sessions/end", end_sessions)
