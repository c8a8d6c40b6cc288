"""The desk's reports: the log of who did what and when (council.accounts.audit), and the paper
saved per sitting and in total (council.sittings.paper; `kabinet report paper` prints the same)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from council import sittings as domain
from council.accounts import audit
from council.sittings.agenda import sitting_heading, when
from council.sittings.paper import Paper
from web.desk.common import DEPS, local, render_desk, staff_page

LOG_ROWS = 200


def _detail(detail: dict[str, Any]) -> str:
    return " · ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                      for k, v in detail.items() if k != "via")


@staff_page
async def log_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.sittings()
    people = {mxid: p.name for mxid, p in ctx.roster.people_by_mxid(
        deps.votes().server_name).items()}
    subject = request.query.get("subject") or None
    async with deps.store.session() as s:
        entries = await audit.recent(s, LOG_ROWS, subject=subject[:255] if subject else None)
    rows = [(local(e.at, ctx.tz), people.get(e.actor, e.actor), e.actor, e.action, e.subject,
             _detail(e.detail or {}), (e.detail or {}).get("via", "")) for e in entries]
    return render_desk(request, "desk_log.html", {"rows": rows, "subject": subject})


@staff_page
async def paper_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.sittings()
    rows: list[tuple[domain.Sitting, str, str, Paper]] = []
    async with deps.store.session() as s:
        for x in await domain.list_sittings(s):
            paper = (await domain.view(s, ctx, x.id)).paper
            rows.append((x, sitting_heading(x.kind, x.title, x.number),
                         when(x.starts_at, ctx.tz)[:10], paper))
    total = Paper(0, 0, 0, 0)
    for *_, p in rows:
        total = total + p
    return render_desk(request, "desk_paper.html", {"rows": rows, "total": total})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/desk/log", log_page, name="desk_log")
    app.router.add_get("/desk/paper", paper_page, name="desk_paper")
