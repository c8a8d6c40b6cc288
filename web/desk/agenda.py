"""A sitting at the desk: its agenda with the law's warnings (the sitting's, each draft's, and
what publishing today would mean), publishing several drafts at once, a new version of one,
withdrawing with a reason, the order; and the registration and vote controls (web.desk.voting)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from council import sittings as domain
from council import votes
from council.accounts import audit
from council.appeals import AppealError
from council.language import Text
from council.models import utcnow
from council.sittings.agenda import sitting_heading, when
from web.accounts.common import form_ok
from web.desk import drafts
from web.desk.common import (
    DEPS,
    Deps,
    Refused,
    forbidden,
    posted,
    record,
    refusal,
    render_desk,
    see_other,
    staff_page,
    text,
)
from web.errors import N_
from web.pages import path_id, sitting_id

REFUSALS = (domain.SittingError, votes.VoteError, AppealError, ValidationError, Refused)


def desk_url(sid: int) -> str:
    return f"/desk/sittings/{sid}"


async def _voting(s: Any, deps: Deps, sid: int) -> dict[str, Any]:
    ctx = deps.votes()
    attendance = await votes.attendance(s, ctx, sid)
    current = await votes.current_vote(s, sid)
    return {"attendance": attendance, "current": current,
            "votes_held": await votes.sitting_votes(s, sid),
            "majorities": [(k, votes.MAJORITY_UK[k], votes.MAJORITY_EN[k])
                           for k in ("total", "procedural", "two_thirds")]}


async def page_context(deps: Deps, sid: int) -> dict[str, Any]:
    ctx = deps.sittings()
    async with deps.store.session() as s:
        v = await domain.view(s, ctx, sid)
        voting = await _voting(s, deps, sid)
    # What the law says of a draft published now: shown beside the upload form, before it.
    today = domain.draft_warnings(ctx, v.sitting, domain.DraftVersion(published_at=utcnow()))
    warned = [(i, w) for i, _ in v.items for w in v.item_warnings.get(i.id, [])]
    return {"v": v, "heading": sitting_heading(v.sitting.kind, v.sitting.title, v.sitting.number),
            "starts": when(v.sitting.starts_at, ctx.tz), "today_warnings": today,
            "item_warnings": warned, "commissions": [(c.id, c.name) for c in ctx.roster.commissions],
            "active": [i for i, _ in v.items if i.status == "active"],
            "download": lambda item, version: f"/sittings/{sid}/drafts/{item}/{version}",
            "day": lambda moment: when(moment, ctx.tz)[:10], "max_files": drafts.MAX_FILES,
            "max_mib": ctx.max_bytes // (1024 * 1024), **voting}


async def show(request: web.Request, sid: int, *, status: int = 200, error: str | None = None
               ) -> web.Response:
    context = await page_context(request.app[DEPS], sid)
    added = [n for n in request.query.get("added", "").split(",") if n][:drafts.MAX_FILES]
    return render_desk(request, "desk_sitting.html", {**context, "error": error, "added": added},
                       status=status)


async def refused(request: web.Request, sid: int, exc: Exception) -> web.Response:
    status, message = refusal(request, exc)
    return await show(request, sid, status=status, error=message)


@staff_page
async def sitting_page(request: web.Request) -> web.Response:
    return await show(request, sitting_id(request))


@staff_page
async def add_drafts(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    ctx = deps.sittings()
    sid = sitting_id(request)
    try:
        form = await drafts.read(request, ctx)
        if not form_ok(request, form.fields):
            return forbidden(request)
        if not form.files:
            raise Refused(400, N_("No files chosen"))
        files = [await drafts.prepare(request, ctx, f) for f in form.files]
        async with deps.store.session() as s:
            await domain.get_sitting(s, sid)
            specs = drafts.specs(form, await domain.next_numbers(s, sid, len(files)))
            items = await domain.add_drafts(s, ctx, sid, list(zip(specs, files, strict=True)),
                                            source="desk")
            for item, file in zip(items, files, strict=True):
                await record(s, request, "draft.add", audit.subject("sitting", sid),
                             {"item": item.id, "number": item.number, "file": file.filename})
            numbers = [i.number for i in items]
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_sittings_change()
    raise web.HTTPSeeOther(f"{desk_url(sid)}?done=added&added={','.join(numbers)}#agenda")


async def _number(s: Any, sid: int, item_id: int) -> str:
    item = await s.get(domain.AgendaItem, item_id)
    if item is None or item.sitting_id != sid:
        raise domain.SittingError("KB_UNKNOWN_ITEM", Text("no such item in this sitting"), "item")
    number: str = item.number
    return number


@staff_page
async def revise(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    ctx = deps.sittings()
    sid, item_id = sitting_id(request), path_id(request.match_info["item"])
    try:
        form = await drafts.read(request, ctx, max_files=1)
        if not form_ok(request, form.fields):
            return forbidden(request)
        if not form.files:
            raise Refused(400, N_("No file chosen"))
        file = await drafts.prepare(request, ctx, form.files[0])
        async with deps.store.session() as s:
            number = await _number(s, sid, item_id)
            version = await domain.revise_draft(s, ctx, sid, number, file, source="desk")
            await record(s, request, "draft.revise", audit.subject("sitting", sid), {
                "item": item_id, "number": number, "version": version.version,
                "file": file.filename})
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_sittings_change()
    raise web.HTTPSeeOther(f"{desk_url(sid)}?done=revised#item-{item_id}")


@staff_page
async def withdraw(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    sid, item_id = sitting_id(request), path_id(request.match_info["item"])
    form = await posted(request)
    if form is None:
        return forbidden(request)
    reason = text(form, "reason", 500)
    try:
        if len(reason) < 2:
            raise Refused(422, N_("Give the reason"))
        async with deps.store.session() as s:
            number = await _number(s, sid, item_id)
            await domain.withdraw_item(s, deps.sittings(), sid, number, reason=reason)
            await record(s, request, "draft.withdraw", audit.subject("sitting", sid),
                         {"item": item_id, "number": number, "reason": reason})
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_sittings_change()
    raise see_other(desk_url(sid), "withdrawn")


def _moved(order: list[str], number: str, move: str) -> list[str]:
    """`order` with `number` one place up or down (unchanged at either end)."""
    if number not in order:
        return order
    i = order.index(number)
    j = i - 1 if move == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return order


@staff_page
async def reorder(request: web.Request) -> web.StreamResponse:
    """One item up or down (a button per item), or the whole order typed as numbers."""
    deps = request.app[DEPS]
    ctx = deps.sittings()
    sid = sitting_id(request)
    form = await posted(request)
    if form is None:
        return forbidden(request)
    try:
        async with deps.store.session() as s:
            current = [i.number for i, _ in (await domain.view(s, ctx, sid)).items]
            typed = text(form, "order").replace(",", " ").split()
            order = typed or _moved(list(current), text(form, "number", 32), text(form, "move", 8))
            if order != current:
                await domain.reorder(s, ctx, sid, order)
                await record(s, request, "agenda.reorder", audit.subject("sitting", sid), {"order": order})
    except REFUSALS as exc:
        return await refused(request, sid, exc)
    deps.on_sittings_change()
    raise web.HTTPSeeOther(f"{desk_url(sid)}?done=reordered#agenda")


def add_routes(app: web.Application) -> None:
    base = "/desk/sittings/{id}"
    app.router.add_get(base, sitting_page, name="desk_sitting")
    app.router.add_post(f"{base}/drafts", add_drafts)
    app.router.add_post(f"{base}/items/{{item}}/versions", revise)
    app.router.add_post(f"{base}/items/{{item}}/withdraw", withdraw)
    app.router.add_post(f"{base}/order", reorder)
