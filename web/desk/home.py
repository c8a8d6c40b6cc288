"""The desk's front page: the sittings (upcoming first) with their law warnings, a form to
create one, and the way to the appeals, the log and the paper report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from council import sittings as domain
from council.accounts import audit
from council.models import utcnow
from council.sittings.agenda import sitting_heading, when
from web.desk.agenda import REFUSALS, desk_url
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

RECENT = timedelta(hours=3)  # a sitting under way still counts as upcoming
KINDS = (("plenary", "Plenary session"), ("commission", "Commission sitting"),
         ("executive", "Executive committee"))
FIELDS = ("kind", "body", "number", "title", "date", "time", "place")


async def _context(deps: Deps) -> dict[str, Any]:
    ctx = deps.sittings()
    async with deps.store.session() as s:
        every = await domain.list_sittings(s)
    since = utcnow() - RECENT
    rows = [(x, sitting_heading(x.kind, x.title, x.number), when(x.starts_at, ctx.tz),
             domain.sitting_warnings(ctx, x)) for x in every]
    return {"upcoming": [r for r in rows if domain.local_day(r[0].starts_at, ctx.tz)
                         >= domain.local_day(since, ctx.tz)],
            "past": [r for r in reversed(rows) if domain.local_day(r[0].starts_at, ctx.tz)
                     < domain.local_day(since, ctx.tz)][:20],
            "kinds": KINDS, "commissions": [(c.id, c.name) for c in ctx.roster.commissions]}


async def _show(request: web.Request, status: int = 200, error: str | None = None,
                values: dict[str, str] | None = None) -> web.Response:
    context = await _context(request.app[DEPS])
    return render_desk(request, "desk.html", {**context, "error": error,
                                              "values": values or {}}, status=status)


@staff_page
async def desk_home(request: web.Request) -> web.Response:
    return await _show(request)


def _spec(values: dict[str, str], tz: Any) -> domain.NewSitting:
    try:
        starts = datetime.fromisoformat(f"{values['date']}T{values['time'] or '10:00'}")
    except ValueError:
        raise Refused(422, N_("Date and time: YYYY-MM-DD and HH:MM")) from None
    if not 1990 <= starts.year <= 2100:  # as the API: and no date arithmetic overflows
        raise Refused(422, N_("The year must be {first} to {last}"), first=1990, last=2100)
    return domain.NewSitting.model_validate({
        "kind": values["kind"], "body": values["body"] or None,
        "number": values["number"] or None, "title": values["title"],
        "starts_at": starts.replace(tzinfo=tz), "place": values["place"]})


@staff_page
async def create(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    ctx = deps.sittings()
    form = await posted(request)
    if form is None:
        return forbidden(request)
    values = {k: text(form, k, 500) for k in FIELDS}
    if values["kind"] != "commission":
        values["body"] = ""  # the commission list only counts for a commission sitting
    try:
        spec = _spec(values, ctx.tz)
        async with deps.store.session() as s:
            sitting, _ = await domain.create_sitting(s, ctx, spec)
            await record(s, request, "sitting.create", audit.subject("sitting", sitting.id),
                         {"kind": sitting.kind, "body": sitting.body})
            sid = sitting.id
    except REFUSALS as exc:
        status, message = refusal(request, exc)
        return await _show(request, status, message, values)
    deps.on_sittings_change()
    raise see_other(desk_url(sid), "created")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/desk", desk_home, name="desk")
    app.router.add_post("/desk/sittings", create)
