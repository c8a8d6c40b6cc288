"""The JSON API: submit an appeal, read its status, send a follow-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from web.appeals import models
from web.appeals.common import (
    APPEALS,
    TOO_LARGE,
    WRONG_TYPE,
    _Bad,
    _find,
    _follow_up,
    _iso,
    _lang,
    _limited,
    _limits_args,
    _read,
    _refused_follow_up,
    _register,
)
from web.appeals.input import (
    TooLarge,
    WrongType,
    check_appeal,
)
from web.appeals.tokens import (
    IDEMPOTENCY_KEY,
    KEY_RE,
    _once,
)
from web.errors import json_error
from web.pages import ROSTER
from web.security import client_address

# -- JSON API --------------------------------------------------------------------------------

async def _api_read(request: web.Request, cfg: Any,
                    before_body: Callable[[], Awaitable[web.Response | None]] | None = None) -> Any:
    """The rate limit, then the body (JSON or multipart) as a submission, or the JSON error
    (429, 413, 415, 400) to answer with; nothing is stored before this passes. `before_body`
    may refuse (its answer is returned) before the body is read."""
    wait = _limited(cfg, request)
    if wait:
        resp = json_error(429, "KB_RATE_LIMITED", "Too many requests from this address",
                          retry_after=round(wait, 1))
        resp.headers["Retry-After"] = cfg.limiter.retry_after(wait)
        return resp
    if before_body is not None and (refused := await before_body()) is not None:
        return refused
    try:
        return await _read(request, cfg)
    except TooLarge:
        return json_error(413, "KB_TOO_LARGE", TOO_LARGE, params=_limits_args(cfg))
    except WrongType:
        return json_error(415, "KB_UNSUPPORTED_MEDIA_TYPE", WRONG_TYPE)
    except _Bad:
        return json_error(400, "KB_BAD_REQUEST", "Send JSON or multipart/form-data")


async def api_submit(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None and not KEY_RE.fullmatch(key):
        return json_error(400, "KB_BAD_IDEMPOTENCY_KEY",
                          "Idempotency-Key must be 1 to 255 visible ASCII characters")
    sub = await _api_read(request, cfg)
    if isinstance(sub, web.Response):
        return sub
    checked = check_appeal(sub.fields, request.app[ROSTER])
    if checked.errors:
        if checked.anonymous:
            return json_error(422, "KB_APPEAL_ANONYMOUS", "Anonymous appeals are not considered "
                              "(art. 8 of the Law of Ukraine \"On citizens' appeals\")",
                              fields=checked.errors)
        return json_error(422, "KB_INVALID_APPEAL", "Some fields are invalid", fields=checked.errors)
    # Scoped by the client: two clients that happen to pick one key never meet.
    once = (await _once(cfg, f"api:{client_address(request)}:{key}", checked, sub)
            if key is not None else None)
    # A key reused for another request: appeals.KeyReused, a 422 from web.errors' table.
    appeal, token, replayed = await _register(cfg, checked, sub, _lang(request), once)
    created = models.AppealCreated(number=appeal.number, token=token,
                                   status_url=cfg.ctx.status_url(token),
                                   deadline=appeal.deadline.isoformat())
    return web.json_response(created.model_dump(mode="json"), status=201,
                             headers={"Idempotent-Replayed": "true"} if replayed else None)


async def api_status(request: web.Request) -> web.Response:
    found = await _find(request)
    if found is None:
        return json_error(404, "KB_NOT_FOUND", "No appeal with this token")
    appeal, events, files, _ = found
    token = request.match_info["token"]
    cfg = request.app[APPEALS]
    base = f"{cfg.ctx.base_url}/appeals/{token}/files"
    answer = None
    if appeal.answer_text:
        answer = models.Answer(
            text=appeal.answer_text, answered_at=_iso(cfg, appeal.answered_at),
            attachments=[models.AnswerFile(name=f.name, mimetype=f.mimetype, size=f.size,
                                           url=f"{base}/{f.id}")
                         for f in files if f.origin == "answer"])
    status = models.AppealStatus(
        number=appeal.number, status=appeal.status,
        registered_at=_iso(cfg, appeal.registered_at), deadline=appeal.deadline.isoformat(),
        history=[models.HistoryEntry(kind=e.kind, status=e.status, at=_iso(cfg, e.at), note=e.note)
                 for e in events], answer=answer)
    return web.json_response(status.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


def _follow_up_error(status: int, message: str) -> web.Response:
    code = {404: "KB_NOT_FOUND", 409: "KB_APPEAL_CLOSED"}.get(status, "KB_INVALID_MESSAGE")
    return json_error(status, code, message,
                      **({"fields": {"text": message}} if status == 422 else {}))


async def api_follow_up(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    token = request.match_info["token"]

    async def appeal_open() -> web.Response | None:
        refused = await _refused_follow_up(cfg, token)
        return _follow_up_error(*refused) if refused is not None else None

    sub = await _api_read(request, cfg, before_body=appeal_open)
    if isinstance(sub, web.Response):
        return sub
    result = await _follow_up(cfg, token, sub)
    if result is not None:
        return _follow_up_error(*result)
    return web.json_response({"ok": True}, status=201)
