"""Signing in to the web site: pages (signin), the homeserver's check (matrix), who is signed
in and what a handler requires (common). Wired by kabinet: `accounts.setup(app, accounts.Deps(...))`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.accounts import admin, signin
from web.accounts.common import (
    COOKIE,
    CSRF_HEADER,
    DEPS,
    STAFF_API_ACTOR,
    Deps,
    Viewer,
    api_auth,
    form_ok,
    session_csrf,
    signed_in,
    viewer,
    viewer_of,
)

__all__ = ["COOKIE", "CSRF_HEADER", "DEPS", "STAFF_API_ACTOR", "Deps", "Viewer", "api_auth",
           "form_ok", "session_csrf", "setup", "signed_in", "viewer", "viewer_of"]


@web.middleware
async def known_viewer(request: web.Request, handler: Any) -> web.StreamResponse:
    """Pages say "my cabinet" instead of "sign in" to a signed-in person: look them up once
    when the request carries a session cookie (a visitor's request costs nothing)."""
    if COOKIE in request.cookies and not request.path.startswith(("/static/", "/as/")):
        await viewer(request)
    return await handler(request)


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    app.middlewares.append(known_viewer)
    signin.add_routes(app)
    admin.add_routes(app)
