"""/healthz (liveness) and /readyz (readiness).

/healthz: each dependency pinged; 200 only when all answer. Reports (e.g. the appservice's
failed events) are figures shown beside the checks; they do not turn the answer into a 503: one
parked event is a thing to look at, not an outage. It also says `ready` (below), without
waiting for it: a Kabinet still applying its roster is alive.

/readyz: 503 `{"ready": false, "waiting_for": [...]}` until every step of the start the
installation named (the roster applied; with the demo, its data and rooms) is done, then 200
`{"ready": true}`. A site that names no step has nothing to wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from web import openapi

Check = Callable[[], Awaitable[bool]]
Report = Callable[[], Awaitable[dict[str, Any]]]
CHECKS: web.AppKey[dict[str, Check]] = web.AppKey("health_checks", dict)
REPORTS: web.AppKey[dict[str, Report]] = web.AppKey("health_reports", dict)


class Readiness:
    """The steps of a start that must be done before the site is ready, by name; once all are
    done it stays ready (a roster applied again later does not make it unready)."""

    def __init__(self, *steps: str) -> None:
        self._waiting = list(dict.fromkeys(steps))
        self._ready = asyncio.Event()
        if not self._waiting:
            self._ready.set()

    def expect(self, step: str) -> None:
        """One more step to wait for (before the start begins)."""
        if step not in self._waiting:
            self._waiting.append(step)
            self._ready.clear()

    def done(self, step: str) -> None:
        if step in self._waiting:
            self._waiting.remove(step)
        if not self._waiting:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return not self._waiting

    @property
    def waiting_for(self) -> list[str]:
        return list(self._waiting)

    async def wait(self) -> None:
        await self._ready.wait()


READINESS: web.AppKey[Readiness] = web.AppKey("readiness", Readiness)


async def _run(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), 5)
    except Exception:
        return False


async def healthz(request: web.Request) -> web.Response:
    checks = request.app[CHECKS]
    results = await asyncio.gather(*(_run(c) for c in checks.values()))
    body: dict[str, Any] = {name: "ok" if ok else "failing"
                            for name, ok in zip(checks, results, strict=True)}
    for name, report in request.app.get(REPORTS, {}).items():
        try:
            body[name] = await asyncio.wait_for(report(), 5)
        except Exception:
            body[name] = "unknown"
    body["ready"] = request.app[READINESS].ready
    return web.json_response(body, status=200 if all(results) else 503)


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.ready:
        return web.json_response({"ready": True})
    return web.json_response({"ready": False, "waiting_for": readiness.waiting_for}, status=503)


def setup(app: web.Application, checks: dict[str, Check]) -> None:
    """Both routes and their OpenAPI paths. The installation replaces the app's READINESS with
    its own (kabinet/installation.py); this one names no step."""
    app[CHECKS] = checks
    app[READINESS] = Readiness()
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    health = {"content": {"application/json": {"schema": {  # each check "ok" or "failing"
        "type": "object", "properties": {"ready": {"type": "boolean"}},
        "additionalProperties": True}}}}
    ready = {"content": {"application/json": {"schema": {
        "type": "object", "required": ["ready"], "additionalProperties": False,
        "properties": {"ready": {"type": "boolean"},
                       "waiting_for": {"type": "array", "items": {"type": "string"}}}}}}}
    openapi.register(app, {
        "/healthz": {"get": {
            "operationId": "healthz",
            "summary": "Health of the database, the homeserver and the appservice; whether the "
                       "start is done (`ready`)",
            "responses": {"200": {**health, "description": "All checks ok"},
                          "503": {**health, "description": "Something is failing"}},
        }},
        "/readyz": {"get": {
            "operationId": "readyz",
            "summary": "Whether the start is done: the roster applied (and the demo in place)",
            "responses": {"200": {**ready, "description": "Ready"},
                          "503": {**ready, "description": "Still starting: what it waits for"}},
        }},
    })
