"""The hall view's event stream: /sittings/{id}/live/events (server-sent events).

Each stream waits on the in-process `Changes` signal (or 15 s), re-reads `live(...)` and sends
an event only when what is shown changed; an idle stream gets a comment line every 15 s, which
also finds a client that has gone. A burst of answers (a hall of 120 voting at once) wakes a
stream many times: it re-reads at most twice a second, so viewers cost the store little.
The stream ends when the client goes or the app shuts down (`Deps.stopping`, set on shutdown).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from council import sittings
from council import votes as domain
from council.models import utcnow
from web.pages import sitting_id
from web.votes.common import DEPS, Deps, iso

HEARTBEAT = 15.0  # seconds between comment lines on an idle stream
MIN_INTERVAL = 0.5  # seconds between two reads of one stream: a burst of changes is one read
RETRY_MS = 3000  # how soon EventSource reconnects after the stream ends
MS = "milliseconds"  # what every browser's Date.parse reads (microseconds are not portable)

log = logging.getLogger(__name__)


def payload(view: Any) -> dict[str, Any]:
    """The live state as JSON: what the page shows at load and each event carries."""
    v = view.vote
    vote = None if v is None else {
        "number": v.number, "item_number": v.item_number, "item_title": v.item_title,
        "status": v.status, "counts": {a: int(v.counts.get(a, 0)) for a in domain.ANSWERS},
        "answered": v.answered, "entitled": v.entitled, "threshold": v.threshold,
        "closes_at": iso(v.closes_at, MS), "outcome": v.outcome,
        "outcome_uk": domain.OUTCOME_UK.get(v.outcome or "", ""),
        "outcome_en": domain.OUTCOME_EN.get(v.outcome or "", "")}
    return {"registered": view.registered, "total": view.total, "quorum": view.quorum,
            "has_quorum": view.has_quorum, "vote": vote, "revision": view.revision,
            "now": iso(utcnow(), MS)}


def revision(data: dict[str, Any]) -> str:
    """What decides whether to send: the domain's revision and everything shown (a revision
    blind to some change still sends it), not the server's clock."""
    return json.dumps({k: v for k, v in data.items() if k != "now"}, sort_keys=True)


def event(data: dict[str, Any], number: int) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {number}\nevent: live\ndata: {text}\n\n".encode()


async def _read(deps: Deps, sid: int) -> dict[str, Any]:
    async with deps.store.session() as s:
        return payload(await domain.live(s, deps.context(), sid))


async def _changed(change: asyncio.Future[bool], stopping: asyncio.Event) -> bool:
    """True if the sitting changed; False on the timeout, and at once on shutdown."""
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait([change, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    return change in done and not change.cancelled() and change.result()


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _stream(request: web.Request, response: web.StreamResponse, deps: Deps, sid: int) -> None:
    sent, number, idle = "", 0, False
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    while not deps.stopping.is_set() and not _gone(request):
        # Listen before reading: a change during the read wakes the wait, none falls between.
        change = asyncio.ensure_future(deps.changes.wait(sid, HEARTBEAT))
        await asyncio.sleep(0)
        try:
            data = await _read(deps, sid)  # also after a timeout: a signal another process missed
            if (key := revision(data)) != sent:
                number += 1
                await response.write(event(data, number))
                sent = key
            elif idle:
                await response.write(b": keep-alive\n\n")
            changed = await _changed(change, deps.stopping)
        finally:
            change.cancel()
        idle = not changed
        if changed:
            await asyncio.sleep(MIN_INTERVAL)


async def live_events(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    sid = sitting_id(request)
    async with deps.store.session() as s:
        await sittings.get_sitting(s, sid)  # unknown: a 404 before the stream starts
    response = web.StreamResponse(headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # no proxy buffering
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    await response.prepare(request)
    try:
        await _stream(request, response, deps, sid)
        await response.write_eof()
    except ConnectionResetError:  # the client went (aiohttp's ClientConnectionResetError)
        pass
    except (SQLAlchemyError, OSError) as exc:  # the store is down: end; EventSource comes back
        log.warning("live events of sitting %d ended: %s", sid, type(exc).__name__)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sittings/{id}/live/events", live_events, name="sitting_live_events")
