"""Open data: the motions and the individual votes as CSV, per sitting and for the whole
convocation, in the columns the domain names (MOTION_COLUMNS, VOTER_COLUMNS).

UTF-8 without a byte-order mark (a BOM breaks the header's first column name for most parsers),
RFC 4180 line ends, a header row, and an attachment name that says what the file is."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from council import sittings
from council import votes as domain
from web.pages import sitting_id
from web.votes.common import DEPS


def to_csv(columns: Sequence[str], rows: Iterable[Any]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if (v := getattr(row, c)) is None else v for c in columns])
    return buf.getvalue().encode("utf-8")


def csv_answer(body: bytes, filename: str) -> web.Response:
    return web.Response(body=body, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-cache"})  # a vote may close any minute


async def _rows(request: web.Request, sid: int | None) -> tuple[list[Any], list[Any]]:
    deps = request.app[DEPS]
    async with deps.store.session() as s:
        if sid is not None:
            await sittings.get_sitting(s, sid)  # unknown: 404 (web.errors)
        return await domain.open_data(s, deps.context(), sid)


async def sitting_motions(request: web.Request) -> web.Response:
    sid = sitting_id(request)
    motions, _ = await _rows(request, sid)
    return csv_answer(to_csv(domain.MOTION_COLUMNS, motions), f"sitting-{sid}-motions.csv")


async def sitting_voters(request: web.Request) -> web.Response:
    sid = sitting_id(request)
    _, voters = await _rows(request, sid)
    return csv_answer(to_csv(domain.VOTER_COLUMNS, voters), f"sitting-{sid}-votes.csv")


async def all_motions(request: web.Request) -> web.Response:
    motions, _ = await _rows(request, None)
    return csv_answer(to_csv(domain.MOTION_COLUMNS, motions), "motions.csv")


async def all_voters(request: web.Request) -> web.Response:
    _, voters = await _rows(request, None)
    return csv_answer(to_csv(domain.VOTER_COLUMNS, voters), "votes.csv")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sittings/{id}/motions.csv", sitting_motions)
    app.router.add_get("/sittings/{id}/votes.csv", sitting_voters)
    app.router.add_get("/open-data/motions.csv", all_motions)
    app.router.add_get("/open-data/votes.csv", all_voters)
