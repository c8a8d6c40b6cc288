"""Registration and votes from the desk: the same operations as the staff API and the bot's
commands (council.votes), as the signed-in person; after each, the votes feature's hooks wake
delivery, the vote clock and the hall view."""

from __future__ import annotations

from aiohttp import web

from council import votes
from council.accounts import audit
from web.accounts.common import viewer_of
from web.desk.agenda import REFUSALS, desk_url, refused
from web.desk.common import DEPS, Refused, forbidden, posted, record, see_other, staff_page, text
from web.errors import N_
from web.pages import sitting_id


def _actor(request: web.Request) -> votes.Actor:
    """The person as the votes domain knows them: the secretariat by its Matrix id."""
    return votes.Actor.matrix(viewer_of(request).mxid)


@staff_page
async def open_registration(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    if await posted(request) is None:
        return forbidden(request)
    try:
        async with deps.store.session() as s:
            reg = await votes.open_registration(s, deps.votes(), sid, _actor(request))
            await record(s, request, "registration.open", audit.subject("sitting", sid), {"round": reg.round})
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_votes_change(sid)
    raise see_other(desk_url(sid), "registration")


def _duration(form: object, field: str = "minutes") -> int | None:
    """Minutes typed (ASCII digits), as the domain's seconds; empty: until closed."""
    typed = text(form, field, 8)
    if not typed:
        return None
    if not (typed.isascii() and typed.isdigit()):
        raise Refused(422, N_("The duration is whole minutes"))
    return int(typed) * 60


@staff_page
async def open_vote(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    form = await posted(request)
    if form is None:
        return forbidden(request)
    try:
        spec = votes.OpenVote.model_validate({
            "item": text(form, "item", 32), "majority": text(form, "majority", 16) or None,
            "duration": _duration(form)})
        async with deps.store.session() as s:
            vote = await votes.open_vote(s, deps.votes(), sid, _actor(request), spec)
            await record(s, request, "vote.open", audit.subject("sitting", sid), {
                "vote": vote.id, "item": spec.item, "majority": vote.majority})
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_votes_change(sid)
    raise see_other(desk_url(sid), "vote")


@staff_page
async def close_vote(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    if await posted(request) is None:
        return forbidden(request)
    try:
        async with deps.store.session() as s:
            vote = await votes.close_current(s, deps.votes(), sid, _actor(request))
            await record(s, request, "vote.close", audit.subject("sitting", sid), {"vote": vote.id})
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_votes_change(sid)
    raise see_other(desk_url(sid), "closing")


def add_routes(app: web.Application) -> None:
    base = "/desk/sittings/{id}"
    app.router.add_post(f"{base}/registration", open_registration)
    app.router.add_post(f"{base}/votes", open_vote)
    app.router.add_post(f"{base}/votes/close", close_vote)
