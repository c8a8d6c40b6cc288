"""Citizens' appeals on the web: the form, the status page and the JSON API.

An appeal is committed to the store (with its room messages and receipt mail queued in the
same transaction) before the citizen gets an answer; the homeserver is never waited for, so
intake keeps working while it is down. Personal data is never echoed in errors or logs.

A citizen cut off mid-submission may simply send again: the API honours an `Idempotency-Key`
(scoped by the client's address) and the form carries a one-time, signed form token; the same
key with the same request answers the appeal it registered, for 24 hours. Dates and times are
shown in the council's time zone; API times carry their offset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from web import openapi
from web.appeals.api import api_follow_up, api_status, api_submit
from web.appeals.api_doc import PATHS, REQUESTS, RESPONSES
from web.appeals.common import (
    ALREADY_SENT,
    APPEALS,
    CLOSED,
    EXPIRED,
    NO_APPEAL,
    TOO_LARGE,
    TOO_MANY,
    WRONG_TYPE,
    AppealsWeb,
)
from web.appeals.input import Limits
from web.appeals.pages import download, follow_up_form, new_form, status_page, submit_form
from web.appeals.tokens import CSRF_COOKIE, FORM_TOKEN, IDEMPOTENCY_KEY, KEY_RE

__all__ = [
    "ALREADY_SENT", "APPEALS", "CLOSED", "CSRF_COOKIE", "EXPIRED", "FORM_TOKEN", "IDEMPOTENCY_KEY",
    "KEY_RE", "NO_APPEAL", "TOO_LARGE", "TOO_MANY", "WRONG_TYPE", "AppealsWeb", "Limits", "api_follow_up",
    "api_status", "api_submit", "download", "follow_up_form", "new_form", "setup", "status_page",
    "submit_form",
]


def setup(app: web.Application, cfg: AppealsWeb) -> None:
    app[APPEALS] = cfg

    async def intake(_: web.Application) -> AsyncIterator[None]:
        """Registrations' group commit: after the store opens, till the last handler is done."""
        await cfg.intake.start()
        yield
        await cfg.intake.stop()

    app.cleanup_ctx.append(intake)
    r = app.router
    r.add_get("/appeals/new", new_form, name="appeal_new")
    r.add_post("/appeals/new", submit_form)
    r.add_get("/appeals/{token}", status_page, name="appeal_status")
    r.add_post("/appeals/{token}/messages", follow_up_form)
    r.add_get("/appeals/{token}/files/{file_id:\\d+}", download)
    r.add_post("/api/v1/appeals", api_submit)
    r.add_get("/api/v1/appeals/{token}", api_status)
    r.add_post("/api/v1/appeals/{token}/messages", api_follow_up)
    openapi.register(app, PATHS, openapi.schemas(REQUESTS, RESPONSES))
