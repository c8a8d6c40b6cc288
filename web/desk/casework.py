"""Citizens' appeals at the desk: every open one with its deadline (overdue first), who answers
it, whether it is answered and how the last e-mail to the citizen fared; hand one to another
deputy, or extend its term with a reason (art. 20: 45 days at most). No contact data is shown
here or written to the audit log: the appeal's room holds those."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy import select

from council import appeals
from council.accounts import audit
from council.law import deadlines
from council.outbox.mail import MailJob
from web.accounts.common import viewer_of
from web.desk.common import (
    DEPS,
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
from web.pages import path_id

URL = "/desk/appeals"
EXTEND_MAX = 30  # days one extension may add (the law's 45-day cap is checked by the domain)


@dataclass(frozen=True)
class Row:
    appeal: appeals.Appeal
    responsible: str  # the deputy's name, or "" while nobody has it
    days_left: int  # negative: overdue
    mail: str | None  # the last e-mail's state: pending, sent, failed; None: none sent


async def _mail_states(s: Any, ids: list[int]) -> dict[int, str]:
    """The latest mail job's status per appeal (keys are `appeal:<id>:...`)."""
    states: dict[int, str] = {}
    if not ids:
        return states
    rows = await s.execute(select(MailJob.key, MailJob.status).where(
        MailJob.key.like("appeal:%")).order_by(MailJob.id))
    wanted = set(ids)
    for key, status in rows:
        parts = key.split(":")
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) in wanted:
            states[int(parts[1])] = status
    return states


async def _context(request: web.Request) -> dict[str, Any]:
    deps = request.app[DEPS]
    roster = deps.roster()
    names = {d.id: d.name for d in roster.deputies}
    today: date = deadlines.local_today(deps.appeals.tz)
    async with deps.store.session() as s:
        open_ = [a for a in await appeals.listing(s) if a.status in appeals.OPEN]
        overdue = {a.id for a in await appeals.overdue(s, today)}
        mail = await _mail_states(s, [a.id for a in open_])
    open_.sort(key=lambda a: (a.deadline, a.id))
    rows = [Row(a, names.get(a.responsible or "", a.responsible or ""),
                (a.deadline - today).days, mail.get(a.id)) for a in open_]
    return {"rows": rows, "overdue": [r for r in rows if r.appeal.id in overdue],
            "deputies": sorted(names.items(), key=lambda kv: kv[1]), "today": today,
            "extend_max": EXTEND_MAX, "mail_configured": deps.appeals.mail_configured}


async def _show(request: web.Request, status: int = 200, error: str | None = None
                ) -> web.Response:
    return render_desk(request, "desk_appeals.html", {**await _context(request), "error": error},
                       status=status)


@staff_page
async def appeals_page(request: web.Request) -> web.Response:
    return await _show(request)


async def _appeal(s: Any, request: web.Request) -> appeals.Appeal:
    appeal = await appeals.by_id(s, path_id(request.match_info["id"]), lock=True)
    if appeal is None:
        raise web.HTTPNotFound()
    return appeal


@staff_page
async def transfer(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    form = await posted(request)
    if form is None:
        return forbidden(request)
    deputy = text(form, "deputy", 64)
    try:
        if deputy not in {d.id for d in deps.roster().deputies}:
            raise Refused(422, N_("Choose a deputy from the list"))
        async with deps.store.session() as s:
            appeal = await _appeal(s, request)
            await appeals.transfer(s, appeal, deputy, viewer_of(request).mxid)
            await record(s, request, "appeal.transfer", audit.subject("appeal", appeal.id), {"to": deputy})
    except (appeals.AppealError, Refused) as exc:
        status, message = refusal(request, exc)
        return await _show(request, status, message)
    deps.on_appeals_change()
    raise see_other(URL, "transferred")


@staff_page
async def extend(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    form = await posted(request)
    if form is None:
        return forbidden(request)
    days, reason = text(form, "days", 4), text(form, "reason", 500)
    try:
        if not (days.isascii() and days.isdigit() and 1 <= int(days) <= EXTEND_MAX):
            raise Refused(422, N_("Days: 1 to {max}"), max=EXTEND_MAX)
        if len(reason) < 3:
            raise Refused(422, N_("Give the reason for the extension"))
        async with deps.store.session() as s:
            appeal = await _appeal(s, request)
            await appeals.extend(s, deps.appeals, appeal, int(days), reason,
                                 viewer_of(request).mxid)
            # The reason goes to the citizen and the appeal's history, not to the log.
            await record(s, request, "appeal.extend", audit.subject("appeal", appeal.id),
                         {"days": int(days), "deadline": appeal.deadline.isoformat()})
    except (appeals.AppealError, deadlines.DeadlineError, Refused) as exc:
        status, message = refusal(request, exc)
        return await _show(request, status, message)
    deps.on_appeals_change()
    raise see_other(URL, "extended")


def add_routes(app: web.Application) -> None:
    app.router.add_get(URL, appeals_page, name="desk_appeals")
    app.router.add_post(URL + "/{id}/transfer", transfer)
    app.router.add_post(URL + "/{id}/extend", extend)
