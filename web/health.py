"""/healthz: each dependency pinged; 200 only when all answer.

Reports (e.g. the appservice's failed events) are figures shown beside the checks; they do
not turn the answer into a 503: one parked event is a thing to look at, not an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Check = Callable[[], Awaitable[bool]]
Report = Callable[[], Awaitable[dict[str, Any]]]
CHECKS: web.AppKey[dict[str, Check]] = web.AppKey("health_checks", dict)
REPORTS: web.AppKey[dict[str, Report]] = web.AppKey("health_reports", dict)


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
    return web.json_response(body, status=200 if all(results) else 503)
