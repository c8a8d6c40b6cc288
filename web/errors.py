"""JSON errors from one place, with stable error codes (clients switch on `errcode`)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


def json_error(status: int, errcode: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message, **extra}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """No stack trace ever reaches a user: unexpected errors become a stable 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/") and exc.content_type != "application/json":
            return json_error(exc.status, "KB_HTTP_" + str(exc.status), exc.reason)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/") or request.path == "/healthz":
            return json_error(500, "KB_INTERNAL", "Internal error; it has been logged")
        return web.Response(status=500, content_type="text/html",
                            text="<h1>Внутрішня помилка / Internal error</h1>")
