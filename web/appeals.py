"""Citizens' appeals on the web: the form, the status page and the JSON API.

An appeal is committed to the store (with its room messages and receipt mail queued in the
same transaction) before the citizen gets an answer; the homeserver is never waited for, so
intake keeps working while it is down. Personal data is never echoed in errors or logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from council import appeals
from council.blobs import BlobStore
from council.store import Store
from web import openapi
from web.app import ROSTER, render
from web.appeal_api_doc import PATHS, SCHEMAS
from web.appeal_input import (
    N_,
    Checked,
    Limits,
    Submission,
    TooLarge,
    WrongType,
    check_appeal,
    read_multipart,
)
from web.errors import json_error
from web.ratelimit import RateLimiter

CSRF_COOKIE = "kb_csrf"
TOO_LARGE = N_("The attachments are too large or too many: at most {n} files, {mb} MB each.")
TOO_MANY = N_("Too many submissions from your address. Please try again later.")
EXPIRED = N_("The form has expired or did not come from this site. Please open it again and resend.")
WRONG_TYPE = N_("Attachments must be PDF, JPEG, PNG or DOCX files.")


@dataclass
class AppealsWeb:
    store: Store
    blobs: BlobStore
    ctx: appeals.Context
    session_secret: str
    limits: Limits
    limiter: RateLimiter
    on_registered: Callable[[], None] = lambda: None
    # SQLite has one writer: queueing registrations here is cheaper than letting them meet
    # SQLite's busy handler, whose sleeps made the tail latency (PostgreSQL needs no lock).
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


APPEALS: web.AppKey[AppealsWeb] = web.AppKey("appeals", AppealsWeb)


def setup(app: web.Application, cfg: AppealsWeb) -> None:
    app[APPEALS] = cfg
    r = app.router
    r.add_get("/appeals/new", new_form, name="appeal_new")
    r.add_post("/appeals/new", submit_form)
    r.add_get("/appeals/{token}", status_page, name="appeal_status")
    r.add_post("/appeals/{token}/messages", follow_up_form)
    r.add_get("/appeals/{token}/files/{file_id:\\d+}", download)
    r.add_post("/api/v1/appeals", api_submit)
    r.add_get("/api/v1/appeals/{token}", api_status)
    r.add_post("/api/v1/appeals/{token}/messages", api_follow_up)
    openapi.register(app, PATHS, SCHEMAS)


# -- CSRF: a double-submit token signed with the installation's session secret ---------------

def _sign(cfg: AppealsWeb, nonce: str) -> str:
    mac = hmac.new(cfg.session_secret.encode(), f"csrf:{nonce}".encode(), hashlib.sha256)
    return f"{nonce}.{mac.hexdigest()[:32]}"


def _csrf_ok(cfg: AppealsWeb, request: web.Request, submitted: Any) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not isinstance(submitted, str) or not cookie or "." not in cookie:
        return False
    nonce = cookie.split(".", 1)[0]
    return hmac.compare_digest(cookie, submitted) and hmac.compare_digest(cookie, _sign(cfg, nonce))


def _with_csrf(request: web.Request, response: web.Response, token: str) -> web.Response:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/appeals")
    return response


def _csrf_token(cfg: AppealsWeb, request: web.Request) -> str:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if cookie and "." in cookie and hmac.compare_digest(cookie, _sign(cfg, cookie.split(".")[0])):
        return cookie
    return _sign(cfg, secrets.token_urlsafe(16))


# -- shared ----------------------------------------------------------------------------------

def _limited(cfg: AppealsWeb, request: web.Request) -> float:
    return cfg.limiter.check(request.remote or "unknown")


async def _store_files(cfg: AppealsWeb, sub: Submission) -> tuple[appeals.StoredFile, ...]:
    out = []
    for f in sub.files:
        sha = await asyncio.to_thread(cfg.blobs.put, f.data)
        out.append(appeals.StoredFile(sha, f.name, f.mimetype, len(f.data)))
    return tuple(out)


async def _register(cfg: AppealsWeb, checked: Checked, sub: Submission, lang: str
                    ) -> tuple[appeals.Appeal, str]:
    files = await _store_files(cfg, sub)
    v = checked.values
    new = appeals.NewAppeal(
        name=v["name"], residence=v["residence"], subject=v["subject"], text=v["text"],
        email=v["email"], phone=v["phone"], addressee_kind=v["addressee_kind"],
        addressee_deputy=v["addressee_deputy"], addressee_district=v["addressee_district"],
        candidates=v["candidates"], type=v["type"], lang=lang, attachments=files)
    async with _writing(cfg), cfg.store.session() as s:
        appeal, token = await appeals.register(s, cfg.ctx, new)
    assert token is not None
    cfg.on_registered()
    return appeal, token


@asynccontextmanager
async def _writing(cfg: AppealsWeb) -> AsyncIterator[None]:
    if cfg.store.is_sqlite:
        async with cfg.write_lock:
            yield
    else:
        yield


async def _read(request: web.Request, cfg: AppealsWeb) -> Submission:
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise _Bad() from None
        if not isinstance(data, dict):
            raise _Bad()
        return Submission(fields=data)
    if request.content_type.startswith("multipart/"):
        return await read_multipart(request, cfg.limits)
    if request.content_type == "application/x-www-form-urlencoded":
        return Submission(fields=dict(await request.post()))
    raise _Bad()


class _Bad(Exception):  # a body that is not JSON nor a form
    pass


def _limits_args(cfg: AppealsWeb) -> dict[str, int]:
    return {"n": cfg.limits.max_attachments, "mb": cfg.limits.max_attachment_bytes // (1024 * 1024)}


def _limits_message(cfg: AppealsWeb) -> str:
    return TOO_LARGE.format(**_limits_args(cfg))


# -- HTML ------------------------------------------------------------------------------------

def _form_context(request: web.Request, values: dict[str, Any], errors: dict[str, str],
                  message: str | None = None) -> dict[str, Any]:
    roster = request.app[ROSTER]
    districts = sorted({d.district for d in roster.deputies if d.district})
    return {"values": values, "errors": errors, "message": message, "args": {},
            "deputies": roster.deputies,
            "districts": districts, "limits": request.app[APPEALS].limits}


async def new_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    token = _csrf_token(cfg, request)
    ctx = _form_context(request, {}, {})
    return _with_csrf(request, render(request, "appeal_new.html", {**ctx, "csrf": token}), token)


async def submit_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    wait = _limited(cfg, request)
    if wait:
        resp = render(request, "appeal_error.html", {"message": TOO_MANY}, status=429)
        resp.headers["Retry-After"] = cfg.limiter.retry_after(wait)
        return resp
    token = _csrf_token(cfg, request)
    try:
        sub = await read_multipart(request, cfg.limits) if request.content_type.startswith(
            "multipart/") else Submission(fields=dict(await request.post()))
    except TooLarge:
        return _form_error(request, token, {}, TOO_LARGE, 413, args=_limits_args(cfg))
    except WrongType:
        return _form_error(request, token, {}, WRONG_TYPE, 415)
    if not _csrf_ok(cfg, request, sub.fields.get("csrf")):
        return render(request, "appeal_error.html", {"message": EXPIRED}, status=403)
    values = {k: v for k, v in sub.fields.items() if k not in ("csrf", "website")}
    if sub.fields.get("website"):  # the honeypot: people do not see this field
        return _form_error(request, token, values, N_("The form could not be accepted."), 400)
    checked = check_appeal(sub.fields, request.app[ROSTER])
    if checked.errors:
        message = (N_("Anonymous appeals are not considered.") if checked.anonymous
                   else N_("Please correct the marked fields."))
        return _form_error(request, token, values, message, 422, checked.errors)
    _, appeal_token = await _register(cfg, checked, sub, _lang(request))
    raise web.HTTPSeeOther(f"/appeals/{appeal_token}?new=1")


def _form_error(request: web.Request, token: str, values: dict[str, Any], message: str,
                status: int, errors: dict[str, str] | None = None,
                args: dict[str, int] | None = None) -> web.Response:
    ctx = {**_form_context(request, values, errors or {}, message), "csrf": token,
           "args": args or {}}
    return _with_csrf(request, render(request, "appeal_new.html", ctx, status=status), token)


def _lang(request: web.Request) -> str:
    from web.i18n import request_locale

    return request_locale(request)


async def _find(request: web.Request) -> tuple[appeals.Appeal, list, list, list] | None:
    cfg = request.app[APPEALS]
    async with cfg.store.session() as s:
        appeal = await appeals.by_token(s, request.match_info["token"])
        if appeal is None:
            return None
        return (appeal, await appeals.history(s, appeal.id), await appeals.attachments(s, appeal.id),
                await appeals.messages(s, appeal.id))


async def status_page(request: web.Request) -> web.Response:
    found = await _find(request)
    if found is None:
        raise web.HTTPNotFound()
    appeal, events, files, _ = found
    cfg = request.app[APPEALS]
    token = _csrf_token(cfg, request)
    ctx = {"appeal": appeal, "events": events, "token": request.match_info["token"],
           "answer_files": [f for f in files if f.origin == "answer"],
           "my_files": [f for f in files if f.origin == "citizen"],
           "new": request.query.get("new") == "1", "csrf": token,
           "sent": request.query.get("sent") == "1", "message": None}
    resp = render(request, "appeal_status.html", ctx)
    resp.headers["Cache-Control"] = "no-store"
    return _with_csrf(request, resp, token)


async def follow_up_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    wait = _limited(cfg, request)
    if wait:
        raise web.HTTPTooManyRequests(headers={"Retry-After": cfg.limiter.retry_after(wait)})
    try:
        sub = await _read(request, cfg)
    except (TooLarge, WrongType, _Bad) as exc:
        status = 413 if isinstance(exc, TooLarge) else 415 if isinstance(exc, WrongType) else 400
        message = TOO_LARGE if status == 413 else WRONG_TYPE if status == 415 else EXPIRED
        return render(request, "appeal_error.html", {"message": message,
                                                     "args": _limits_args(cfg)}, status=status)
    if not _csrf_ok(cfg, request, sub.fields.get("csrf")):
        return render(request, "appeal_error.html", {"message": EXPIRED}, status=403)
    token = request.match_info["token"]
    result = await _follow_up(cfg, token, sub)
    if result is not None:
        return render(request, "appeal_error.html", {"message": result[1]}, status=result[0])
    raise web.HTTPSeeOther(f"/appeals/{token}?sent=1")


async def _follow_up(cfg: AppealsWeb, token: str, sub: Submission) -> tuple[int, str] | None:
    text = sub.fields.get("text")
    text = text.strip() if isinstance(text, str) else ""
    if not text and not sub.files:
        return 422, N_("Write a message or attach a file.")
    if len(text) > 20000:
        return 422, N_("Required, 5 to 20000 characters.")
    files = await _store_files(cfg, sub)
    async with _writing(cfg), cfg.store.session() as s:
        appeal = await appeals.by_token(s, token)
        if appeal is None:
            return 404, N_("No appeal with this link.")
        if appeal.status == "closed":
            return 409, N_("The appeal is closed.")
        await appeals.follow_up(s, cfg.ctx, appeal, text, files)
    cfg.on_registered()
    return None


async def download(request: web.Request) -> web.StreamResponse:
    found = await _find(request)
    if found is None:
        raise web.HTTPNotFound()
    wanted = int(request.match_info["file_id"])
    f = next((a for a in found[2] if a.id == wanted), None)
    if f is None:
        raise web.HTTPNotFound()
    data = await asyncio.to_thread(request.app[APPEALS].blobs.read, f.sha256)
    return web.Response(body=data, content_type=f.mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(f.name)}",
        "Cache-Control": "private, no-store"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# -- JSON API --------------------------------------------------------------------------------

async def _api_read(request: web.Request, cfg: Any) -> Any:
    """The rate limit, then the body (JSON or multipart) as a submission, or the JSON error
    (429, 413, 415, 400) to answer with; nothing is stored before this passes."""
    wait = _limited(cfg, request)
    if wait:
        resp = json_error(429, "KB_RATE_LIMITED", "Too many requests from this address",
                          retry_after=round(wait, 1))
        resp.headers["Retry-After"] = cfg.limiter.retry_after(wait)
        return resp
    try:
        return await _read(request, cfg)
    except TooLarge:
        return json_error(413, "KB_TOO_LARGE", _limits_message(cfg))
    except WrongType:
        return json_error(415, "KB_UNSUPPORTED_MEDIA_TYPE", WRONG_TYPE)
    except _Bad:
        return json_error(400, "KB_BAD_REQUEST", "Send JSON or multipart/form-data")


async def api_submit(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
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
    appeal, token = await _register(cfg, checked, sub, _lang(request))
    return web.json_response({
        "number": appeal.number, "token": token, "status_url": cfg.ctx.status_url(token),
        "deadline": appeal.deadline.isoformat()}, status=201)


async def api_status(request: web.Request) -> web.Response:
    found = await _find(request)
    if found is None:
        return json_error(404, "KB_NOT_FOUND", "No appeal with this token")
    appeal, events, files, _ = found
    token = request.match_info["token"]
    base = f"{request.app[APPEALS].ctx.base_url}/appeals/{token}/files"
    answer = None
    if appeal.answer_text:
        answer = {"text": appeal.answer_text,
                  "answered_at": appeal.answered_at.isoformat() if appeal.answered_at else None,
                  "attachments": [{"name": f.name, "mimetype": f.mimetype, "size": f.size,
                                   "url": f"{base}/{f.id}"} for f in files if f.origin == "answer"]}
    return web.json_response({
        "number": appeal.number, "status": appeal.status,
        "registered_at": appeal.registered_at.isoformat(), "deadline": appeal.deadline.isoformat(),
        "history": [{"kind": e.kind, "status": e.status, "at": e.at.isoformat(), "note": e.note}
                    for e in events],
        "answer": answer}, headers={"Cache-Control": "no-store"})


async def api_follow_up(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    sub = await _api_read(request, cfg)
    if isinstance(sub, web.Response):
        return sub
    result = await _follow_up(cfg, request.match_info["token"], sub)
    if result is not None:
        code = {404: "KB_NOT_FOUND", 409: "KB_APPEAL_CLOSED"}.get(result[0], "KB_INVALID_MESSAGE")
        return json_error(result[0], code, result[1], **({"fields": {"text": result[1]}}
                                                        if result[0] == 422 else {}))
    return web.json_response({"ok": True}, status=201)
