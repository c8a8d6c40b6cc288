"""/healthz: each dependency pinged; 200 only when all answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Check = Callable[[], Awaitable[bool]]
CHECKS: web.AppKey[dict[str, Check]] = web.AppKey("health_checks", dict)


async def _run(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), 5)
    except Exception:
        return False


async def healthz(request: web.Request) -> web.Response:
    checks = request.app[CHECKS]
    results = await asyncio.gather(*(_run(c) for c in checks.values()))
    body = {name: "ok" if ok else "failing" for name, ok in zip(checks, results, strict=True)}
    return web.json_response(body, status=200 if all(results) else 503)
